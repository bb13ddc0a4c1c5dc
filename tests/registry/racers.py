"""Worker processes for the promotion race tests (importable by spawned processes)."""

from __future__ import annotations

from typing import Any


def race_promote(store_url: str, ref: str, alias: str, expected: int, barrier: Any,
                 results: Any) -> None:
    """Wait for every racer, then promote ``ref`` deciding on revision ``expected``."""
    from assay.errors import ConcurrencyError
    from assay.registry import promote
    from assay.store import open_store
    from tests.registry.worlds import ML, config

    store = open_store(store_url)
    try:
        barrier.wait(timeout=60)
        try:
            move = promote(store, config(promotion={}), ref, to=alias, actor=ML,
                           expected_revision=expected)
            results.put(("won", ref, move.revision))
        except ConcurrencyError as exc:
            results.put(("lost", ref, str(exc)))
    finally:
        store.close()
