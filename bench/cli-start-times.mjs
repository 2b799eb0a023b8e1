#!/usr/bin/env node
// Median wall time of CLI starts, alternating the commands given so that load affects them alike.
// Usage: N=20 node bench/cli-start-times.mjs '[["node","-e","0"],["node","bin/apiary.mjs","--help"],["node","bin/apiary.mjs","workers","--queen","127.0.0.1:7833"]]'
// Node reads $NODE_EXTRA_CA_CERTS at every start, before any JavaScript runs (30-45 ms with the
// system bundle on the 2-core machine): compare runs made with the same environment; it is named below.
import { execFileSync } from "node:child_process";

const runs = Number(process.env.N ?? 20);
const commands = JSON.parse(process.argv[2]);
const times = commands.map(() => []);
for (let i = 0; i < runs; i++) {
  commands.forEach((argv, j) => {
    const t0 = performance.now();
    try {
      execFileSync(argv[0], argv.slice(1), { stdio: "ignore", timeout: 30_000 });
    } catch {
      // a failing command is still timed (e.g. an unreachable queen); its exit status is not the point
    }
    times[j].push(performance.now() - t0);
  });
}
if (process.env.NODE_EXTRA_CA_CERTS) console.log(`NODE_EXTRA_CA_CERTS=${process.env.NODE_EXTRA_CA_CERTS} (read by every start)`);
commands.forEach((argv, j) => {
  const sorted = times[j].sort((a, b) => a - b);
  console.log(`${sorted[sorted.length >> 1].toFixed(0)} ms median (min ${sorted[0].toFixed(0)}, ${runs} runs)  ${argv.join(" ")}`);
});
