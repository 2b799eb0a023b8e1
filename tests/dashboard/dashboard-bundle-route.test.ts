// An anonymous GET /dashboard.js used to run esbuild in a source checkout when the bundle was
// missing: any caller could make the server build (CPU, disk writes, code from the checkout).
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { dashboardRoutes } from "../../src/dashboard/dashboard-routes.js";
import { allowEveryone, createHttpRoutes } from "../../src/rpc/http-routes.js";
import type { RpcServer } from "../../src/rpc/server.js";
import { startTestServer } from "../rpc/support/start-test-server.js";

let server: RpcServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

function get(port: number, urlPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: "127.0.0.1", port, path: urlPath }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    }).on("error", reject);
  });
}

async function serveDashboard(bundlePath: string): Promise<RpcServer> {
  return startTestServer({ httpRoutes: createHttpRoutes({ routes: dashboardRoutes({ bundlePath }), authorize: allowEveryone }) });
}

describe("GET /dashboard.js", () => {
  it("answers 404 with a build hint when the bundle is missing, and builds nothing", async () => {
    const bundlePath = path.join(mkdtempSync(path.join(tmpdir(), "dashboard-")), "dashboard.js");
    server = await serveDashboard(bundlePath);
    const answer = await get(server.port, "/dashboard.js");
    expect(answer.status).toBe(404);
    expect(answer.body).toContain("npm run build:dashboard");
    expect(existsSync(bundlePath)).toBe(false);
  });

  it("serves the prebuilt bundle", async () => {
    const bundlePath = path.join(mkdtempSync(path.join(tmpdir(), "dashboard-")), "dashboard.js");
    writeFileSync(bundlePath, "console.log('prebuilt');\n");
    server = await serveDashboard(bundlePath);
    const answer = await get(server.port, "/dashboard.js");
    expect(answer.status).toBe(200);
    expect(answer.body).toBe("console.log('prebuilt');\n");
  });
});
