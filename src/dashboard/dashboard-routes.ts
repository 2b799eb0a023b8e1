import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { textReply, type HttpReply, type HttpRouteHandler } from "../rpc/http-routes.js";
import { DASHBOARD_PAGE } from "./page.js";

/** The package root: the nearest directory above this module with apiary's package.json (works from src/ and from a bundle in dist/). */
function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = path.join(dir, "package.json");
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, "utf8")) as { name?: string }).name === "apiary") return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error("cannot find apiary's package.json above " + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

/**
 * GET / (the page) and /dashboard.js (the bundle built by scripts/build-dashboard.mjs). A missing
 * bundle is built on the first request when esbuild is installed; otherwise the answer says how.
 * Both are static and carry no data: the page reads everything through Watch and ListHives, which
 * need a reader when authentication is on.
 */
export function dashboardRoutes(): Record<string, HttpRouteHandler> {
  const root = packageRoot();
  const bundlePath = path.join(root, "dist", "dashboard", "dashboard.js");
  let building: Promise<void> | undefined;
  let cached: { mtimeMs: number; body: Buffer } | undefined;

  async function bundle(): Promise<HttpReply> {
    if (!existsSync(bundlePath)) {
      building ??= (async () => {
        const script = path.join(root, "scripts", "build-dashboard.mjs");
        const { buildDashboard } = (await import(pathToFileURL(script).href)) as { buildDashboard: () => Promise<string> };
        await buildDashboard();
      })().finally(() => (building = undefined));
      try {
        await building;
      } catch (err) {
        return textReply(503, `the dashboard bundle ${bundlePath} is missing and cannot be built here (${err instanceof Error ? err.message : String(err)}); run: npm run build:dashboard`);
      }
    }
    const mtimeMs = statSync(bundlePath).mtimeMs;
    if (cached?.mtimeMs !== mtimeMs) cached = { mtimeMs, body: readFileSync(bundlePath) };
    return { status: 200, headers: { "content-type": "text/javascript; charset=utf-8" }, body: cached.body };
  }

  return {
    "/": () => ({ status: 200, headers: { "content-type": "text/html; charset=utf-8" }, body: DASHBOARD_PAGE }),
    "/dashboard.js": bundle,
  };
}
