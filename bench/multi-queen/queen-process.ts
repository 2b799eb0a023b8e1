import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { stopChild, track } from "../lib/children.js";

const APIARY = fileURLToPath(new URL("../../bin/apiary.mjs", import.meta.url));
const LISTENING = /apiary queen listening on (\S+)/;

export interface QueenProcess {
  id: string;
  /** host:port */
  address: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** `apiary queen --port 0 --etcd … --queen-id ID` on 127.0.0.1; resolves with its address once it says it listens. */
export async function startEtcdQueenProcess(id: string, etcdUrl: string, opts: { leaseTtlMs?: number; timeoutMs?: number } = {}): Promise<QueenProcess> {
  const args = [APIARY, "queen", "--port", "0", "--etcd", etcdUrl, "--queen-id", id, "--log-level", "warn"];
  if (opts.leaseTtlMs) args.push("--lease-ttl", `${opts.leaseTtlMs}ms`);
  const child = track(spawn(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] }));
  let stderr = "";
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => fail(`no "listening" line within ${timeoutMs} ms`), timeoutMs);
    const onData = (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4_000);
      const m = LISTENING.exec(stderr);
      if (m) done(m[1].replace(/^https?:\/\//, ""));
    };
    const onExit = (code: number | null, signal: string | null) => fail(`exited (code ${code}, signal ${signal})`);
    function fail(why: string) {
      done(undefined);
      child.kill("SIGKILL");
      reject(new Error(`apiary queen ${id}: ${why}: ${stderr.trim()}`));
    }
    function done(value: string | undefined) {
      clearTimeout(timer);
      child.stderr?.off("data", onData);
      child.off("exit", onExit);
      if (value !== undefined) resolve(value);
    }
    child.stderr?.on("data", onData);
    child.once("exit", onExit);
  });
  child.stderr?.resume();
  return { id, address, child, stop: () => stopChild(child, 5_000) };
}
