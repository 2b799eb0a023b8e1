"""The informer's in-memory copy of the queen's hives and workers, indexed by model."""

from apiary.v1 import queen_pb2, telemetry_pb2

ADDED, UPDATED, REMOVED = "added", "updated", "removed"
_RUNNING = telemetry_pb2.WORKER_STATE_RUNNING
_HEALTHY = queen_pb2.HIVE_HEALTH_HEALTHY


class Entry:
    """One cached worker with its hive: what pick() chooses among and returns."""

    __slots__ = ("hive_id", "worker", "_hives")

    def __init__(self, hive_id, worker, hives):
        self.hive_id = hive_id
        self.worker = worker
        self._hives = hives

    @property
    def key(self):
        return f"{self.hive_id}/{self.worker.worker_id}"

    @property
    def hive(self):
        """The hive's HiveStatus (health, devices, info), or None before its first event."""
        return self._hives.get(self.hive_id)

    @property
    def free_vram_bytes(self):
        """memory_total - memory_used of each of the worker's GPUs, the minimum; None when unknown."""
        hive = self.hive
        if hive is None or not self.worker.gpu_uuids:
            return None
        devices = {d.uuid: d for d in hive.devices}
        free = None
        for uuid in self.worker.gpu_uuids:
            d = devices.get(uuid)
            if d is None or not d.HasField("memory_total_bytes") or not d.HasField("memory_used_bytes"):
                return None
            f = max(0, d.memory_total_bytes - d.memory_used_bytes)
            free = f if free is None else min(free, f)
        return free

    @property
    def pickable(self):
        hive = self.hive
        return self.worker.state == _RUNNING and hive is not None and hive.health == _HEALTHY

    def __repr__(self):
        return f"Entry({self.key}, model={self.worker.model!r})"


class Index:
    """Hives by id, workers by (hive_id, worker_id) and by model."""

    def __init__(self):
        self.hives = {}
        self.workers = {}
        self.by_model = {}

    def put_hive(self, status):
        hive_id = status.info.hive_id
        previous = self.hives.get(hive_id)
        self.hives[hive_id] = status
        return ADDED if previous is None else UPDATED

    def remove_hive(self, hive_id):
        """Drops the hive and every worker of it; returns the removed worker entries."""
        self.hives.pop(hive_id, None)
        gone = [e for (h, _), e in self.workers.items() if h == hive_id]
        for e in gone:
            self.remove_worker(hive_id, e.worker.worker_id)
        return gone

    def put_worker(self, hive_id, worker):
        key = (hive_id, worker.worker_id)
        held = self.workers.get(key)
        if held is None:
            entry = Entry(hive_id, worker, self.hives)
            self.workers[key] = entry
            self.by_model.setdefault(worker.model, {})[key] = entry
            return ADDED, entry
        if held.worker.model != worker.model:
            self._unindex(key, held.worker.model)
            self.by_model.setdefault(worker.model, {})[key] = held
        held.worker = worker
        return UPDATED, held

    def remove_worker(self, hive_id, worker_id):
        entry = self.workers.pop((hive_id, worker_id), None)
        if entry is not None:
            self._unindex((hive_id, worker_id), entry.worker.model)
        return entry

    def _unindex(self, key, model):
        of_model = self.by_model.get(model)
        if of_model is not None:
            of_model.pop(key, None)
            if not of_model:
                del self.by_model[model]

    def replace_with(self, snapshot):
        """Takes a complete snapshot as the whole state; returns the changes, REMOVED for what it lacks."""
        changes = []
        for key, entry in self.workers.items():
            if key not in snapshot.workers:
                changes.append((REMOVED, entry))
        for key, entry in snapshot.workers.items():
            held = self.workers.get(key)
            if held is None:
                changes.append((ADDED, entry))
            elif held.worker != entry.worker:
                changes.append((UPDATED, entry))
        # Entries of the snapshot resolve their hive through this index's hive map from now on.
        self.hives.clear()
        self.hives.update(snapshot.hives)
        for entry in snapshot.workers.values():
            entry._hives = self.hives
        self.workers = snapshot.workers
        self.by_model = snapshot.by_model
        return changes
