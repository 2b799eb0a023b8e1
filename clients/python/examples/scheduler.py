#!/usr/bin/env python3
"""An example scheduler: keeps an informer on the queen and prints, as JSON lines, which worker
it would send each request of a model to, under a policy.

  examples/scheduler.py --queen http://127.0.0.1:7833 --model demo/llm
  examples/scheduler.py --queen https://127.0.0.1:7833 --ca ca.crt --cert c.crt --key c.key --model demo/llm

First line: FindWorkers' answer for the model. Then one line per pick, every --interval seconds,
for --count picks (0: until interrupted).
"""

import argparse
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from apiary.v1 import queen_pb2  # noqa: E402
from apiary_client import POLICIES, Informer, connect, queen_stub  # noqa: E402


_out = threading.Lock()


def emit(obj):
    """One JSON line; the informer's thread prints changes while the main thread prints picks."""
    with _out:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def describe(entry):
    load = entry.worker.engine_load if entry.worker.HasField("engine_load") else None
    field = lambda name: getattr(load, name) if load is not None and load.HasField(name) else None  # noqa: E731
    return {
        "hive_id": entry.hive_id, "worker_id": entry.worker.worker_id, "model": entry.worker.model,
        "requests_waiting": field("requests_waiting"), "requests_running": field("requests_running"),
        "kv_cache_usage_ratio": field("kv_cache_usage_ratio"), "free_vram_bytes": entry.free_vram_bytes,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--queen", default="http://127.0.0.1:7833")
    p.add_argument("--ca"), p.add_argument("--cert"), p.add_argument("--key")
    p.add_argument("--token-file")
    p.add_argument("--model", required=True)
    p.add_argument("--policy", choices=sorted(POLICIES), default="least-loaded")
    p.add_argument("--interval", type=float, default=0.5)
    p.add_argument("--count", type=int, default=0)
    p.add_argument("--timeout", type=float, default=20.0, help="seconds to wait for the first snapshot")
    p.add_argument("--changes", action="store_true", help="also print each change the informer applies")
    p.add_argument("--max-backoff", type=float, default=5.0, help="cap of the reconnect backoff, seconds")
    args = p.parse_args()
    token = open(args.token_file).read().strip() if args.token_file else None
    channel = connect(args.queen, ca=args.ca, cert=args.cert, key=args.key, token=token)

    found = queen_stub(channel).FindWorkers(queen_pb2.FindWorkersRequest(model=args.model), timeout=args.timeout)
    workers = [{"hive_id": m.hive_id, "worker_id": m.worker.worker_id} for m in found.matches]
    emit({"find": {"total_matches": found.total_matches, "revision": found.revision, "workers": workers}})

    def on_change(change, entry):
        emit({"change": change, "worker": describe(entry)})

    informer = Informer(channel, model=args.model, bookmark_interval=0.5, max_backoff=args.max_backoff,
                        on_change=on_change if args.changes else None)
    with informer:
        if not informer.wait_synced(args.timeout):
            sys.exit(f"scheduler: no snapshot from {args.queen} within {args.timeout} s")
        n = 0
        while args.count == 0 or n < args.count:
            entry = informer.pick(args.model, args.policy)
            staleness = informer.staleness()
            candidates = informer.candidates(args.model)
            line = {"pick": describe(entry) if entry else None, "policy": args.policy, "candidates": len(candidates),
                    "with_load": sum(1 for e in candidates if e.worker.engine_load.HasField("requests_waiting")),
                    "revision": staleness["revision"], "epoch": staleness["epoch"], "streams_opened": staleness["streams_opened"]}
            emit(line)
            n += 1
            time.sleep(args.interval)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
