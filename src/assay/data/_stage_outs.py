"""The pipeline's stage outs, read from ``assay.lock`` so push and pull can carry them.

``assay.lock`` is JSON (README "Pipeline"): ``{"version": 1, "stages": {NAME: {"outs":
{PATH: OBJECT_ID}, ...}}}``. The pipeline owns the file; data sits below the pipeline layer and
reads only the part it needs, the ``outs`` of each stage, with this small reader.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from assay._layout import LOCK_FILE
from assay.errors import ConfigError
from assay.objects import is_object_id


@dataclass(frozen=True)
class StageOut:
    """One out of one stage, as the lock file records it."""

    stage: str
    path: str
    oid: str


def stage_outs(root: Path) -> list[StageOut]:
    """Every stage out recorded in ``root/assay.lock`` ([] when there is no lock file).

    Raises:
        ConfigError: the lock file is not JSON of the documented shape.
    """
    try:
        text = (root / LOCK_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    try:
        stages = json.loads(text)["stages"]
        found = [
            StageOut(stage=str(name), path=str(path), oid=str(oid))
            for name, entry in sorted(stages.items())
            for path, oid in sorted((entry.get("outs") or {}).items())
        ]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(
            f"{LOCK_FILE} is corrupt ({exc}); restore it from git, or delete it to rerun every "
            "stage", file=LOCK_FILE,
        ) from None
    bad = [o for o in found if not is_object_id(o.oid)]
    if bad:
        raise ConfigError(
            f"{LOCK_FILE} is corrupt (stage '{bad[0].stage}' out {bad[0].path} has a bad object "
            f"id {bad[0].oid!r}); restore it from git, or delete it to rerun every stage",
            file=LOCK_FILE,
        )
    return found
