"""A project's fixed file names and its store URL rule, importable without pydantic.

One definition for the full config (:mod:`assay.config`) and the lean data path
(:mod:`assay.data._settings`, :mod:`assay._lean_add`).
"""

from __future__ import annotations

import os
from pathlib import Path

CONFIG_FILE = "assay.yaml"
STATE_DIR = ".assay"
POINTER_SUFFIX = ".assay"  # data/x.csv is tracked by the pointer file data/x.csv.assay


def store_url(configured: str | None, state_dir: Path) -> str:
    """``ASSAY_STORE_URL``, else ``store:`` in assay.yaml, else SQLite in ``.assay/``."""
    env = os.environ.get("ASSAY_STORE_URL", "").strip()
    if env:
        return env
    if configured:
        return configured
    return f"sqlite:///{state_dir / 'assay.db'}"
