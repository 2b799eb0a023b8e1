"""Ways to pick one worker among a model's pickable ones, with FindWorkers' orders:

- "least-loaded": fewest requests waiting, then running, then lowest KV-cache use (the engine's
  EngineLoad); workers whose engine reports no load come last; ties by (hive_id, worker_id).
- "most-free-vram": most free GPU memory (total - used, the minimum over the worker's GPUs);
  unknown last; ties by (hive_id, worker_id).
"""

_UNKNOWN = (1, 0)


def _known(value):
    """Sort key part: known values ascending, unknown (None) after every known one."""
    return _UNKNOWN if value is None else (0, value)


def _engine_value(worker, field):
    if not worker.HasField("engine_load"):
        return None
    load = worker.engine_load
    return getattr(load, field) if load.HasField(field) else None


def least_loaded_key(entry):
    w = entry.worker
    return (
        _known(_engine_value(w, "requests_waiting")),
        _known(_engine_value(w, "requests_running")),
        _known(_engine_value(w, "kv_cache_usage_ratio")),
        entry.hive_id,
        w.worker_id,
    )


def most_free_vram_key(entry):
    free = entry.free_vram_bytes
    return (_known(None if free is None else -free), entry.hive_id, entry.worker.worker_id)


POLICIES = {"least-loaded": least_loaded_key, "most-free-vram": most_free_vram_key}


def pick_from(entries, policy="least-loaded"):
    """The best entry under the policy (a name of POLICIES, or a function entries -> entry); None when empty."""
    entries = list(entries)
    if not entries:
        return None
    if callable(policy):
        return policy(entries)
    key = POLICIES.get(policy)
    if key is None:
        raise ValueError(f"pick: unknown policy {policy!r}; one of {', '.join(POLICIES)} or a function")
    return min(entries, key=key)
