// The web dashboard, in the browser: Watch over the Connect protocol, resumed after disconnects
// and queen restarts, rendered into three tables. Bundled by scripts/build-dashboard.mjs.
import { create } from "@bufbuild/protobuf";
import { Code, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { QueenService, WatchRequestSchema } from "../../gen/apiary/v1/queen_pb.js";
import { resumingWatch } from "../client/resuming-watch.js";
import { DashboardState } from "./dashboard-state.js";
import { renderGpus, renderHives, renderWorkers } from "./render.js";
import { readViewOptions, writeViewOptions, type ViewOptions } from "./view-options.js";

const TOKEN_KEY = "apiary-token";
const $ = (id: string) => document.getElementById(id)!;

function takeToken(): string {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY) ?? "";
}

const bearer: Interceptor = (next) => (req) => {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) req.header.set("authorization", `Bearer ${token}`);
  return next(req);
};

const client = createClient(QueenService, createConnectTransport({ baseUrl: location.origin, useBinaryFormat: true, interceptors: [bearer] }));
const state = new DashboardState();
let view: ViewOptions = readViewOptions(location.search);
let dirty = true;

function setStatus(kind: "live" | "connecting" | "reconnecting" | "unauthenticated", text: string): void {
  const el = $("status");
  el.dataset.state = kind;
  el.textContent = text;
  $("login").hidden = kind !== "unauthenticated";
}

function render(): void {
  const now = Date.now();
  $("hives").innerHTML = renderHives(state, view, now);
  $("gpus").innerHTML = renderGpus(state, view);
  $("workers").innerHTML = renderWorkers(state, view);
  const meta = $("meta");
  meta.dataset.epoch = state.epoch;
  meta.dataset.revision = String(state.revision);
  meta.dataset.snapshots = String(state.snapshots);
  meta.textContent = state.epoch ? `epoch ${state.epoch.slice(0, 8)} · revision ${state.revision}` : "";
  dirty = false;
}

function setView(next: ViewOptions): void {
  view = next;
  history.replaceState(null, "", location.pathname + writeViewOptions(view));
  dirty = true;
}

function bindControls(): void {
  for (const name of ["model", "hive", "label"] as const) {
    const input = $(`filter-${name}`) as HTMLInputElement;
    input.value = view[name];
    input.addEventListener("input", () => setView({ ...view, [name]: input.value.trim() }));
  }
  $("workers").addEventListener("click", (e) => {
    const button = (e.target as HTMLElement).closest("button.sort") as HTMLButtonElement | null;
    if (!button) return;
    const sort = button.dataset.sort!;
    setView({ ...view, sort, dir: view.sort === sort && view.dir === "asc" ? "desc" : "asc" });
    render();
  });
  ($("login") as HTMLFormElement).addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, ($("token") as HTMLInputElement).value.trim());
    location.reload();
  });
}

async function follow(): Promise<void> {
  setStatus("connecting", "connecting…");
  const stop = new AbortController();
  const stream = resumingWatch(client, create(WatchRequestSchema, {}), {
    signal: stop.signal,
    maxBackoffMs: 2000,
    onRetry: (err, failures) => {
      if (err?.code === Code.Unauthenticated || err?.code === Code.PermissionDenied) {
        setStatus("unauthenticated", `${err.rawMessage} — a reader token is needed`);
        stop.abort();
        return;
      }
      setStatus("reconnecting", `disconnected (${err?.rawMessage ?? "stream ended"}); reconnecting, try ${failures}…`);
    },
  });
  for await (const res of stream) {
    state.apply(res);
    if (!res.snapshot || res.kind.case === "snapshotEnd") setStatus("live", "live");
    dirty = true;
  }
}

async function pollLastSeen(): Promise<void> {
  try {
    const { hives } = await client.listHives({ omitWorkers: true });
    state.refreshHives(hives);
    dirty = true;
  } catch {
    // the Watch stream reports the connection's state
  }
}

takeToken();
bindControls();
setInterval(() => void pollLastSeen(), 2000);
// Ages move every second even when nothing changes; rendering is batched to at most 4 per second.
setInterval(() => (dirty = true), 1000);
setInterval(() => dirty && render(), 250);
void follow();
