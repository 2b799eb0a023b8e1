"""A Python client for apiary's queen: connect(), FindWorkers through queen_stub(), and an
Informer that keeps a live local copy of the cluster's workers and picks one per request."""

from .connection import connect, parse_address, queen_stub
from .index import ADDED, REMOVED, UPDATED, Entry
from .informer import Informer
from .policies import POLICIES, least_loaded_key, most_free_vram_key, pick_from

__all__ = [
    "ADDED", "REMOVED", "UPDATED", "Entry", "Informer", "POLICIES", "connect", "least_loaded_key",
    "most_free_vram_key", "parse_address", "pick_from", "queen_stub",
]
