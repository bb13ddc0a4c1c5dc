"""The project layout: where a project's files are, which store it uses, and the settings cache.

One definition of everything that both the full commands and the shortcuts the console script
answers early (:mod:`assay.cli._front`) need to know about a project, so the two can never
disagree:

- the fixed names: ``assay.yaml``, ``assay.lock``, ``.assay/`` and what lives in it, the
  pointer-file suffix, the built-in profile of a plain ``assay run``;
- :func:`find_root`, the one project-root lookup (``ASSAY_PROJECT``, else the working
  directory, upwards to the folder holding assay.yaml);
- :func:`store_url`, the store URL precedence (``ASSAY_STORE_URL`` > ``store:`` in assay.yaml >
  SQLite in ``.assay/``);
- the settings cache (``.assay/settings.json``): what a validated assay.yaml says that a fast
  reader needs, kept under the BLAKE3 hash of the assay.yaml bytes it was read from. Every full
  load of a project refreshes it (:meth:`assay.config.Project.load`); a reader that finds the
  hash of today's assay.yaml there may trust the values without pydantic;
- :func:`shortcuts_enabled`, the one off switch for every shortcut (``ASSAY_NO_FASTPATH=1``);
- :func:`ignore_in_git`, the one place that adds lines to the project's ``.gitignore`` (data
  added with ``assay data add``, stage outs when a stage first runs, ``.assay/``), and
  :func:`in_git_work_tree`.

Standard library only (blake3 loads inside :func:`digest_of`): this module runs before
everything else.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

CONFIG_FILE = "assay.yaml"
LOCK_FILE = "assay.lock"
"""Committed: the resolved hashes of the last run's deps and outs."""
DEFAULT_PARAMS_FILE = "params.yaml"
STATE_DIR = ".assay"
"""Local state, never committed (git-ignored by ``assay init``)."""
POINTER_SUFFIX = ".assay"
"""``data/x.csv`` is tracked by the pointer file ``data/x.csv.assay``."""
DEFAULT_PROFILE = "default"
"""The profile of a plain ``assay run`` (no ``--profile``)."""

# inside STATE_DIR
STORE_FILE = "assay.db"
STAT_CACHE_FILE = "state.db"
LOGS_DIR = "logs"
DATA_LOCK_FILE = "data.lock"
SETTINGS_FILE = "settings.json"
DATA_MARKER = "data-fresh.json"
"""The last clean ``assay data status`` / ``assay data add``: see :mod:`assay.data._fresh`."""
PIPELINE_MARKER = "pipeline/fresh.json"
"""The last fresh ``assay run`` per profile: see :mod:`assay.pipeline._fastpath`."""
PROFILE_LOCKS_DIR = "pipeline/profiles"
"""``<profile>.lock``: a profile run's own lock (it never touches ``assay.lock``)."""

PROJECT_ENV = "ASSAY_PROJECT"
STORE_ENV = "ASSAY_STORE_URL"
NO_FASTPATH_ENV = "ASSAY_NO_FASTPATH"
DEBUG_ENV = "ASSAY_DEBUG"

_SETTINGS_VERSION = 2


def find_root(start: Path | None = None) -> Path | None:
    """The folder holding assay.yaml: ``start`` (default: ``ASSAY_PROJECT``, else the working
    directory) or its nearest parent that has one; None when there is none."""
    env = os.environ.get(PROJECT_ENV)
    here = (start if start is not None else Path(env) if env else Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / CONFIG_FILE).is_file():
            return candidate
    return None


def lock_file(profile: str | None) -> str:
    """The lock of a run with ``profile``, relative to the project root: ``assay.lock`` for the
    plain run, ``.assay/pipeline/profiles/<profile>.lock`` (local, not committed) for a profile,
    so a light CI run never overwrites what the full run recorded."""
    if profile is None or profile == DEFAULT_PROFILE:
        return LOCK_FILE
    name = profile
    if not name.replace("-", "").replace("_", "").replace(".", "").isalnum() or name[0] == ".":
        import hashlib

        name = "profile-" + hashlib.blake2b(profile.encode(), digest_size=8).hexdigest()
    return f"{STATE_DIR}/{PROFILE_LOCKS_DIR}/{name}.lock"


def state_dir(root: Path) -> Path:
    """``.assay/`` of the project at ``root``."""
    return root / STATE_DIR


def store_url(configured: str | None, state: Path) -> str:
    """``ASSAY_STORE_URL``, else ``store:`` in assay.yaml (``configured``), else SQLite in the
    state folder ``state``."""
    return os.environ.get(STORE_ENV, "").strip() or configured or f"sqlite:///{state / STORE_FILE}"


def known_store_url(root: Path | None) -> str | None:
    """The store URL of the project at ``root`` without validating assay.yaml: from
    ``ASSAY_STORE_URL``, the settings cache, or an assay.yaml that cannot name a store (no
    ``store`` in it). None when only loading the project can tell (or there is no project)."""
    env = os.environ.get(STORE_ENV, "").strip()
    if env or root is None:
        return env or None
    found = cached_settings(root)
    if found is not None:
        configured = found[1].get("store")
        return store_url(configured, state_dir(root)) if (
            configured is None or isinstance(configured, str)) else None
    try:
        text = (root / CONFIG_FILE).read_bytes()
    except OSError:
        return None
    return None if b"store" in text else store_url(None, state_dir(root))


def user_cache_dir() -> Path:
    """Where assay remembers things per user and machine: ``$XDG_CACHE_HOME/assay``
    (``~/.cache/assay``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "assay"


def shortcuts_enabled() -> bool:
    """False when ``ASSAY_NO_FASTPATH`` is set (to anything but ``0``): every command then
    takes its full path. ``ASSAY_DEBUG=1`` does too (the full path prints tracebacks)."""
    off = os.environ.get(NO_FASTPATH_ENV, "").strip()
    return off in ("", "0") and os.environ.get(DEBUG_ENV, "") != "1"


# -- the settings cache --------------------------------------------------------------------


def digest_of(data: bytes) -> str:
    """BLAKE3 hex digest of ``data`` (the key of the settings cache)."""
    import blake3

    return str(blake3.blake3(data).hexdigest())


def config_digest(root: Path) -> str | None:
    """BLAKE3 of the project's assay.yaml as it is now (None if it cannot be read)."""
    try:
        return digest_of((root / CONFIG_FILE).read_bytes())
    except OSError:
        return None


def cached_settings(root: Path) -> tuple[str, dict[str, Any]] | None:
    """(assay.yaml digest, settings) if the cache holds the settings of assay.yaml as it is now,
    else None (never validated, changed since, or an unreadable cache)."""
    try:
        body = json.loads((state_dir(root) / SETTINGS_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(body, dict) or body.get("version") != _SETTINGS_VERSION:
        return None
    values = body.get("values")
    digest = body.get("config")
    if not isinstance(values, dict) or not isinstance(digest, str):
        return None
    return (digest, values) if config_digest(root) == digest else None


def remember_settings(root: Path, digest: str, values: dict[str, Any]) -> None:
    """Keep ``values`` (JSON) as the settings of the assay.yaml whose bytes hash to ``digest``
    (creating ``.assay/`` if needed). Best effort: the cache only saves time, so a read-only
    or full disk just leaves it as it was."""
    from assay._atomic import write_text_atomic

    path = state_dir(root) / SETTINGS_FILE
    body = {"version": _SETTINGS_VERSION, "config": digest, "values": values}
    text = json.dumps(body, sort_keys=True)
    with contextlib.suppress(OSError):
        if path.read_text() == text:
            return
    with contextlib.suppress(OSError):
        path.parent.mkdir(exist_ok=True)
        write_text_atomic(path, text, durable=False)


# -- .gitignore ----------------------------------------------------------------------------


def in_git_work_tree(root: Path) -> bool:
    """Whether ``root`` is inside a git work tree (a ``.git`` here or in a parent folder)."""
    return any((folder / ".git").exists() for folder in (root, *root.parents))


def ignored_path(rel: str) -> str:
    """The ``.gitignore`` line that matches exactly the project path ``rel`` (anchored at the
    root, glob characters and a trailing space escaped)."""
    escaped = "".join(f"\\{c}" if c in "\\*?[" else c for c in rel)
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return f"/{escaped}"


def ignore_in_git(root: Path, entries: list[str]) -> list[str]:
    """Append the ``entries`` the project's ``.gitignore`` lacks; return those added.

    An anchored entry (``/data/x.csv``) is already there when its unanchored form is, or when
    a folder holding it is ignored by an anchored entry (``/data/`` or ``/data``); the file is
    replaced atomically and keeps whatever it held.
    """
    from assay._atomic import write_text_atomic

    path = root / ".gitignore"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    lines = set(text.splitlines())
    missing: list[str] = []
    for entry in entries:
        if not entry.strip() or entry in lines or entry in missing or (
            entry.startswith("/") and entry[1:] in lines
        ):
            continue
        parts = entry.rstrip("/").split("/")[1:] if entry.startswith("/") else []
        folders = ["/" + "/".join(parts[:cut]) for cut in range(1, len(parts))]
        if any(f in lines or f"{f}/" in lines for f in folders):
            continue
        missing.append(entry)
    if not missing:
        return []
    if text and not text.endswith("\n"):
        text += "\n"
    write_text_atomic(path, text + "".join(f"{line}\n" for line in missing))
    return missing
