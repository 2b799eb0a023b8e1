import { dashboardRoutes } from "../../dashboard/dashboard-routes.js";
import { accessSync, constants } from "node:fs";
import os from "node:os";
import path from "node:path";
import { CliError, UsageError, defineCommand } from "../command.js";
import { intFlag } from "../parse-values.js";
import { logLevelFlag, perDeviceMetricsFlag, queenTuning, queenTuningFlags } from "../server-flags.js";
import { hiveRuntime, hiveRuntimeFlags } from "../hive-flags.js";
import { hiveStartupLine, readoptedLine } from "../startup-line.js";
import { startDemoWorkers } from "../demo-workers.js";
import { packagePath } from "../../common/package-root.js";
import { createLogger } from "../../common/logger.js";
import { onShutdownSignals } from "../../common/shutdown-signals.js";
import { startQueen } from "../../queen/queen.js";
import { setUpFakeSickness } from "../fake-gpu-sickness.js";
import { startHive } from "../../hive/hive.js";
import { firstProbedReport } from "../../hive/first-probed-report.js";
import { startUpRouter, upRouteFlags } from "./up-route.js";

export const FAKE_NVIDIA_SMI = packagePath("examples", "fake-nvidia-smi", "fake-nvidia-smi");

export const upCommand = defineCommand({
  name: "up",
  usage: "apiary up [--port 7833] [--hive-port 7835] [--fake-gpus N] [--no-demo] [flags]",
  description: [
    "Without --fake-gpus, the real nvidia-smi is used when it is on PATH, else a bundled fake",
    "emulating 2 GPUs (said so at startup). Ctrl-C stops workers, hive and queen and removes",
    "the workers' cgroups. The queen's and hive's logs go to a file (named at startup), so",
    "the terminal shows only apiary up's own lines.",
  ].join("\n"),
  flags: [
    { name: "host", type: "string", value: "H", env: "APIARY_HOST", default: "127.0.0.1", help: "address queen and hive listen on" },
    { name: "port", type: "string", value: "N", env: "APIARY_QUEEN_PORT", default: "7833", help: "queen port (0 = any free port)" },
    { name: "hive-port", type: "string", value: "N", env: "APIARY_HIVE_PORT", default: "7835", help: "hive port (0 = any free port)" },
    { name: "fake-gpus", type: "string", value: "N", env: "APIARY_FAKE_GPUS", help: "emulate N GPUs with the bundled fake nvidia-smi" },
    { name: "no-demo", type: "boolean", help: "start no demo workers" },
    { name: "insecure", type: "boolean", env: "APIARY_INSECURE", help: "allow a --host beyond loopback (plaintext, no authentication: anyone who reaches it can run programs)" },
    { name: "demo-workers", type: "string", value: "N", default: "3", help: "how many demo workers to start" },
    ...upRouteFlags,
    ...queenTuningFlags,
    perDeviceMetricsFlag,
    ...hiveRuntimeFlags.map((f) => (f.name === "state-dir" ? { ...f, help: "worker metadata and logs [default: ~/.local/state/apiary/up]" } : f)),
    { name: "log-file", type: "string", value: "FILE", env: "APIARY_LOG_FILE", help: "where the queen and hive log (appended) [default: <state-dir>/apiary-up.log]" },
    { ...logLevelFlag, help: "fatal|error|warn|info|debug|trace|silent, for the log file (JSON lines; APIARY_LOG_FORMAT=pretty for text)" },
  ],
  async run({ flags, positionals }) {
    if (positionals.length > 0) throw new UsageError(`apiary up: unexpected argument ${positionals[0]}`);
    const level = flags["log-level"];
    const fakeGpus = intFlag("fake-gpus", flags["fake-gpus"], 0, 64);
    const demoCount = flags["no-demo"] ? 0 : intFlag("demo-workers", flags["demo-workers"], 0, 64)!;
    const runtime = hiveRuntime(flags);
    const gpuNote = chooseGpuProbe(runtime, fakeGpus, flags["no-gpu"] === true);
    runtime.stateDir ??= path.join(os.homedir(), ".local", "state", "apiary", "up");
    const sicknessNote = runtime.nvidiaSmiPath === FAKE_NVIDIA_SMI ? setUpFakeSickness(runtime, runtime.stateDir) : "";
    // The daemons log to a file, never to the terminal: these lines are for a person.
    const logFile = path.resolve(flags["log-file"] ?? path.join(runtime.stateDir, "apiary-up.log"));
    const daemonLogger = (name: string) => createLogger(name, { level, destination: logFile });

    const queen = await startQueen({
      publicRoutes: dashboardRoutes(),
      host: flags.host,
      port: intFlag("port", flags.port, 0, 65535),
      logger: daemonLogger("queen"),
      security: { insecure: flags.insecure === true },
      ...queenTuning(flags),
      perDeviceMetrics: flags["metrics-per-device"] === true,
    }).catch((err: Error) => {
      throw new CliError(`queen cannot start: ${err.message}`);
    });
    process.stderr.write(`apiary queen listening on ${queen.url} (registry: in-memory, ${queen.config.shards} shards; epoch ${queen.epoch})\n`);
    const hive = await startHive({
      ...runtime,
      queenUrl: queen.url,
      host: flags.host,
      port: intFlag("hive-port", flags["hive-port"], 0, 65535),
      labels: { demo: "true" },
      security: { insecure: flags.insecure === true },
      logger: daemonLogger("hive"),
    }).catch(async (err: Error) => {
      await queen.close();
      throw new CliError(`hive cannot start: ${err.message}`);
    });
    const logger = daemonLogger("up");
    const shutdownFirst: (() => Promise<void>)[] = [];
    onShutdownSignals(
      async () => {
        process.stderr.write("apiary up: stopping workers, hive and queen…\n");
        for (const stop of shutdownFirst) await stop();
        await hive.close({ stopWorkers: true, reason: "apiary up stopped" });
        await queen.close();
      },
      { logger, timeoutMs: 30_000 },
    );
    process.stderr.write(hiveStartupLine(hive));
    process.stderr.write(`GPUs: ${gpuNote}\n${sicknessNote}`);
    process.stderr.write(`logs: ${logFile} (queen and hive, level ${level})\n`);
    if (hive.readopted.length > 0) process.stderr.write(readoptedLine(hive.readopted));

    if (demoCount > 0) {
      const report = await firstProbedReport(hive.monitor, 15_000);
      const started = await startDemoWorkers(hive, report?.devices ?? [], demoCount);
      for (const w of started) {
        process.stderr.write(`demo worker ${w.workerId}: ${w.model} (pid ${w.pid}${w.gpuUuids.length ? `, ${w.gpuUuids[0]}` : ""})\n`);
      }
    }
    const router = await startUpRouter(flags, queen.url, daemonLogger("route"));
    if (router) shutdownFirst.push(() => router.close());
    process.stderr.write(
      `\nready. try:  apiary top   apiary workers   apiary devices   apiary watch   (queen ${queen.url})\nCtrl-C stops everything.\n`,
    );
    return new Promise<number>(() => {});
  },
});

/** Picks real or fake nvidia-smi and says which, for the startup lines. */
function chooseGpuProbe(runtime: { nvidiaSmiPath?: string; gpuEnabled?: boolean }, fakeGpus: number | undefined, noGpu: boolean): string {
  if (noGpu) return "probe off (--no-gpu)";
  if (fakeGpus !== undefined) {
    process.env.FAKE_NVIDIA_SMI_GPUS = String(fakeGpus);
    runtime.nvidiaSmiPath = FAKE_NVIDIA_SMI;
    return `bundled fake nvidia-smi emulating ${fakeGpus} GPUs (--fake-gpus)`;
  }
  const real = onPath(runtime.nvidiaSmiPath ?? "nvidia-smi");
  if (real) return `${real}`;
  process.env.FAKE_NVIDIA_SMI_GPUS ??= "2";
  runtime.nvidiaSmiPath = FAKE_NVIDIA_SMI;
  return `no nvidia-smi found: bundled fake emulating ${process.env.FAKE_NVIDIA_SMI_GPUS} GPUs (use --fake-gpus N to choose, --no-gpu for none)`;
}

function onPath(command: string): string | undefined {
  const candidates = command.includes("/") ? [command] : (process.env.PATH ?? "").split(":").filter(Boolean).map((d) => path.join(d, command));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // try the next directory
    }
  }
  return undefined;
}
