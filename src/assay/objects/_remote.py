"""Remote object stores: any fsspec URL (a local folder, ``s3://bucket/prefix``, ...).

Objects keep the cache's layout on the remote (``<ab>/<cdef...>``). Push uploads only what the
remote lacks, files before the manifests that list them, so a manifest on the remote implies its
files are there too. Pull downloads to a temp name inside the cache, verifies the BLAKE3 hash and
only then publishes the object, so an interrupted or corrupt transfer never leaves a bad object.
Both are idempotent: a re-run after a kill transfers what is still missing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import (
    AssayError,
    CorruptObject,
    LocalDiskError,
    ObjectNotFound,
    RemoteError,
    UsageError,
)
from assay.objects._cache import DIR_SUFFIX, LocalCache, parse_manifest
from assay.objects._faults import local_fault
from assay.objects._hashing import hash_file, is_object_id

if TYPE_CHECKING:
    from assay.config import Project, RemoteConfig

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

    def as_dict(self) -> dict[str, Any]:
        return {"transferred": len(self.transferred), "skipped": self.skipped, "bytes": self.bytes,
                "unavailable": list(self.unavailable)}


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

    def _listing(self) -> set[str]:
        """Every object id on the remote."""
        found: set[str] = set()
        if self.local is not None:
            if not self.local.is_dir():
                if self.local.exists():
                    raise RemoteError(
                        f"Remote '{self.name}' ({self.url}) is not a folder", remote=self.name
                    )
                return found
            with self._errors("list"):
                for fan in os.scandir(self.local):
                    if len(fan.name) == 2 and fan.is_dir():
                        for item in os.scandir(fan.path):
                            if is_object_id(fan.name + item.name):
                                found.add(fan.name + item.name)
            return found
        fs = self._filesystem()
        with self._errors("list"):
            try:
                paths = fs.find(self._base)
            except FileNotFoundError:
                return found
        prefix = self._base + "/"
        for path in paths:
            rel = str(path).removeprefix(prefix)
            parts = rel.split("/")
            if len(parts) == 2 and is_object_id(parts[0] + parts[1]):
                found.add(parts[0] + parts[1])
        return found

    def _put(self, src: Path, oid: str) -> None:
        if self.local is not None:
            final = self.local / oid[:2] / oid[2:]
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = final.parent / f".{oid[2:10]}.{uuid.uuid4().hex}.part"
            try:
                shutil.copyfile(src, tmp)
                os.replace(tmp, final)
            except BaseException:
                with contextlib.suppress(OSError):  # a read-only disk refuses even this
                    tmp.unlink()
                raise
            return
        # Object stores publish a PUT atomically: a killed upload leaves nothing.
        self._filesystem().put_file(os.fspath(src), f"{self._base}/{self._rel(oid)}")

    def _get(self, oid: str, dest: Path) -> None:
        if self.local is not None:
            shutil.copyfile(self.local / oid[:2] / oid[2:], dest)
            return
        self._filesystem().get_file(f"{self._base}/{self._rel(oid)}", os.fspath(dest))

    # -- public ---------------------------------------------------------------------------

    def missing(self, oids: Iterable[str]) -> list[str]:
        """The objects among ``oids`` that the remote does not have (order kept).

        Raises:
            RemoteError: the remote cannot be reached or refuses us.
        """
        present = self._listing()
        return [oid for oid in dict.fromkeys(oids) if oid not in present]

    def push(
        self,
        cache: LocalCache,
        oids: Iterable[str],
        *,
        jobs: int | None = None,
        progress: ProgressFn | None = None,
    ) -> Transfer:
        """Upload the objects (``.dir`` manifests expanded) the remote lacks.

        Raises:
            ObjectNotFound: an object to push is not in the local cache.
            RemoteError: the remote cannot be reached or refuses us.
        """
        files: list[str] = []
        dirs: list[str] = []
        for oid in dict.fromkeys(oids):
            if oid.endswith(DIR_SUFFIX):
                files.extend(e.oid for e in cache.manifest(oid))
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
        todo = self.missing(wanted)
        result = Transfer(skipped=len(wanted) - len(todo))
        # Files first, then manifests: a manifest on the remote implies its files are there.
        todo_files = [o for o in todo if not o.endswith(DIR_SUFFIX)]
        todo_dirs = [o for o in todo if o.endswith(DIR_SUFFIX)]
        total = len(todo)
        if progress:
            progress(0, total)

        def upload(oid: str) -> int:
            path = cache.path_of(oid)
            with self._errors("upload to", writes=self.url):
                self._put(path, oid)
            return path.stat().st_size

        for batch in (todo_files, todo_dirs):
            for oid, size in self._run(upload, batch, jobs):
                result.transferred.append(oid)
                result.bytes += size
                if progress:
                    progress(len(result.transferred), total)
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
        requested = list(dict.fromkeys(oids))
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
                    f"(its bytes hash to {actual[:12]}...); it was not stored. "
                    "Re-push it from a clone with a good copy",
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

    def _run(
        self, fn: Callable[[str], int], oids: list[str], jobs: int | None
    ) -> Iterable[tuple[str, int]]:
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
