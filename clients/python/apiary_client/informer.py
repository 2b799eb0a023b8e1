"""An informer: one Watch on the queen kept in a local index, answering pick() from memory.

The Watch starts with a snapshot (ADDED events, then snapshot_end) and carries live events after
it. When the stream breaks, the informer reconnects with exponential backoff and jitter and
resumes from the last resume point it received outside a snapshot; a queen that cannot honour
it (restarted: another epoch; or the revision is older than its history) sends a new snapshot,
which replaces the cache, and everything the cache held that the snapshot lacks is REMOVED.
"""

import random
import threading
import time

import grpc
from google.protobuf.duration_pb2 import Duration

from apiary.v1 import queen_pb2
from .connection import queen_stub
from .index import ADDED, REMOVED, UPDATED, Index
from .policies import pick_from

_EVENT_TYPES = {queen_pb2.EVENT_TYPE_ADDED: ADDED, queen_pb2.EVENT_TYPE_UPDATED: UPDATED, queen_pb2.EVENT_TYPE_REMOVED: REMOVED}
WATCH_BATCH = 256
# Newer protos name the resume point with an opaque token as well as a revision.
_HAS_RESUME_TOKEN = "resume_token" in queen_pb2.WatchResponse.DESCRIPTOR.fields_by_name


class Informer:
    """A live copy of the queen's workers. `channel` is a grpc.Channel (see connect()).

    on_change(type, entry), if given, runs on the informer's thread for every change the cache
    applies: type is "added", "updated" or "removed"; entry.worker is the worker's latest state.
    """

    def __init__(self, channel, model="", hive_ids=(), bookmark_interval=1.0, max_backoff=5.0, on_change=None):
        self._stub = queen_stub(channel)
        self._model = model
        self._hive_ids = list(hive_ids)
        self._bookmark_interval = max(0.1, bookmark_interval)
        self._max_backoff = max(0.25, max_backoff)
        self._on_change = on_change
        self._lock = threading.Lock()
        self._index = Index()
        self._staging = None
        self._synced = threading.Event()
        self._closed = threading.Event()
        self._call = None
        self._since, self._epoch, self._token = 0, "", b""
        self._last_message = None
        self._streams = 0
        self._thread = threading.Thread(target=self._run, name="apiary-informer", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def wait_synced(self, timeout=None):
        """True once the first snapshot is in the cache (False when `timeout` seconds passed first)."""
        return self._synced.wait(timeout)

    def pick(self, model, policy="least-loaded"):
        """One RUNNING worker of the model on a HEALTHY hive (an Entry), or None."""
        with self._lock:
            return pick_from(self._candidates(model), policy)

    def candidates(self, model):
        """The model's pickable workers (RUNNING, on a HEALTHY hive), as Entry objects."""
        with self._lock:
            return self._candidates(model)

    def workers(self):
        """Every cached worker, pickable or not."""
        with self._lock:
            return list(self._index.workers.values())

    def staleness(self):
        """How current the cache is: synced, stream open and recently heard, resume point, reconnects."""
        with self._lock:
            since = None if self._last_message is None else time.monotonic() - self._last_message
            return {
                "synced": self._synced.is_set(),
                "live": self._call is not None and since is not None and since <= 3 * self._bookmark_interval,
                "seconds_since_last_message": since,
                "revision": self._since,
                "epoch": self._epoch,
                "streams_opened": self._streams,
            }

    def close(self, timeout=5.0):
        self._closed.set()
        call = self._call
        if call is not None:
            call.cancel()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def _candidates(self, model):
        return [e for e in self._index.by_model.get(model, {}).values() if e.pickable]

    def _request(self):
        seconds = int(self._bookmark_interval)
        req = queen_pb2.WatchRequest(
            since_revision=self._since, epoch=self._epoch, model=self._model, hive_ids=self._hive_ids, max_batch=WATCH_BATCH,
            bookmark_interval=Duration(seconds=seconds, nanos=int((self._bookmark_interval - seconds) * 1e9)),
        )
        if _HAS_RESUME_TOKEN and self._token:
            req.resume_token = self._token
        return req

    def _run(self):
        failures = 0
        while not self._closed.is_set():
            try:
                call = self._stub.Watch(self._request())
                with self._lock:
                    self._call = call
                    self._streams += 1
                    self._staging = None  # a snapshot cut off by a broken stream starts over
                if self._closed.is_set():
                    call.cancel()
                for res in call:
                    failures = 0
                    self._apply(res)
            except grpc.RpcError:
                pass  # reconnect below, unless closed
            with self._lock:
                self._call = None
            if self._closed.is_set():
                return
            failures += 1
            # Full jitter over an exponential cap: a queen restart does not bring every client back at once.
            delay = random.uniform(0, min(self._max_backoff, 0.25 * 2 ** min(failures, 10)))
            self._closed.wait(delay)

    def _apply(self, res):
        changes = []
        with self._lock:
            self._last_message = time.monotonic()
            kind = res.WhichOneof("kind")
            if res.snapshot and self._staging is None:
                self._staging = Index()
            target = self._staging if res.snapshot else self._index
            if kind == "batch":
                for event in res.batch.events:
                    self._apply_event(target, event.WhichOneof("kind"), event, changes)
            elif kind in ("hive", "worker"):
                self._apply_event(target, kind, res, changes)
            elif kind == "snapshot_end":
                changes = self._index.replace_with(self._staging or Index())
                self._staging = None
            if not res.snapshot or kind == "snapshot_end":
                self._since, self._epoch = res.revision, res.epoch
                if _HAS_RESUME_TOKEN:
                    self._token = res.resume_token
            if res.snapshot:
                changes = changes if kind == "snapshot_end" else []  # a snapshot's changes count once it is whole
        if kind == "snapshot_end":
            self._synced.set()
        if self._on_change:
            for change_type, entry in changes:
                self._on_change(change_type, entry)

    @staticmethod
    def _apply_event(index, kind, holder, changes):
        if kind == "hive":
            event = holder.hive
            if _EVENT_TYPES.get(event.type) == REMOVED:
                changes.extend((REMOVED, e) for e in index.remove_hive(event.hive.info.hive_id))
            else:
                index.put_hive(event.hive)
        elif kind == "worker":
            event = holder.worker
            if _EVENT_TYPES.get(event.type) == REMOVED:
                entry = index.remove_worker(event.hive_id, event.worker.worker_id)
                if entry is not None:
                    changes.append((REMOVED, entry))
            else:
                changes.append(index.put_worker(event.hive_id, event.worker))
