"""The cache key of a stage: the hash of its resolved definition, its deps' hashes, its params."""

from __future__ import annotations

import json
from typing import Any

from assay.objects import hash_bytes


def canonical_json(value: Any) -> bytes:
    """JSON with sorted keys and no whitespace: equal values give equal bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()


def definition_hash(definition: dict[str, Any]) -> str:
    return hash_bytes(canonical_json(definition))


def compute_cache_key(
    definition: dict[str, Any], dep_hashes: dict[str, str | None], params: dict[str, Any]
) -> str:
    """BLAKE3 of the canonical JSON of (definition, dep hashes, param values).

    Mapping order never matters (keys are sorted); list order does (it is part of a command).
    """
    return hash_bytes(
        canonical_json({"definition": definition, "deps": dep_hashes, "params": params})
    )
