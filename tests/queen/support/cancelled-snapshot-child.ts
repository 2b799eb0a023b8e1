// A queen whose registry's snapshot is larger than the per-turn fan-out budget, and many Watch
// streams cancelled while they wait on that budget. Prints "answered" once a unary RPC is served
// after the cancellations; a queen spinning in microtasks never prints it.
import { createClient } from "@connectrpc/connect";
import { QueenService } from "../../../gen/apiary/v1/queen_pb.js";
import { createApiaryTransport } from "../../../src/rpc/transport.js";
import { startTestQueen } from "../helpers/queen-fixture.js";
import { TestHive } from "../helpers/test-hive.js";

const HIVES = 3;
const WORKERS_PER_HIVE = 300; // 903 snapshot events against a budget of 500 per turn
const WATCHERS = Number(process.env.WATCHERS ?? 40);

const { queen, client } = await startTestQueen();
const hives: TestHive[] = [];
for (let i = 0; i < HIVES; i++) {
  const hive = await TestHive.connect(queen.url, `h${i}`);
  await hive.reportSynthetic({ workers: WORKERS_PER_HIVE, gpus: 1 });
  hives.push(hive);
}
// One connection per watcher, so each cancellation is a stream reset the queen sees at once.
const watchers = Array.from({ length: WATCHERS }, () => {
  const abort = new AbortController();
  const watcher = createClient(QueenService, createApiaryTransport(queen.url));
  const firstMessage = (async () => {
    try {
      for await (const _ of watcher.watch({}, { signal: abort.signal })) return;
    } catch {
      // cancelled
    }
  })();
  return { abort, firstMessage };
});
await Promise.all(watchers.map((w) => w.firstMessage.then(() => undefined)));
for (const w of watchers) w.abort.abort();
await client.listHives({});
process.stdout.write("answered\n");
for (const hive of hives) hive.abort();
await queen.close();
process.exit(0);
