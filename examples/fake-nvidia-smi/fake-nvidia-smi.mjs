// Emulates nvidia-smi's output formats on a machine without a GPU (tests, demos).
// See README.md beside this file for the environment knobs.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { hostname } from "node:os";

const env = process.env;
const GPU_COUNT = clampInt(env.FAKE_NVIDIA_SMI_GPUS, 2, 0, 64);
const SEED = env.FAKE_NVIDIA_SMI_SEED ?? hostname();
const NAME = "NVIDIA H100 80GB HBM3";
const TOTAL_MIB = 81559;
const MIB = 1024;

function clampInt(raw, fallback, min, max) {
  const n = Number.parseInt(raw ?? "", 10);
  return Number.isFinite(n) ? Math.min(max, Math.max(min, n)) : fallback;
}

function currentMode() {
  const file = env.FAKE_NVIDIA_SMI_MODE_FILE;
  if (file && existsSync(file)) {
    const text = readFileSync(file, "utf8").trim();
    if (text) return text;
  }
  return env.FAKE_NVIDIA_SMI_MODE ?? "ok";
}

// Health: every field the hive asks for, H100-like (as in the full-field capture), with per-GPU
// overrides from FAKE_NVIDIA_SMI_HEALTH_FILE, read at every call. One line per GPU:
//   <index> sick | slow | x4 | <field>=<value> …   e.g. "0 sick", "1 remapped_rows.failure=Yes"
// "sick": a row remap pending (UNHEALTHY); "slow": hw_slowdown active (DEGRADED); "x4": PCIe trained down to x4.
// An empty or missing file: every GPU well. See README.md.
const PRESETS = {
  sick: { "remapped_rows.pending": "Yes" },
  slow: { "clocks_event_reasons.hw_slowdown": "Active", "clocks_throttle_reasons.hw_slowdown": "Active", "clocks_event_reasons.active": "0x0000000000000008", "clocks_throttle_reasons.active": "0x0000000000000008" },
  x4: { "pcie.link.width.current": "4" },
};

function healthOverrides() {
  const file = env.FAKE_NVIDIA_SMI_HEALTH_FILE;
  const byIndex = new Map();
  if (!file || !existsSync(file)) return byIndex;
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const [index, ...words] = line.trim().split(/\s+/);
    if (!/^\d+$/.test(index ?? "")) continue;
    const fields = byIndex.get(Number(index)) ?? {};
    for (const word of words) {
      if (PRESETS[word]) Object.assign(fields, PRESETS[word]);
      const eq = word.indexOf("=");
      if (eq > 0) fields[word.slice(0, eq)] = word.slice(eq + 1).replace(/_/g, " ");
    }
    byIndex.set(Number(index), fields);
  }
  return byIndex;
}

function healthState(util, overrides) {
  const idle = util === 0;
  const reasons = {};
  for (const family of ["clocks_event_reasons", "clocks_throttle_reasons"]) {
    reasons[`${family}.active`] = idle ? "0x0000000000000001" : "0x0000000000000000";
    reasons[`${family}.supported`] = "0x00000000000001FF";
    for (const r of ["applications_clocks_setting", "sw_power_cap", "hw_slowdown", "hw_thermal_slowdown", "hw_power_brake_slowdown", "sw_thermal_slowdown", "sync_boost"]) reasons[`${family}.${r}`] = "Not Active";
    reasons[`${family}.gpu_idle`] = idle ? "Active" : "Not Active";
  }
  return {
    "ecc.mode.current": "Enabled",
    "ecc.mode.pending": "Enabled",
    "ecc.errors.corrected.volatile.total": "0",
    "ecc.errors.uncorrected.volatile.total": "0",
    "ecc.errors.corrected.aggregate.total": "0",
    "ecc.errors.uncorrected.aggregate.total": "0",
    "retired_pages.single_bit_ecc.count": "[N/A]",
    "retired_pages.double_bit.count": "[N/A]",
    "retired_pages.pending": "[N/A]",
    "remapped_rows.correctable": "0",
    "remapped_rows.uncorrectable": "0",
    "remapped_rows.pending": "No",
    "remapped_rows.failure": "No",
    ...reasons,
    "clocks.current.sm": { v: idle ? "345" : "1980", unit: "MHz" },
    "clocks.max.sm": { v: "1980", unit: "MHz" },
    "clocks.current.memory": { v: "2619", unit: "MHz" },
    "clocks.max.memory": { v: "2619", unit: "MHz" },
    "pcie.link.gen.current": "5",
    "pcie.link.gen.max": "5",
    "pcie.link.width.current": "16",
    "pcie.link.width.max": "16",
    pstate: "P0",
    "mig.mode.current": "Disabled",
    "mig.mode.pending": "Disabled",
    ...overrides,
  };
}

// FAKE_NVIDIA_SMI_MIG=1: GPU 0 has MIG enabled, with the instances of the H100 MIG capture.
const MIG = env.FAKE_NVIDIA_SMI_MIG === "1";
const MIG_PROFILES = [["3g.40gb", 2, 40448], ["2g.20gb", 3, 20096], ["1g.10gb", 9, 9984], ["1g.10gb", 10, 9984]];
function migUuid(i) {
  const h = createHash("sha256").update(`${SEED}:mig:${i}`).digest("hex");
  return `MIG-${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

function uuidFor(index) {
  const h = createHash("sha256").update(`${SEED}:${index}`).digest("hex");
  return `GPU-${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

const gpus = Array.from({ length: GPU_COUNT }, (_, i) => ({
  index: i,
  uuid: uuidFor(i),
  busId: `00000000:${(0x18 + i * 0x10).toString(16).toUpperCase().padStart(2, "0")}:00.0`,
}));

function readEnviron(pid) {
  try {
    const vars = readFileSync(`/proc/${pid}/environ`, "latin1").split("\0");
    const hit = vars.find((v) => v.startsWith("CUDA_VISIBLE_DEVICES="));
    return hit === undefined ? undefined : hit.slice("CUDA_VISIBLE_DEVICES=".length);
  } catch {
    return undefined;
  }
}

function parentOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return 0;
  }
}

function commandOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/comm`, "latin1").trim() || "unknown";
  } catch {
    return "unknown";
  }
}

// Processes whose CUDA_VISIBLE_DEVICES names our GPUs; only the top of each tree that set it.
function gpuProcesses() {
  const result = [];
  let pids = [];
  try {
    pids = readdirSync("/proc").filter((d) => /^\d+$/.test(d)).map(Number);
  } catch {
    return result;
  }
  for (const pid of pids) {
    if (pid === process.pid) continue;
    const visible = readEnviron(pid);
    if (!visible) continue;
    if (readEnviron(parentOf(pid)) === visible) continue;
    const wanted = visible.split(",").map((s) => s.trim());
    const used = gpus.filter((g) => wanted.includes(g.uuid) || wanted.includes(String(g.index)));
    for (const gpu of used) {
      const vramMiB = (1 + (pid % 8)) * MIB;
      const sm = 20 + ((pid * 13 + Math.floor(Date.now() / 1000) * 7) % 61);
      result.push({ pid, gpu, vramMiB, sm, mem: Math.round(sm / 3), command: commandOf(pid) });
    }
  }
  return result.sort((a, b) => a.gpu.index - b.gpu.index || a.pid - b.pid);
}

function deviceState(gpu, procs, na, overrides = new Map()) {
  const mine = procs.filter((p) => p.gpu === gpu);
  const usedMiB = Math.min(TOTAL_MIB, mine.reduce((s, p) => s + p.vramMiB, 0));
  const util = Math.min(100, mine.reduce((s, p) => s + p.sm, 0));
  const v = (x) => (na ? "[N/A]" : x);
  return {
    index: String(gpu.index),
    uuid: gpu.uuid,
    name: NAME,
    "memory.total": { v: v(String(TOTAL_MIB)), unit: "MiB" },
    "memory.used": { v: v(String(usedMiB)), unit: "MiB" },
    "memory.free": { v: v(String(TOTAL_MIB - usedMiB)), unit: "MiB" },
    "utilization.gpu": { v: v(String(util)), unit: "%" },
    "utilization.memory": { v: v(String(Math.round(util / 3))), unit: "%" },
    "temperature.gpu": v(String(33 + Math.round(util / 4))),
    "power.draw": { v: v((69.85 + util * 6).toFixed(2)), unit: "W" },
    "power.limit": { v: v("700.00"), unit: "W" },
    compute_cap: v("9.0"),
    "pci.bus_id": gpu.busId,
    ...healthState(util, overrides.get(gpu.index) ?? {}),
    ...(MIG && gpu.index === 0 ? { "mig.mode.current": "Enabled", "mig.mode.pending": "Enabled" } : {}),
  };
}

const ALIASES = {
  gpu_name: "name",
  gpu_uuid: "uuid",
  gpu_bus_id: "pci.bus_id",
  used_gpu_memory: "used_memory",
  "clocks.sm": "clocks.current.sm",
  "clocks.mem": "clocks.current.memory",
  "clocks.max.mem": "clocks.max.memory",
  "retired_pages.sbe": "retired_pages.single_bit_ecc.count",
  "retired_pages.dbe": "retired_pages.double_bit.count",
};

function csv(fields, rows, format) {
  const opts = new Set(format.split(","));
  const units = !opts.has("nounits");
  const lines = [];
  if (!opts.has("noheader")) {
    lines.push(fields.map((f) => {
      const unit = rows.units?.[f];
      return unit ? `${f} [${unit}]` : f;
    }).join(", "));
  }
  for (const row of rows.values) {
    lines.push(fields.map((f) => {
      const cell = row[ALIASES[f] ?? f];
      if (cell === undefined) return "[N/A]";
      if (typeof cell === "string") return cell;
      return units && !cell.v.startsWith("[") ? `${cell.v} ${cell.unit}` : cell.v;
    }).join(", "));
  }
  return lines.join("\n") + "\n";
}

function queryGpu(fieldList, format, na) {
  const procs = gpuProcesses();
  const fields = fieldList.split(",").map((f) => f.trim());
  const overrides = healthOverrides();
  const values = gpus.map((g) => deviceState(g, procs, na, overrides));
  const units = {};
  for (const [k, cell] of Object.entries(values[0] ?? {})) if (typeof cell === "object") units[k] = cell.unit;
  return csv(fields, { values, units }, format);
}

function queryComputeApps(fieldList, format, na) {
  const fields = fieldList.split(",").map((f) => f.trim());
  const values = gpuProcesses().map((p) => ({
    pid: String(p.pid),
    uuid: p.gpu.uuid,
    name: NAME,
    "pci.bus_id": p.gpu.busId,
    process_name: p.command,
    used_memory: { v: na ? "[N/A]" : String(p.vramMiB), unit: "MiB" },
  }));
  return csv(fields, { values, units: { used_memory: "MiB", used_gpu_memory: "MiB" } }, format);
}

function pmon(na) {
  const cols = (a) => a.map((c, i) => (i === 0 ? String(c).padStart(5) : String(c).padStart(i === 1 ? 11 : 6))).join(" ");
  const lines = [
    "# gpu         pid   type     sm    mem    enc    dec    jpg    ofa    command ",
    "# Idx           #    C/G      %      %      %      %      %      %    name ",
  ];
  const procs = gpuProcesses();
  for (const gpu of gpus) {
    const mine = procs.filter((p) => p.gpu === gpu);
    if (mine.length === 0) lines.push(`${cols([gpu.index, "-", "-", "-", "-", "-", "-", "-", "-"])}    -              `);
    for (const p of mine) {
      const sm = na ? "-" : p.sm;
      const mem = na ? "-" : p.mem;
      lines.push(`${cols([gpu.index, p.pid, "C", sm, mem, 0, 0, "-", "-"])}    ${p.command.slice(0, 16).padEnd(15)}`);
    }
  }
  return lines.join("\n") + "\n";
}

function listGpus() {
  const lines = [];
  for (const g of gpus) {
    lines.push(`GPU ${g.index}: ${NAME} (UUID: ${g.uuid})`);
    if (MIG && g.index === 0) MIG_PROFILES.forEach(([profile], i) => lines.push(`  MIG ${profile.padEnd(11)} Device  ${i}: (UUID: ${migUuid(i)})`));
  }
  return lines.join("\n") + "\n";
}

function migSection() {
  const lines = ["", "| MIG devices:                                                                            |", "| GPU  GI  CI  MIG |              Shared Memory-Usage |        Vol|        Shared         |", "|==================+==================================+===========+=======================|"];
  MIG_PROFILES.forEach(([, gi, totalMiB], i) => {
    lines.push(`|  0  ${String(gi).padStart(3)}   0   ${i}  | ${`${i === 0 ? 11091 : 9}MiB / ${totalMiB}MiB`.padStart(28)}     | 16      0 |  1   0    1    0    1 |`);
    lines.push("+------------------+----------------------------------+-----------+-----------------------+");
  });
  return lines;
}

function table(na) {
  const procs = gpuProcesses();
  const lines = [
    "+-----------------------------------------------------------------------------------------+",
    "| NVIDIA-SMI 565.57.01              Driver Version: 565.57.01      CUDA Version: 12.7     |",
    "|-----------------------------------------+------------------------+----------------------+",
    "| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |",
    "| Fan  Temp   Perf          Pwr:Usage/Cap |           Memory-Usage | GPU-Util  Compute M. |",
    "|=========================================+========================+======================|",
  ];
  for (const g of gpus) {
    const s = deviceState(g, procs, na);
    const mem = `${s["memory.used"].v}MiB / ${s["memory.total"].v}MiB`;
    lines.push(`| ${String(g.index).padEnd(4)} ${NAME.padEnd(25)} On  | ${g.busId} Off | ${"0".padStart(20)} |`);
    lines.push(`| N/A ${s["temperature.gpu"].padStart(4)}C P0 ${`${s["power.draw"].v}W / 700W`.padStart(22)} | ${mem.padStart(22)} | ${`${s["utilization.gpu"].v}%`.padStart(8)}      Default |`);
    lines.push("+-----------------------------------------+------------------------+----------------------+");
  }
  if (MIG) lines.push(...migSection());
  lines.push("", "| Processes:                                                                              |");
  for (const p of procs) lines.push(`|  ${String(p.gpu.index).padStart(4)}   N/A  N/A ${String(p.pid).padStart(9)}      C   ${p.command.padEnd(40)} ${String(p.vramMiB).padStart(6)}MiB |`);
  if (procs.length === 0) lines.push("|  No running processes found                                                             |");
  return lines.join("\n") + "\n";
}

function answer(args, mode) {
  const na = mode === "na";
  const opt = (name) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const format = opt("format") ?? "csv";
  if (args[0] === "pmon") return pmon(na);
  if (args.includes("-L") || args.includes("--list-gpus")) return listGpus();
  const q = opt("query-gpu");
  if (q !== undefined) return queryGpu(q, format, na);
  const qa = opt("query-compute-apps");
  if (qa !== undefined) return queryComputeApps(qa, format, na);
  return table(na);
}

function hangForever() {
  setInterval(() => undefined, 1 << 30);
}

function main() {
  const args = process.argv.slice(2);
  const mode = (args[0] === "pmon" && env.FAKE_NVIDIA_SMI_PMON_MODE) || currentMode();
  switch (mode) {
    case "hang":
      return hangForever();
    case "ignore-term":
      process.on("SIGTERM", () => undefined);
      return hangForever();
    case "grandchild": {
      // The grandchild inherits stdout and keeps it open after this process exits.
      const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1 << 30)"], { stdio: ["ignore", "inherit", "inherit"] });
      process.stdout.write(`grandchild ${child.pid}\n`);
      child.unref();
      return;
    }
    case "slow":
      return void setTimeout(() => process.stdout.write(answer(args, "ok")), clampInt(env.FAKE_NVIDIA_SMI_DELAY_MS, 3000, 0, 3_600_000));
    case "garbage":
      process.stdout.write("\u0000\u0007 zzz <<<not nvidia-smi>>> 3.14.15\nsegments: ## ?? !!\n");
      return;
    case "no-devices":
      process.stdout.write("No devices were found\n");
      process.exitCode = 6;
      return;
    case "driver-error":
      process.stdout.write(
        "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\n\n",
      );
      process.exitCode = 9;
      return;
    case "ok":
    case "na":
      process.stdout.write(answer(args, mode));
      return;
    default:
      process.stderr.write(`fake-nvidia-smi: unknown FAKE_NVIDIA_SMI_MODE "${mode}"\n`);
      process.exitCode = 2;
  }
}

main();
