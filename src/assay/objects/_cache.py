"""The local content-addressed cache: objects named by BLAKE3 hash, two-level fan-out.

An object is written to a temp file inside the cache, fsynced, then renamed into place, so a
killed process never leaves a partial object visible under its name. A directory is stored as a
manifest object (``<hash>.dir``): sorted JSON entries of (path, oid, size, mode).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from assay._atomic import fsync_dir
from assay._paths import clean_relative
from assay.errors import CorruptObject, ObjectError, ObjectNotFound
from assay.objects._hashing import CHUNK, hash_bytes, hash_file, is_object_id, new_hasher
from assay.objects._links import link_or_copy, make_readonly

DIR_SUFFIX = ".dir"


@dataclass(frozen=True)
class ManifestEntry:
    """One file of a directory object."""

    path: str
    oid: str
    size: int
    mode: int = 0o644


@dataclass(frozen=True)
class Stored:
    """What adding a file or directory produced."""

    oid: str
    size: int
    nfiles: int

    @property
    def is_dir(self) -> bool:
        return self.oid.endswith(DIR_SUFFIX)


def _disk_full(exc: OSError, what: Path) -> ObjectError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return ObjectError(f"Disk full while writing to the cache ({what}); nothing was stored")
    return ObjectError(f"Cannot write to the cache ({what}): {exc.strerror or exc}")


class LocalCache:
    """Objects under ``root`` as ``root/ab/cdef...``; read-only once written."""

    def __init__(self, root: Path) -> None:
        self.root = root

    # -- naming ---------------------------------------------------------------------------

    def path_of(self, oid: str) -> Path:
        if not is_object_id(oid):
            raise CorruptObject(f"Not an object id: {oid!r}", oid=oid)
        return self.root / oid[:2] / oid[2:]

    def exists(self, oid: str) -> bool:
        return self.path_of(oid).is_file()

    def _tmp_dir(self) -> Path:
        tmp = self.root / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        return tmp

    def _publish(self, tmp: Path, oid: str, *, durable: bool) -> None:
        """Rename a fully written temp file to its object name (first writer wins)."""
        final = self.path_of(oid)
        if final.exists():
            tmp.unlink(missing_ok=True)
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        make_readonly(tmp)
        os.replace(tmp, final)
        if durable:
            fsync_dir(final.parent)

    # -- writing --------------------------------------------------------------------------

    def add_bytes(self, data: bytes, *, suffix: str = "", durable: bool = True) -> str:
        """Store ``data``; returns its object id (``suffix`` marks manifests)."""
        oid = hash_bytes(data) + suffix
        if self.exists(oid):
            return oid
        fd, name = tempfile.mkstemp(dir=self._tmp_dir(), suffix=".part")
        tmp = Path(name)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                if durable:
                    os.fsync(handle.fileno())
            self._publish(tmp, oid, durable=durable)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise _disk_full(exc, self.root) from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return oid

    def add_file(self, path: Path, *, hardlink: bool = False, durable: bool = True) -> Stored:
        """Store a file. Copy mode reads it once, hashing while copying; hardlink mode hashes
        it, then links it into the cache read-only (the workspace file becomes the object)."""
        size = os.stat(path).st_size
        if hardlink:
            oid = hash_file(path)
            if not self.exists(oid):
                tmp = self._tmp_dir() / f"{oid}.{os.getpid()}.link"
                tmp.unlink(missing_ok=True)
                try:
                    os.link(path, tmp)
                except OSError:
                    return self.add_file(path, hardlink=False, durable=durable)
                self._publish(tmp, oid, durable=durable)
            return Stored(oid=oid, size=size, nfiles=1)
        fd, name = tempfile.mkstemp(dir=self._tmp_dir(), suffix=".part")
        tmp = Path(name)
        hasher = new_hasher()
        try:
            with open(path, "rb") as src, os.fdopen(fd, "wb") as dst:
                while chunk := src.read(CHUNK):
                    hasher.update(chunk)
                    dst.write(chunk)
                dst.flush()
                if durable:
                    os.fsync(dst.fileno())
            oid = hasher.hexdigest()
            self._publish(tmp, oid, durable=durable)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise _disk_full(exc, self.root) from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return Stored(oid=oid, size=size, nfiles=1)

    def add_manifest(self, entries: Iterable[ManifestEntry], *, durable: bool = True) -> Stored:
        """Store a directory manifest; returns its ``.dir`` object."""
        ordered = sorted(entries, key=lambda e: e.path)
        payload = json.dumps(
            [{"path": e.path, "oid": e.oid, "size": e.size, "mode": e.mode} for e in ordered],
            separators=(",", ":"),
        ).encode()
        oid = self.add_bytes(payload, suffix=DIR_SUFFIX, durable=durable)
        return Stored(oid=oid, size=sum(e.size for e in ordered), nfiles=len(ordered))

    def add_dir(self, path: Path, *, hardlink: bool = False, durable: bool = True) -> Stored:
        """Store every file under ``path`` and a manifest listing them."""
        entries = []
        for file in sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink()):
            rel = file.relative_to(path).as_posix()
            stored = self.add_file(file, hardlink=hardlink, durable=durable)
            mode = 0o755 if os.access(file, os.X_OK) else 0o644
            entries.append(ManifestEntry(path=rel, oid=stored.oid, size=stored.size, mode=mode))
        return self.add_manifest(entries, durable=durable)

    # -- reading --------------------------------------------------------------------------

    def read_bytes(self, oid: str, *, verify: bool = True) -> bytes:
        path = self.path_of(oid)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ObjectNotFound(f"Object {oid} is not in the cache", oid=oid) from None
        if verify and hash_bytes(data) != oid.removesuffix(DIR_SUFFIX):
            raise CorruptObject(f"Object {oid} is corrupt; run: assay fsck", oid=oid)
        return data

    def manifest(self, oid: str) -> list[ManifestEntry]:
        """The entries of directory object ``oid``; every path is checked (no '..', no abs)."""
        if not oid.endswith(DIR_SUFFIX):
            raise ObjectError(f"Object {oid} is not a directory", oid=oid)
        try:
            raw = json.loads(self.read_bytes(oid))
            entries = [
                ManifestEntry(
                    path=clean_relative(str(item["path"]), what="manifest path").as_posix(),
                    oid=str(item["oid"]),
                    size=int(item["size"]),
                    mode=int(item.get("mode", 0o644)),
                )
                for item in raw
            ]
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptObject(f"Manifest {oid} is malformed: {exc}", oid=oid) from None
        for entry in entries:
            if not is_object_id(entry.oid) or entry.oid.endswith(DIR_SUFFIX):
                raise CorruptObject(f"Manifest {oid} lists a bad object id", oid=oid)
        return entries

    def verify(self, oid: str) -> bool:
        """True if the object exists and its bytes match its name."""
        path = self.path_of(oid)
        if not path.is_file():
            return False
        return hash_file(path) == oid.removesuffix(DIR_SUFFIX)

    def referenced(self, oid: str) -> list[str]:
        """``oid`` and, for a directory, every object it lists."""
        if oid.endswith(DIR_SUFFIX):
            return [oid, *(e.oid for e in self.manifest(oid))]
        return [oid]

    def iter_objects(self) -> Iterator[str]:
        """Every object id in the cache (not temp files, not quarantine)."""
        if not self.root.is_dir():
            return
        for fan in sorted(self.root.iterdir()):
            if len(fan.name) != 2 or not fan.is_dir():
                continue
            for item in sorted(fan.iterdir()):
                oid = fan.name + item.name
                if is_object_id(oid):
                    yield oid

    def quarantine(self, oid: str) -> Path:
        """Move a corrupt object aside (never delete it); returns where it went."""
        src = self.path_of(oid)
        dest_dir = self.root.parent / "quarantine"
        dest_dir.mkdir(parents=True, exist_ok=True)
        dest = dest_dir / oid
        os.replace(src, dest)
        return dest

    def remove(self, oid: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path_of(oid).unlink()

    # -- materialising --------------------------------------------------------------------

    def checkout_file(self, oid: str, dest: Path, link_types: list[str]) -> str:
        """Place object ``oid`` at ``dest`` (replacing it atomically). Returns the link type."""
        src = self.path_of(oid)
        if not src.is_file():
            raise ObjectNotFound(
                f"Object {oid} for {dest} is not in the cache; run: assay data pull", oid=oid
            )
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.assay-tmp")
        tmp.unlink(missing_ok=True)
        used = link_or_copy(src, tmp, link_types)
        os.replace(tmp, dest)
        return used

    def checkout(self, oid: str, dest: Path, link_types: list[str]) -> None:
        """Place a file or directory object at ``dest``; a directory is made to match exactly."""
        if not oid.endswith(DIR_SUFFIX):
            if dest.is_dir() and not dest.is_symlink():
                shutil.rmtree(dest)
            self.checkout_file(oid, dest, link_types)
            return
        entries = self.manifest(oid)
        if dest.exists() and not dest.is_dir():
            dest.unlink()
        dest.mkdir(parents=True, exist_ok=True)
        wanted = {e.path for e in entries}
        for entry in entries:
            target = dest / entry.path
            self.checkout_file(entry.oid, target, link_types)
        for existing in sorted(dest.rglob("*"), reverse=True):
            rel = existing.relative_to(dest).as_posix()
            if existing.is_file() and rel not in wanted:
                existing.unlink()
            elif existing.is_dir() and not any(existing.iterdir()):
                existing.rmdir()
