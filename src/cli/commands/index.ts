import type { CommandEntry } from "../command.js";

/**
 * Every `apiary` command, in the order `apiary --help` lists them: its name and summary, and a loader,
 * so that a command imports only its own code (and `apiary --help` none of it).
 */
export const commands: CommandEntry[] = [
  { name: "up", summary: "run the whole thing on this machine: a queen, a local hive and demo workers", load: async () => (await import("./up.js")).upCommand },
  { name: "queen", summary: "run the queen: registry, liveness, scheduling and watch on one gRPC port", load: async () => (await import("./queen.js")).queenCommand },
  { name: "hive", summary: "run a hive: start, stop and measure workers on this machine, report to the queen", load: async () => (await import("./hive.js")).hiveCommand },
  { name: "workers", summary: "find workers (FindWorkers): by model, free VRAM, idleness, labels", lightHeaders: true, load: async () => (await import("./workers.js")).workersCommand },
  { name: "devices", summary: "find GPUs with room for a new worker (FindDevices)", lightHeaders: true, load: async () => (await import("./devices.js")).devicesCommand },
  { name: "hives", summary: "list every hive the queen knows (ListHives)", lightHeaders: true, load: async () => (await import("./hives.js")).hivesCommand },
  { name: "watch", summary: "stream every change of the cluster (Watch), resuming across queen restarts", lightHeaders: true, load: async () => (await import("./watch.js")).watchCommand },
  { name: "top", summary: "live view of hives, GPUs and workers, fed by Watch", lightHeaders: true, load: async () => (await import("./top.js")).topCommand },
  { name: "route", summary: "OpenAI-compatible router: sends each request to the least loaded worker serving its model", load: async () => (await import("./route.js")).routeCommand },
  { name: "spawn", summary: "start a worker process on a hive (SpawnWorker)", lightHeaders: true, load: async () => (await import("./spawn.js")).spawnCommand },
  { name: "stop", summary: "stop a worker (StopWorker): SIGTERM, then SIGKILL after the grace period", lightHeaders: true, load: async () => (await import("./stop.js")).stopCommand },
  { name: "logs", summary: "print a worker's stdout and stderr from its hive (StreamWorkerLogs); -f follows", lightHeaders: true, load: async () => (await import("./logs.js")).logsCommand },
  { name: "describe", summary: "everything the queen knows of a hive, a worker or a GPU, with its recent events", lightHeaders: true, load: async () => (await import("./describe.js")).describeCommand },
  { name: "certs", summary: "a small PKI: a CA, certificates for hives, queens and clients, bearer tokens", load: async () => (await import("./certs.js")).certsCommand },
  { name: "config", summary: "named contexts (a queen and its TLS and token settings), as kubectl's kubeconfig", load: async () => (await import("./config.js")).configCommand },
  { name: "completion", summary: "print a shell completion script (bash or zsh)", load: async () => (await import("./completion.js")).completionCommand },
];
