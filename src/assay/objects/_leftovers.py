"""Temp files: how the cache and folder remotes name them, and which ones are left over.

A write goes to a temp file first and is renamed to its object name when complete (RELIABILITY.md
rule 2), so a killed add, pull or push leaves its temp file behind (as large as the object: a
GiB for a GiB file). The names are recognised strictly, so ``assay gc`` touches nothing else in
a shared folder, and carry the writer's pid, so a temp file whose writer is gone can be removed at
once; one without a pid only when older than the grace period, and one whose pid is alive only
when untouched for a day (a writer keeps its file's mtime fresh; the pid may have been reused).

- ``<cache>/tmp/<pid>.<32 hex><.part|.link|.pull>`` (without ``<pid>.`` before this version);
- ``<cache>/<ab>/.<12 hex>.<pid>.<12 hex>.part``, beside the object it will become;
- ``<remote>/<ab>/.<8 hex>.<32 hex>.part`` on a folder remote (other machines write there too,
  so only age counts).
"""

from __future__ import annotations

import os
import re
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TMP_DIR = "tmp"
TMP_SUFFIXES = (".part", ".link", ".pull")
_IN_TMP = re.compile(r"(?:(?P<pid>[0-9]{1,10})\.)?[0-9a-f]{32}\.(?:part|link|pull)")
_IN_FAN = re.compile(r"\.[0-9a-f]{12}\.(?:(?P<pid>[0-9]{1,10})\.)?[0-9a-f]{12}\.part")
_ON_REMOTE = re.compile(r"\.[0-9a-f]{8}\.[0-9a-f]{32}\.part")
_FAN = re.compile(r"[0-9a-f]{2}")
LIVE_WRITER_SECONDS = 24 * 3600.0


@dataclass(frozen=True)
class Leftover:
    """A temp file (or an unfinished upload) that no live writer may still own."""

    name: str
    """Where it is, relative to the cache or remote root (an upload: its key and upload id)."""
    size: int
    age: float
    """Seconds since it was last written (or, for an upload, started)."""
    reason: str
    upload: str | None = None
    """The id of an unfinished multipart upload (None: a file)."""

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "size": self.size, "age_seconds": round(self.age, 1),
                "reason": self.reason, "upload": self.upload}


def tmp_name(suffix: str) -> str:
    """A fresh temp name for ``<cache>/tmp``."""
    return f"{os.getpid()}.{os.urandom(16).hex()}{suffix}"


def fan_tmp_name(oid: str) -> str:
    """A fresh temp name beside object ``oid`` in its fan-out folder."""
    return f".{oid[2:14]}.{os.getpid()}.{os.urandom(6).hex()}.part"


def remote_tmp_name(oid: str) -> str:
    """A fresh temp name beside object ``oid`` on a folder remote."""
    return f".{oid[2:10]}.{os.urandom(16).hex()}.part"


def is_fan(name: str) -> bool:
    return _FAN.fullmatch(name) is not None


def is_remote_tmp(name: str) -> bool:
    return _ON_REMOTE.fullmatch(name) is not None


def pid_is_alive(pid: int) -> bool:
    """True if process ``pid`` exists on this machine (or may: not ours to signal)."""
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _verdict(match: re.Match[str], st: os.stat_result, now: float, grace: float
             ) -> str | None:
    age = now - st.st_mtime
    pid_text = match.group("pid")
    if pid_text is not None and int(pid_text) == os.getpid():
        return None  # this process's own write in progress
    if pid_text is not None and not pid_is_alive(int(pid_text)):
        return f"its writer (pid {pid_text}) is gone"
    # A live pid may be its writer (or a later process that reuses the number): only a temp
    # file untouched for a day is taken from it. Without a pid, age alone tells.
    if age >= (max(grace, LIVE_WRITER_SECONDS) if pid_text is not None else grace):
        return f"untouched for {_duration(age)}"
    return None


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _regular_files(folder: Path) -> Iterator[tuple[str, os.stat_result]]:
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            yield entry.name, st


def cache_leftovers(root: Path, *, grace: float, now: float | None = None) -> list[Leftover]:
    """The temp files under cache ``root`` whose writer is gone or that are older than ``grace``
    seconds (a temp file of this very process is never one)."""
    now = time.time() if now is None else now
    found: list[Leftover] = []
    tmp = root / TMP_DIR
    if tmp.is_dir() and not tmp.is_symlink():
        for name, st in _regular_files(tmp):
            match = _IN_TMP.fullmatch(name)
            if match and (why := _verdict(match, st, now, grace)):
                found.append(Leftover(f"{TMP_DIR}/{name}", st.st_size, now - st.st_mtime, why))
    for fan in fan_dirs(root):
        for name, st in _regular_files(root / fan):
            match = _IN_FAN.fullmatch(name)
            if match and (why := _verdict(match, st, now, grace)):
                found.append(Leftover(f"{fan}/{name}", st.st_size, now - st.st_mtime, why))
    return sorted(found, key=lambda item: item.name)


def fan_dirs(root: Path) -> list[str]:
    """The two-hex-digit folders directly under ``root`` (real folders, not symlinks)."""
    try:
        entries = list(os.scandir(root))
    except OSError:
        return []
    return sorted(e.name for e in entries
                  if is_fan(e.name) and e.is_dir(follow_symlinks=False))
