// Starts the event-loop watchdog, then blocks the loop for good: only the watchdog's own thread can end it.
import { startLoopWatchdog } from "../../../src/rpc/loop-watchdog.js";

startLoopWatchdog({ exitAfterMs: Number(process.env.EXIT_AFTER_MS ?? 1000) });
setTimeout(() => {
  process.stdout.write("blocking\n");
  for (;;) {
    // a handler that never returns
  }
}, 50);
