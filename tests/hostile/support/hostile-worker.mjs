// A worker for the hive campaign: "quiet" only waits; "chatty" prints about 800 kB/s, so a log
// stream whose client never reads backs up the hive's writes. Ends on SIGTERM like any worker.
const chatty = process.argv[2] === "chatty";
const line = "x".repeat(8 * 1024 - 1) + "\n";
setInterval(() => {
  if (chatty) process.stdout.write(line);
}, chatty ? 10 : 60_000);
process.on("SIGTERM", () => process.exit(0));
