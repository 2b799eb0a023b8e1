import { readFileSync, statSync } from "node:fs";
import { packagePath } from "../common/package-root.js";
import { textReply, type HttpReply, type HttpRouteHandler } from "../rpc/http-routes.js";
import { DASHBOARD_PAGE } from "./page.js";

/**
 * GET / (the page) and /dashboard.js (the bundle built by scripts/build-dashboard.mjs, `npm run
 * build:dashboard`, part of `npm install` in a checkout). A missing bundle is answered 404 with
 * that hint and never built here: an anonymous GET must not start a build (CPU, disk, code run
 * from the checkout) on the server. Both are static and carry no data: the page reads everything
 * through Watch and ListHives, which need a reader when authentication is on.
 */
export function dashboardRoutes(opts: { bundlePath?: string } = {}): Record<string, HttpRouteHandler> {
  const bundlePath = opts.bundlePath ?? packagePath("dist", "dashboard", "dashboard.js");
  let cached: { mtimeMs: number; body: Buffer } | undefined;

  function bundle(): HttpReply {
    let mtimeMs: number;
    try {
      mtimeMs = statSync(bundlePath).mtimeMs;
    } catch {
      return textReply(404, `the dashboard bundle ${bundlePath} is missing; build it with: npm run build:dashboard`);
    }
    if (cached?.mtimeMs !== mtimeMs) cached = { mtimeMs, body: readFileSync(bundlePath) };
    return { status: 200, headers: { "content-type": "text/javascript; charset=utf-8" }, body: cached.body };
  }

  return {
    "/": () => ({ status: 200, headers: { "content-type": "text/html; charset=utf-8" }, body: DASHBOARD_PAGE }),
    "/dashboard.js": bundle,
  };
}
