"""Remote object stores: any fsspec URL (a local folder, ``s3://bucket/prefix``, ...).

Objects keep the cache's layout on the remote (``<ab>/<cdef...>``). Push uploads only what the
remote lacks, files before the manifests that list them, so a manifest on the remote implies its
files are there too. Pull downloads to a temp name inside the cache, verifies the BLAKE3 hash and
only then publishes the object, so an interrupted or corrupt transfer never leaves a bad object.
Both are idempotent: a re-run after a kill transfers what is still missing.

Integrity: push uploads only bytes that hash to their name (hashed while copying to a folder
remote; hashed before the upload otherwise, unless this process hashed the object already), so
a corrupt local object is quarantined instead of spreading. A remote copy whose size differs
from the local object's is bad: push replaces it. ``push(verify=True)`` and :meth:`Remote.check`
re-hash remote copies; a bad one is set aside under ``quarantine/`` on the remote (never deleted)
and replaced from a good local copy.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from assay.errors import (
    AssayError,
    CorruptObject,
    LocalDiskError,
    ObjectNotFound,
    RemoteError,
    UsageError,
)
from assay.objects._cache import DIR_SUFFIX, LocalCache, ManifestEntry, parse_manifest
from assay.objects._copying import copy_hashing
from assay.objects._faults import local_fault
from assay.objects._hashing import CHUNK, hash_bytes, hash_file, is_object_id, new_hasher
from assay.objects._leftovers import Leftover, fan_dirs, is_fan, is_remote_tmp, remote_tmp_name

if TYPE_CHECKING:
    from assay.config import Project, RemoteConfig

_T = TypeVar("_T")
ProgressFn = Callable[[int, int], None]
"""Called with (objects done, objects total): once with 0 at the start, then after each one."""

_S3_DEFAULTS: dict[str, Any] = {
    "config_kwargs": {
        "connect_timeout": 3,
        "read_timeout": 20,
        "retries": {"max_attempts": 2, "mode": "standard"},
    },
}


@dataclass
class Transfer:
    """What a push or pull did."""

    transferred: list[str] = field(default_factory=list)
    skipped: int = 0
    bytes: int = 0
    unavailable: list[str] = field(default_factory=list)
    """What the caller asked for optionally and could not be transferred (not an error)."""
    checked: int = 0
    """Remote copies re-hashed (``push(verify=True)``)."""
    repaired: dict[str, str] = field(default_factory=dict)
    """Bad remote copies replaced by a good local copy: object -> what was wrong and where the
    bad copy was set aside."""

    def as_dict(self) -> dict[str, Any]:
        return {"transferred": len(self.transferred), "skipped": self.skipped, "bytes": self.bytes,
                "unavailable": list(self.unavailable), "checked": self.checked,
                "repaired": dict(self.repaired)}


QUARANTINE = "quarantine"
"""Where bad remote copies are set aside, under the remote's root (never read as objects)."""


_DOING = {"connect to": "connecting to", "list": "listing", "upload to": "uploading to",
          "download from": "downloading from"}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


class Remote:
    """A named remote object store.

    Args:
        config: the ``remotes.NAME`` section (url, options, jobs).
        root: the project root; a relative local path resolves against it.
        name: its name in assay.yaml (for messages).
    """

    def __init__(self, config: RemoteConfig, root: Path, *, name: str = "remote") -> None:
        self.name = name
        self.config = config
        self.jobs = config.jobs
        url = config.url
        self.local: Path | None = None
        if "://" not in url or url.startswith("file://"):
            raw = Path(url.removeprefix("file://")).expanduser()
            self.local = raw if raw.is_absolute() else (root / raw)
            self.local = Path(os.path.abspath(self.local))
            self.url = str(self.local)
        else:
            self.url = url.rstrip("/")
        self._fs: Any = None
        self._base = ""

    def __repr__(self) -> str:
        return f"Remote({self.name!r}, {self.url!r})"

    # -- backend --------------------------------------------------------------------------

    def _filesystem(self) -> Any:
        if self._fs is None:
            import fsspec

            options = dict(self.config.options)
            protocol = self.url.split("://", 1)[0]
            if protocol in ("s3", "s3a"):
                for key, value in _S3_DEFAULTS.items():
                    merged = dict(value)
                    merged.update(options.get(key, {}))
                    options[key] = merged
                options.setdefault("skip_instance_cache", True)
            with self._errors("connect to"):
                fs, base = fsspec.core.url_to_fs(self.url, **options)
            if protocol in ("s3", "s3a"):
                fs.retries = 2
            self._fs, self._base = fs, base.rstrip("/")
        return self._fs

    @contextlib.contextmanager
    def _errors(self, action: str, *, writes: Path | str | None = None,
                cache: LocalCache | None = None) -> Any:
        """The remote boundary: third-party filesystems raise many types; all become one line.

        A fault of a disk on this machine (full, read-only, access denied: :func:`local_fault`)
        is reported as that, naming ``writes`` (what the step writes; ``cache`` when it writes
        into the local cache), never as a network or credential problem.
        """
        try:
            yield
        except AssayError:
            raise
        except OSError as exc:
            fault = self._local_fault(exc, action, writes=writes, cache=cache)
            raise (fault or self._remote_error(action, exc)) from exc
        except ImportError as exc:
            raise RemoteError(
                f"Remote '{self.name}' ({self.url}) needs a missing package: {exc.name}; "
                "install it, e.g. pip install 'assay[s3]'",
                remote=self.name,
            ) from None
        except Exception as exc:  # boundary: botocore, aiohttp, ...
            raise self._remote_error(action, exc) from exc

    def _local_fault(self, exc: OSError, action: str, *, writes: Path | str | None = None,
                     cache: LocalCache | None = None) -> LocalDiskError | None:
        return local_fault(
            exc, path=cache.root if cache is not None else writes,
            doing=f"{_DOING.get(action, action)} remote '{self.name}' ({self.url})",
            outcome="nothing was stored" if cache is not None else "rerun once fixed",
            frees_cache=cache is not None)

    def _remote_error(self, action: str, exc: BaseException) -> RemoteError:
        return RemoteError(
            f"Cannot {action} remote '{self.name}' ({self.url}): {_first_line(exc)}; "
            "check the URL, network and credentials",
            remote=self.name,
        )

    def _rel(self, oid: str) -> str:
        return f"{oid[:2]}/{oid[2:]}"

    def _path(self, rel: str) -> str:
        return f"{self._base}/{rel}"

    def _inventory(self) -> dict[str, int]:
        """Every object on the remote and its size in bytes."""
        found: dict[str, int] = {}
        if self.local is not None:
            if not self.local.is_dir():
                if self.local.exists():
                    raise RemoteError(
                        f"Remote '{self.name}' ({self.url}) is not a folder", remote=self.name
                    )
                return found
            with self._errors("list"):
                for fan in fan_dirs(self.local):
                    for item in os.scandir(self.local / fan):
                        if is_object_id(fan + item.name) and item.is_file(follow_symlinks=False):
                            found[fan + item.name] = item.stat(follow_symlinks=False).st_size
            return found
        for rel, info in self._find().items():
            parts = rel.split("/")
            if len(parts) == 2 and is_object_id(parts[0] + parts[1]):
                found[parts[0] + parts[1]] = int(info.get("size") or 0)
        return found

    def _find(self) -> dict[str, dict[str, Any]]:
        """Every file under the remote's root (fsspec remotes): relative path -> details."""
        fs = self._filesystem()
        with self._errors("list"):
            try:
                listing = fs.find(self._base, detail=True)
            except FileNotFoundError:
                return {}
        prefix = self._base + "/"
        return {str(path).removeprefix(prefix): dict(info) for path, info in listing.items()
                if info.get("type", "file") == "file"}

    def _put(self, src: Path, oid: str, *, trusted: bool, replacing: bool) -> str | None:
        """Upload ``src`` as ``oid`` if its bytes hash to ``oid`` (``trusted``: this process
        hashed it already). With ``replacing``, the remote's current (bad) copy is set aside
        first; returns where it went (else None).

        Raises:
            _LocalCopyCorrupt: ``src`` does not hash to ``oid``; nothing was uploaded.
        """
        expected = oid.removesuffix(DIR_SUFFIX)
        if self.local is not None:
            final = self.local / oid[:2] / oid[2:]
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = final.parent / remote_tmp_name(oid)
            try:
                if trusted:
                    shutil.copyfile(src, tmp)
                else:  # hash the very bytes that are copied: one read of the object
                    hasher = new_hasher()
                    with open(src, "rb", buffering=0) as handle:
                        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                        try:
                            copy_hashing(handle, fd, os.fstat(handle.fileno()).st_size,
                                         hasher.update, small=CHUNK)
                        finally:
                            os.close(fd)
                    if hasher.hexdigest() != expected:
                        raise _LocalCopyCorrupt(oid)
                aside = self._set_aside(oid) if replacing else None
                os.replace(tmp, final)
            except BaseException:
                with contextlib.suppress(OSError):  # a read-only disk refuses even this
                    tmp.unlink()
                raise
            return aside
        if not trusted and hash_file(src) != expected:
            raise _LocalCopyCorrupt(oid)
        # Object stores publish a PUT atomically: a killed upload leaves nothing (a large one
        # may leave an unfinished multipart upload: see leftovers()).
        aside = self._set_aside(oid) if replacing else None
        self._filesystem().put_file(os.fspath(src), self._path(self._rel(oid)))
        return aside

    def _get(self, oid: str, dest: Path) -> None:
        if self.local is not None:
            shutil.copyfile(self.local / oid[:2] / oid[2:], dest)
            return
        self._filesystem().get_file(self._path(self._rel(oid)), os.fspath(dest))

    def _remote_hash(self, oid: str) -> str:
        """The BLAKE3 hash of the remote copy of ``oid`` (streamed, nothing stored)."""
        if self.local is not None:
            return hash_file(self.local / oid[:2] / oid[2:])
        hasher = new_hasher()
        with self._filesystem().open(self._path(self._rel(oid)), "rb") as handle:
            while chunk := handle.read(CHUNK):
                hasher.update(chunk)
        return hasher.hexdigest()

    def _set_aside(self, oid: str) -> str:
        """Copy the remote's copy of ``oid`` to ``quarantine/<oid>[.N]`` on the remote (never
        delete a corrupt object); returns that name, relative to the remote's root."""
        if self.local is not None:
            folder = self.local / QUARANTINE
            folder.mkdir(parents=True, exist_ok=True)
            n = 0
            while (folder / _numbered(oid, n)).exists():
                n += 1
            dest = folder / _numbered(oid, n)
            try:
                os.link(self.local / oid[:2] / oid[2:], dest)
            except OSError:
                shutil.copyfile(self.local / oid[:2] / oid[2:], dest)
            return f"{QUARANTINE}/{dest.name}"
        fs = self._filesystem()
        n = 0
        while fs.exists(self._path(f"{QUARANTINE}/{_numbered(oid, n)}")):
            n += 1
        name = f"{QUARANTINE}/{_numbered(oid, n)}"
        fs.copy(self._path(self._rel(oid)), self._path(name))
        return name

    def _remove_object(self, oid: str) -> None:
        if self.local is not None:
            (self.local / oid[:2] / oid[2:]).unlink(missing_ok=True)
            return
        self._filesystem().rm_file(self._path(self._rel(oid)))

    # -- public ---------------------------------------------------------------------------

    def where(self, name: str) -> str:
        """The full location of ``name`` (relative to the remote's root), for messages."""
        return f"{self.url}/{name}"

    def sizes(self) -> dict[str, int]:
        """Every object on the remote and its size in bytes.

        Raises:
            RemoteError: the remote cannot be reached or refuses us.
        """
        return self._inventory()

    def missing(self, oids: Iterable[str], *, cache: LocalCache | None = None) -> list[str]:
        """The objects among ``oids`` that the remote does not have (order kept). With
        ``cache``, a remote copy whose size differs from the cache's object counts as missing
        (it is bad: a push replaces it).

        Raises:
            RemoteError: the remote cannot be reached or refuses us.
        """
        present = self._inventory()
        out = []
        for oid in dict.fromkeys(oids):
            size = present.get(oid)
            if size is None or (cache is not None and cache.size_of(oid) not in (None, size)):
                out.append(oid)
        return out

    def check(self, oids: Iterable[str], *, jobs: int | None = None,
              progress: ProgressFn | None = None) -> dict[str, str]:
        """Re-hash the remote copies of ``oids``; returns the bad ones -> what is wrong.

        Raises:
            RemoteError: the remote cannot be reached or refuses us.
        """
        todo = list(dict.fromkeys(oids))

        def one(oid: str) -> str | None:
            with self._errors("read from"):
                actual = self._remote_hash(oid)
            if actual == oid.removesuffix(DIR_SUFFIX):
                return None
            return f"its bytes hash to {actual[:12]}..."

        bad: dict[str, str] = {}
        if progress:
            progress(0, len(todo))
        for done, (oid, problem) in enumerate(self._run(one, todo, jobs), start=1):
            if problem is not None:
                bad[oid] = problem
            if progress:
                progress(done, len(todo))
        return bad

    def manifest(self, oid: str) -> list[ManifestEntry]:
        """The entries of the remote's copy of directory object ``oid`` (hash-checked).

        Raises:
            CorruptObject: the remote copy does not match its hash, or is not a manifest.
            RemoteError: the remote cannot be reached or refuses us.
        """
        with self._errors("read from"):
            if self.local is not None:
                data = (self.local / oid[:2] / oid[2:]).read_bytes()
            else:
                data = bytes(self._filesystem().cat_file(self._path(self._rel(oid))))
        if hash_bytes(data) != oid.removesuffix(DIR_SUFFIX):
            raise CorruptObject(f"Manifest {oid} on remote '{self.name}' is corrupt", oid=oid)
        return parse_manifest(data, oid)

    def quarantine(self, oid: str) -> str:
        """Move the remote's (bad) copy of ``oid`` aside to ``quarantine/``; returns where. The
        object is then missing, so any clone's ``assay data push`` uploads a good copy."""
        with self._errors("write to"):
            aside = self._set_aside(oid)
            self._remove_object(oid)
        return aside

    def push(
        self,
        cache: LocalCache,
        oids: Iterable[str],
        *,
        jobs: int | None = None,
        progress: ProgressFn | None = None,
        verify: bool = False,
    ) -> Transfer:
        """Upload the objects (``.dir`` manifests expanded) the remote lacks, or has a bad copy
        of. Every upload's bytes are checked against its name first.

        Args:
            cache: where the objects are.
            oids: what to push.
            jobs: parallel transfers (default: the remote's ``jobs``).
            progress: called with (done, total).
            verify: also re-hash the remote copies already there (a download of each) and
                replace bad ones; without it only a wrong size shows a bad copy.

        Raises:
            ObjectNotFound: an object to push is not in the local cache.
            CorruptObject: a local object does not match its hash: it is quarantined and not
                pushed (nor the manifests that list it); the rest is pushed first.
            RemoteError: the remote cannot be reached or refuses us.
        """
        files: list[str] = []
        dirs: list[str] = []
        for oid in dict.fromkeys(oids):
            if oid.endswith(DIR_SUFFIX):
                try:
                    files.extend(e.oid for e in cache.manifest(oid))
                except CorruptObject:
                    with contextlib.suppress(CorruptObject):
                        cache.check([oid])  # quarantines it
                    raise _push_refused(cache, oid) from None
                dirs.append(oid)
            else:
                files.append(oid)
        wanted = list(dict.fromkeys([*files, *dirs]))
        for oid in wanted:
            if not cache.exists(oid):
                raise ObjectNotFound(
                    f"Object {oid} is not in the local cache, so it cannot be pushed; "
                    "run: assay data add (or pull it from where it lives)",
                    oid=oid,
                )
        present = self._inventory()
        bad: dict[str, str] = {}
        for oid in wanted:
            size = present.get(oid)
            local = cache.size_of(oid)
            if size is not None and local is not None and size != local:
                bad[oid] = f"{size} bytes on the remote instead of {local}"
        result = Transfer()
        if verify:
            again = [o for o in wanted if o in present and o not in bad]
            bad.update(self.check(again, jobs=jobs))
            result.checked = len(again)
        todo = [o for o in wanted if o not in present or o in bad]
        result.skipped = len(wanted) - len(todo)
        # Files first, then manifests: a manifest on the remote implies its files are there.
        todo_files = [o for o in todo if not o.endswith(DIR_SUFFIX)]
        todo_dirs = [o for o in todo if o.endswith(DIR_SUFFIX)]
        total = len(todo)
        if progress:
            progress(0, total)
        corrupt: list[CorruptObject] = []

        def upload(oid: str) -> int:
            path = cache.path_of(oid)
            size = path.stat().st_size
            try:
                with self._errors("upload to", writes=self.url):
                    aside = self._put(path, oid, trusted=cache.is_verified(oid),
                                      replacing=oid in bad)
            except _LocalCopyCorrupt:
                with contextlib.suppress(CorruptObject):
                    cache.check([oid])  # quarantines it and names it
                corrupt.append(_push_refused(cache, oid))
                return -1
            if aside is not None:
                result.repaired[oid] = f"{bad[oid]}; the bad copy is at {self.where(aside)}"
            return size

        def upload_all(batch: list[str]) -> None:
            for oid, size in self._run(upload, batch, jobs):
                if size < 0:
                    continue
                result.transferred.append(oid)
                result.bytes += size
                if progress:
                    progress(len(result.transferred), total)

        upload_all(todo_files)
        if corrupt:
            refused = {e.fields["oid"] for e in corrupt}
            todo_dirs = [d for d in todo_dirs
                         if not refused.intersection(e.oid for e in cache.manifest(d))]
        upload_all(todo_dirs)
        if corrupt:
            more = f" (and {len(corrupt) - 1} more)" if len(corrupt) > 1 else ""
            raise CorruptObject(f"{corrupt[0].message}{more}", oid=corrupt[0].fields["oid"],
                                pushed=len(result.transferred))
        return result

    def pull(
        self,
        cache: LocalCache,
        oids: Iterable[str],
        *,
        jobs: int | None = None,
        progress: ProgressFn | None = None,
    ) -> Transfer:
        """Download the objects (``.dir`` manifests expanded) the local cache lacks.

        Each download goes to a temp name in the cache, is hashed, and is published only if the
        hash matches its name.

        Raises:
            ObjectNotFound: an object is on neither the cache nor the remote.
            CorruptObject: a downloaded object does not match its hash (it is not stored).
            RemoteError: the remote cannot be reached or refuses us.
        """
        with cache.writing():
            return self._pull(cache, list(dict.fromkeys(oids)), jobs=jobs, progress=progress)

    def _pull(self, cache: LocalCache, requested: list[str], *, jobs: int | None,
              progress: ProgressFn | None) -> Transfer:
        result = Transfer()
        dirs = [o for o in requested if o.endswith(DIR_SUFFIX)]
        need_dirs = [o for o in dirs if not cache.exists(o)]
        for oid, size in self._run(lambda o: self._download(cache, o), need_dirs, jobs):
            result.transferred.append(oid)
            result.bytes += size
        files = [o for o in requested if not o.endswith(DIR_SUFFIX)]
        for oid in dirs:
            files.extend(e.oid for e in cache.manifest(oid))
        files = list(dict.fromkeys(files))
        todo = [o for o in files if not cache.exists(o)]
        result.skipped = len(files) - len(todo) + len(dirs) - len(need_dirs)
        total = len(todo)
        if progress:
            progress(0, total)
        for done, (oid, size) in enumerate(
            self._run(lambda o: self._download(cache, o), todo, jobs), start=1
        ):
            result.transferred.append(oid)
            result.bytes += size
            if progress:
                progress(done, total)
        return result

    def _download(self, cache: LocalCache, oid: str) -> int:
        try:
            tmp = cache.new_tmp(".pull")
        except OSError as exc:
            fault = self._local_fault(exc, "download from", cache=cache)
            if fault is None:
                raise
            raise fault from exc
        try:
            try:
                with self._errors("download from", cache=cache):
                    self._get(oid, tmp)
            except RemoteError as exc:
                if isinstance(exc.__cause__, FileNotFoundError):
                    raise ObjectNotFound(
                        f"Object {oid} is not on remote '{self.name}' ({self.url}); "
                        "push it from a clone that has it",
                        oid=oid,
                        remote=self.name,
                    ) from None
                raise
            actual = hash_file(tmp)
            if actual != oid.removesuffix(DIR_SUFFIX):
                raise CorruptObject(
                    f"Object {oid} downloaded from remote '{self.name}' is corrupt "
                    f"(its bytes hash to {actual[:12]}...); it was not stored. Repair the "
                    "remote from a clone with a good copy: assay data push --verify "
                    "(or assay fsck -r)",
                    oid=oid,
                    remote=self.name,
                )
            if oid.endswith(DIR_SUFFIX):
                parse_manifest(tmp.read_bytes(), oid)
            size = tmp.stat().st_size
            cache.publish(tmp, oid, durable=True)
            return size
        except OSError as exc:  # the local steps: hashing and publishing into the cache
            fault = self._local_fault(exc, "download from", cache=cache)
            if fault is None:
                raise
            raise fault from exc
        finally:
            with contextlib.suppress(OSError):  # a read-only disk refuses even this
                tmp.unlink()

    # -- leftovers ------------------------------------------------------------------------

    def leftovers(self, *, grace: float, now: float | None = None) -> list[Leftover]:
        """Temp files of killed pushes (folder remotes) and unfinished multipart uploads (S3)
        older than ``grace`` seconds. Writers on other machines share a remote, so only age
        tells that nobody owns one any more.

        Raises:
            RemoteError: the remote cannot be reached or refuses us.
        """
        now = time.time() if now is None else now
        found: list[Leftover] = []
        if self.local is not None:
            if not self.local.is_dir():
                return found
            with self._errors("list"):
                for fan in fan_dirs(self.local):
                    for item in os.scandir(self.local / fan):
                        st = item.stat(follow_symlinks=False)
                        age = now - st.st_mtime
                        if is_remote_tmp(item.name) and stat.S_ISREG(st.st_mode) and age >= grace:
                            found.append(Leftover(f"{fan}/{item.name}", st.st_size, age,
                                                  "an unfinished upload"))
            return sorted(found, key=lambda item: item.name)
        for rel, info in self._find().items():
            parts = rel.split("/")
            if len(parts) == 2 and is_fan(parts[0]) and is_remote_tmp(parts[1]):
                age = now - _timestamp(info.get("LastModified") or info.get("mtime"), now)
                if age >= grace:
                    found.append(Leftover(rel, int(info.get("size") or 0), age,
                                          "an unfinished upload"))
        found.extend(self._multipart_uploads(grace=grace, now=now))
        return sorted(found, key=lambda item: item.name)

    def _multipart_uploads(self, *, grace: float, now: float) -> list[Leftover]:
        if self.url.split("://", 1)[0] not in ("s3", "s3a"):
            return []
        fs = self._filesystem()
        bucket, _, prefix = self._base.partition("/")
        found: list[Leftover] = []
        markers: dict[str, str] = {}
        with self._errors("list"):
            while True:
                page = fs.call_s3("list_multipart_uploads", Bucket=bucket,
                                  Prefix=f"{prefix}/" if prefix else "", **markers)
                for upload in page.get("Uploads") or []:
                    age = now - _timestamp(upload.get("Initiated"), now)
                    if age < grace:
                        continue
                    parts = fs.call_s3("list_parts", Bucket=bucket, Key=upload["Key"],
                                       UploadId=upload["UploadId"])
                    size = sum(int(p.get("Size") or 0) for p in parts.get("Parts") or [])
                    key = str(upload["Key"]).removeprefix(f"{prefix}/" if prefix else "")
                    found.append(Leftover(key, size, age, "an unfinished multipart upload",
                                          upload=str(upload["UploadId"])))
                if not page.get("IsTruncated"):
                    return found
                markers = {"KeyMarker": page["NextKeyMarker"],
                           "UploadIdMarker": page["NextUploadIdMarker"]}

    def remove_leftover(self, item: Leftover) -> None:
        """Delete a temp file, or abort an unfinished multipart upload, found by
        :meth:`leftovers`.

        Raises:
            RemoteError: the remote cannot be reached or refuses us.
        """
        with self._errors("clean up"):
            if self.local is not None:
                (self.local / item.name).unlink(missing_ok=True)
            elif item.upload is not None:
                bucket, _, prefix = self._base.partition("/")
                key = f"{prefix}/{item.name}" if prefix else item.name
                self._filesystem().call_s3("abort_multipart_upload", Bucket=bucket, Key=key,
                                           UploadId=item.upload)
            else:
                self._filesystem().rm_file(self._path(item.name))

    def _run(
        self, fn: Callable[[str], _T], oids: list[str], jobs: int | None
    ) -> Iterable[tuple[str, _T]]:
        if not oids:
            return
        workers = max(1, min(jobs or self.jobs, len(oids)))
        if workers == 1:
            for oid in oids:
                yield oid, fn(oid)
            return
        with ThreadPoolExecutor(workers) as pool:
            futures = [(oid, pool.submit(fn, oid)) for oid in oids]
            try:
                for oid, future in futures:
                    yield oid, future.result()
            finally:
                for _, future in futures:
                    future.cancel()


def remote_for(project: Project, name: str | None) -> Remote:
    """The remote called ``name``, or the project's ``default_remote`` when ``name`` is None.

    Raises:
        UsageError: no such remote, or none configured.
    """
    from assay.config import suggest

    remotes = project.config.remotes
    if name is None:
        name = project.config.default_remote
        if name is None:
            if len(remotes) == 1:
                name = next(iter(remotes))
            elif not remotes:
                raise UsageError(
                    "No remote is configured; add one to assay.yaml, e.g. "
                    "remotes: {origin: s3://bucket/prefix} (or a folder path)"
                )
            else:
                raise UsageError(
                    f"Several remotes ({', '.join(sorted(remotes))}) and no default_remote; "
                    "pass --remote NAME or set default_remote in assay.yaml"
                )
    if name not in remotes:
        known = ", ".join(sorted(remotes)) or "none"
        raise UsageError(
            f"Unknown remote '{name}' (configured: {known}){suggest(name, list(remotes))}",
            remote=name,
        )
    return Remote(remotes[name], project.root, name=name)


class _LocalCopyCorrupt(CorruptObject):
    """The local object to upload does not hash to its name (internal to :meth:`Remote.push`)."""

    def __init__(self, oid: str) -> None:
        super().__init__(f"Cache object {oid} does not match its hash", oid=oid)


def _push_refused(cache: LocalCache, oid: str) -> CorruptObject:
    where = cache.quarantine_dir / oid
    return CorruptObject(
        f"Cache object {oid} is corrupt (its bytes do not match its hash), so it was not "
        f"pushed; it is quarantined in {where.parent}. Fetch a good copy (assay data pull) or "
        "add the data again, then push",
        oid=oid,
    )


def _numbered(oid: str, n: int) -> str:
    return oid if n == 0 else f"{oid}.{n}"


def _timestamp(value: Any, default: float) -> float:
    """Seconds since the epoch of an fsspec/botocore time (datetime, number or ISO text)."""
    if value is None:
        return default
    if hasattr(value, "timestamp"):
        return float(value.timestamp())
    if isinstance(value, (int, float)):
        return float(value)
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return default
