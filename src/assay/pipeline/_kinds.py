"""Finding built-in stage kinds: entry points in ``assay.stage_kinds`` plus ``ASSAY_EXTRA_KINDS``.

``ASSAY_EXTRA_KINDS=module:OBJECT,...`` adds kinds without installing a distribution (tests and
in-house kinds under development use it).
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from assay.errors import PipelineError

GROUP = "assay.stage_kinds"
EXTRA_ENV = "ASSAY_EXTRA_KINDS"

_LOADED: dict[str, Any] = {}


def _load(ref: str) -> Any:
    module, _, attr = ref.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split(".") if attr else []:
        obj = getattr(obj, part)
    return obj


def kind_refs() -> dict[str, str]:
    """Kind name -> ``module:OBJECT`` for every registered kind."""
    from importlib.metadata import entry_points

    refs = {ep.name: ep.value for ep in entry_points(group=GROUP)}
    for item in os.environ.get(EXTRA_ENV, "").split(","):
        item = item.strip()
        if not item:
            continue
        name, eq, ref = item.partition("=")
        if eq:
            refs[name.strip()] = ref.strip()
        else:
            obj = _load(item)
            refs[str(obj.name)] = item
    return refs


def get_kind(name: str, *, where: str = "assay.yaml") -> Any:
    """The kind object called ``name``.

    Raises:
        PipelineError: no such kind (the message lists the known kinds), or it fails to load.
    """
    if name in _LOADED:
        return _LOADED[name]
    refs = kind_refs()
    if name not in refs:
        from assay.config import suggest

        known = sorted(refs)
        raise PipelineError(
            f"{where}: unknown stage kind '{name}'{suggest(name, known)}; known kinds: "
            f"{', '.join(known) or '(none installed)'}",
            kind=name,
        )
    try:
        kind = _load(refs[name])
    except (ImportError, AttributeError) as exc:
        raise PipelineError(
            f"Stage kind '{name}' ({refs[name]}) failed to load: {exc}", kind=name
        ) from exc
    _LOADED[name] = kind
    return kind
