"""Unit tests of pick's policies and of the informer's handling of Watch messages (no server)."""

import os
import sys
import unittest

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from apiary.v1 import queen_pb2, telemetry_pb2  # noqa: E402
from apiary_client import Informer, pick_from  # noqa: E402
from apiary_client.index import Entry  # noqa: E402

RUNNING = telemetry_pb2.WORKER_STATE_RUNNING


def worker(worker_id, model="m", waiting=None, running=None, kv=None, gpus=()):
    w = telemetry_pb2.WorkerTelemetry(worker_id=worker_id, model=model, state=RUNNING, gpu_uuids=list(gpus))
    if waiting is not None or running is not None or kv is not None:
        w.engine_load.SetInParent()
    if waiting is not None:
        w.engine_load.requests_waiting = waiting
    if running is not None:
        w.engine_load.requests_running = running
    if kv is not None:
        w.engine_load.kv_cache_usage_ratio = kv
    return w


def hive(hive_id="h", health=queen_pb2.HIVE_HEALTH_HEALTHY, devices=()):
    status = queen_pb2.HiveStatus(health=health)
    status.info.hive_id = hive_id
    for uuid, total, used in devices:
        status.devices.add(uuid=uuid, memory_total_bytes=total, memory_used_bytes=used)
    return status


def picked(policy, *workers, hives=None):
    hives = hives or {"h": hive()}
    entry = pick_from([Entry("h", w, hives) for w in workers], policy)
    return entry and entry.worker.worker_id


class PolicyTest(unittest.TestCase):
    def test_least_loaded_orders_by_waiting_then_running_then_kv_cache_unknown_last(self):
        self.assertEqual(picked("least-loaded", worker("a", waiting=1, running=0), worker("b", waiting=0, running=9)), "b")
        self.assertEqual(picked("least-loaded", worker("a", waiting=0, running=3), worker("b", waiting=0, running=2)), "b")
        self.assertEqual(picked("least-loaded", worker("a", waiting=0, running=2, kv=0.5), worker("b", waiting=0, running=2, kv=0.4)), "b")
        self.assertEqual(picked("least-loaded", worker("a"), worker("b", waiting=7, running=7)), "b")
        self.assertEqual(picked("least-loaded", worker("b", waiting=0, running=0), worker("a", waiting=0, running=0)), "a")

    def test_most_free_vram_takes_the_minimum_over_a_workers_gpus_unknown_last(self):
        hives = {"h": hive(devices=[("g0", 100, 10), ("g1", 100, 70), ("g2", 100, 40)])}
        self.assertEqual(picked("most-free-vram", worker("a", gpus=["g0", "g1"]), worker("b", gpus=["g2"]), hives=hives), "b")
        self.assertEqual(picked("most-free-vram", worker("a", gpus=["missing"]), worker("b", gpus=["g1"]), hives=hives), "b")

    def test_unknown_policy_is_an_error_naming_the_choices(self):
        with self.assertRaisesRegex(ValueError, "least-loaded, most-free-vram"):
            picked("fastest", worker("a"))


def response(revision, kind, value=None, snapshot=False, epoch="e1", batch=()):
    res = queen_pb2.WatchResponse(revision=revision, epoch=epoch, snapshot=snapshot)
    if kind == "batch":
        res.batch.events.extend(batch)
    elif kind in ("snapshot_end", "bookmark"):
        getattr(res, kind).SetInParent()
    else:
        getattr(res, kind).CopyFrom(value)
    return res


def worker_event(type_, w, hive_id="h"):
    return queen_pb2.WorkerEvent(type=type_, hive_id=hive_id, worker=w)


def hive_event(type_, status):
    return queen_pb2.HiveEvent(type=type_, hive=status)


ADDED, UPDATED, REMOVED = queen_pb2.EVENT_TYPE_ADDED, queen_pb2.EVENT_TYPE_UPDATED, queen_pb2.EVENT_TYPE_REMOVED


class InformerApplyTest(unittest.TestCase):
    def setUp(self):
        self.changes = []
        # A channel that is never used (the informer is not started): the tests feed it messages.
        self.informer = Informer(grpc.insecure_channel("127.0.0.1:9"), on_change=lambda t, e: self.changes.append((t, e.key)))

    def snapshot(self, revision, epoch, *workers):
        self.informer._apply(response(revision, "hive", hive_event(ADDED, hive()), snapshot=True, epoch=epoch))
        events = [queen_pb2.WatchEvent(revision=revision, worker=worker_event(ADDED, w)) for w in workers]
        if events:
            self.informer._apply(response(revision, "batch", snapshot=True, epoch=epoch, batch=events))
        self.informer._apply(response(revision, "snapshot_end", snapshot=True, epoch=epoch))

    def test_a_snapshot_counts_once_whole_and_live_events_follow(self):
        self.snapshot(5, "e1", worker("a", waiting=3), worker("b", waiting=1))
        self.assertEqual(sorted(self.changes), [("added", "h/a"), ("added", "h/b")])
        self.assertEqual(self.informer.pick("m").worker.worker_id, "b")
        self.informer._apply(response(6, "worker", worker_event(UPDATED, worker("b", waiting=9))))
        self.assertEqual(self.informer.pick("m").worker.worker_id, "a")
        self.informer._apply(response(7, "worker", worker_event(REMOVED, worker("a"))))
        self.assertEqual([e.worker.worker_id for e in self.informer.candidates("m")], ["b"])
        self.assertEqual(self.informer.staleness()["revision"], 7)

    def test_a_new_snapshot_replaces_the_cache_and_removes_what_it_lacks(self):
        self.snapshot(5, "e1", worker("a"), worker("b"))
        self.changes.clear()
        self.snapshot(2, "e2", worker("b", waiting=4), worker("c"))
        self.assertEqual(sorted(self.changes), [("added", "h/c"), ("removed", "h/a"), ("updated", "h/b")])
        self.assertEqual(sorted(e.key for e in self.informer.workers()), ["h/b", "h/c"])
        self.assertEqual((self.informer.staleness()["revision"], self.informer.staleness()["epoch"]), (2, "e2"))

    def test_the_resume_point_does_not_move_inside_a_snapshot(self):
        self.snapshot(5, "e1", worker("a"))
        self.informer._apply(response(9, "hive", hive_event(ADDED, hive()), snapshot=True, epoch="e2"))
        self.assertEqual((self.informer.staleness()["revision"], self.informer.staleness()["epoch"]), (5, "e1"))
        self.assertEqual([e.key for e in self.informer.workers()], ["h/a"])

    def test_a_worker_of_an_unhealthy_hive_is_not_picked(self):
        self.snapshot(5, "e1", worker("a"))
        self.informer._apply(response(6, "hive", hive_event(UPDATED, hive(health=queen_pb2.HIVE_HEALTH_DEGRADED))))
        self.assertIsNone(self.informer.pick("m"))
        self.informer._apply(response(7, "hive", hive_event(REMOVED, hive())))
        self.assertEqual(self.informer.workers(), [])
        self.assertIn(("removed", "h/a"), self.changes)


if __name__ == "__main__":
    unittest.main()
