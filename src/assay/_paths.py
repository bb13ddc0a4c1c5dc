"""The one path choke point (RELIABILITY.md rule 1).

Reading: every path that comes from outside (CLI argument, pointer file, manifest entry, JSON
field, model metadata) is checked by :func:`clean_relative` and joined to its root by
:func:`resolve_inside`. Names are taken literally: nothing here percent-decodes (no caller
receives a path inside a URL), so ``a%20b.csv`` and ``%2e%2e`` are ordinary file names.

Writing: every write and delete in a workspace (checkout, pull, stage-output restore) goes
through :class:`SafeTree`. It opens each path component relative to its parent's file
descriptor with ``O_NOFOLLOW`` (:meth:`SafeDir.child`, the one place a component is resolved),
so a symlink anywhere on the way (committed to git by someone else, or swapped in during the
write) is never followed: nothing outside the root, and nothing in ``.git`` or ``.assay``, is
written or deleted. Handlers never validate paths themselves.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath

from assay._layout import STATE_DIR
from assay.errors import UsageError

_FORBIDDEN_PARTS = {"..", ".git", STATE_DIR}
NAME_MAX = 255
"""Bytes in one path component (Linux NAME_MAX)."""
PATH_MAX = 4096
"""Bytes in a whole path, including the terminating NUL (Linux PATH_MAX)."""
MAX_DEPTH = 256
"""Folders in a path: writes hold one descriptor per level (far beyond any real dataset)."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
TEMP_SUFFIX = ".assay-tmp"
TEMP_IGNORE = ".*.assay-tmp"
"""The .gitignore pattern that covers every temp name :func:`temp_name` makes."""
_TEMP_NAME = re.compile(r"\.(?P<stem>.*)\.(?P<pid>[0-9]+)(?:-[0-9a-f]+)?\.assay-tmp", re.S)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def is_reserved(name: str) -> bool:
    """True if ``name`` is a component nothing may write or delete (``.git``, ``.assay``)."""
    return name in _FORBIDDEN_PARTS


def _has_control(text: str) -> bool:
    return _CONTROL.search(text) is not None


def _nbytes(text: str) -> int:
    return len(text.encode("utf-8", "surrogateescape"))


def clean_relative(raw: str, *, what: str = "path") -> PurePosixPath:
    """Validate a relative, forward-slash path from outside and return it normalised.

    The path is taken literally (never percent-decoded). Rejected: empty paths, absolute
    paths, ``..``, the reserved folders ``.git`` and ``.assay`` as any component (Linux is
    case-sensitive, so ``.GIT`` is an ordinary name), backslashes, NUL and control characters,
    a component longer than NAME_MAX or a path longer than PATH_MAX bytes, a path more than
    MAX_DEPTH levels deep. Empty and ``.``
    components are dropped (``./data//x`` is ``data/x``).

    Raises:
        UsageError: the path is unsafe, naming what was wrong.
    """
    if not raw:
        raise UsageError(f"Empty {what}", path=raw)
    if _has_control(raw):
        raise UsageError(f"Unsafe {what} {raw!r}: contains control characters", path=raw)
    if "\\" in raw:
        raise UsageError(f"Unsafe {what} {raw!r}: backslashes are not allowed", path=raw)
    if raw.startswith("/"):
        raise UsageError(f"Unsafe {what} {raw!r}: absolute paths are not allowed", path=raw)
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if not parts:
        raise UsageError(f"Empty {what}", path=raw)
    bad = _FORBIDDEN_PARTS.intersection(parts)
    if bad:
        raise UsageError(f"Unsafe {what} {raw!r}: '{sorted(bad)[0]}' is not allowed", path=raw)
    shown = raw if len(raw) <= 80 else f"{raw[:60]}...({len(raw)} characters)"
    for part in parts:
        if _nbytes(part) > NAME_MAX:
            raise UsageError(f"Unsafe {what} {shown!r}: a name is longer than {NAME_MAX} bytes",
                             path=raw)
    if _nbytes("/".join(parts)) >= PATH_MAX:
        raise UsageError(f"Unsafe {what} {shown!r}: longer than {PATH_MAX - 1} bytes", path=raw)
    if len(parts) > MAX_DEPTH:
        raise UsageError(f"Unsafe {what} {shown!r}: more than {MAX_DEPTH} levels deep",
                         path=raw)
    return PurePosixPath(*parts)


def exact_relative(raw: str, *, what: str = "path") -> str:
    """Validate a stored name (a manifest entry): safe, and already in its normal form.

    Unlike :func:`clean_relative` nothing is dropped: ``a//b`` or ``./a`` are refused, so a
    stored name is written exactly as it is stored.

    Raises:
        UsageError: the name is unsafe or not in its normal form.
    """
    parts = raw.split("/")
    if (raw and "\\" not in raw and "" not in parts and "." not in parts
            and _FORBIDDEN_PARTS.isdisjoint(parts) and len(parts) <= MAX_DEPTH
            and _CONTROL.search(raw) is None
            and (len(raw) * 4 < PATH_MAX or _nbytes(raw) < PATH_MAX)
            and all(len(p) * 4 <= NAME_MAX or _nbytes(p) <= NAME_MAX for p in parts)):
        return raw  # the common case, without building a path object (10,000 names a folder)
    clean_relative(raw, what=what)  # raises, naming what is wrong
    raise UsageError(f"Unsafe {what} {raw!r}: empty or '.' components", path=raw)


def check_names(paths: Iterable[str], *, what: str = "path") -> None:
    """Check the names of one folder's files together before any of them is written.

    Each must pass :func:`exact_relative`; no name may repeat, and no file may also be a
    folder of another (``x`` and ``x/y``).

    Raises:
        UsageError: naming the first bad name.
    """
    seen: set[str] = set()
    for path in paths:
        exact_relative(path, what=what)
        if path in seen:
            raise UsageError(f"Unsafe {what} {path!r}: listed twice", path=path)
        seen.add(path)
    for path in seen:
        head = path
        while "/" in head:
            head = head.rpartition("/")[0]
            if head in seen:
                raise UsageError(
                    f"Unsafe {what} {path!r}: {head!r} is listed as a file and as a folder",
                    path=path,
                )


def resolve_inside(root: Path, raw: str | os.PathLike[str], *, what: str = "path") -> Path:
    """Join an outside path to ``root`` and require the result (symlinks resolved) to stay inside.

    For reading and for naming things. Writes and deletes go through :class:`SafeTree`.
    ``raw`` may be absolute only if it already points inside ``root`` (a CLI argument such as
    ``$PWD/data/x.csv``). Relative paths are validated by :func:`clean_relative`.

    Raises:
        UsageError: the path escapes ``root``, or is unsafe.
    """
    root_resolved = root.resolve()
    text = os.fspath(raw)
    candidate = Path(text)
    if candidate.is_absolute():
        resolved = candidate.resolve()
    else:
        rel = clean_relative(text, what=what)
        resolved = (root_resolved / Path(*rel.parts)).resolve()
    if resolved != root_resolved and root_resolved not in resolved.parents:
        raise UsageError(
            f"{what.capitalize()} {text!r} is outside the project {root_resolved}", path=text
        )
    inside = resolved.relative_to(root_resolved)
    if inside.parts and inside.parts[0] == ".git":
        raise UsageError(f"Refusing to touch {text!r}: it is inside .git", path=text)
    return resolved


def relative_posix(root: Path, path: Path) -> str:
    """Return ``path`` relative to ``root`` as a forward-slash string."""
    return path.resolve().relative_to(root.resolve()).as_posix()


def relative_to_root(root: Path, dest: Path, *, what: str = "path") -> PurePosixPath:
    """``dest`` (absolute, or relative to ``root``) as a checked path relative to ``root``.

    Lexical only (no symlink is resolved): the write itself then walks it without following.

    Raises:
        UsageError: ``dest`` is outside ``root``, is ``root`` itself, or is unsafe.
    """
    base = os.path.abspath(root)
    full = os.path.abspath(os.path.join(base, dest))
    if full == base or not full.startswith(base.rstrip("/") + "/"):
        raise UsageError(f"Refusing to write {os.fspath(dest)!r}: it is outside {base}",
                         path=os.fspath(dest))
    return clean_relative(full[len(base.rstrip("/")) + 1:], what=what)


# -- temp names ------------------------------------------------------------------------------


def temp_name(name: str) -> str:
    """A fresh temp name beside ``name`` (same folder, so a rename is atomic).

    It names this process (a later run recognises temps of dead processes and removes them)
    and matches :data:`TEMP_IGNORE`, the pattern ``assay data add`` puts in .gitignore.
    """
    tail = f".{os.getpid()}-{os.urandom(4).hex()}{TEMP_SUFFIX}"
    room = NAME_MAX - 1 - len(tail)
    stem = name.encode("utf-8", "surrogateescape")[:room].decode("utf-8", "surrogateescape")
    return f".{stem}{tail}"


def is_temp_name(name: str) -> bool:
    """True if ``name`` is one assay writes while placing a file (never versioned data)."""
    return name.endswith(TEMP_SUFFIX) and _TEMP_NAME.fullmatch(name) is not None


def is_stale_temp(name: str) -> bool:
    """True if ``name`` is an assay temp name whose process is gone (safe to delete)."""
    found = _TEMP_NAME.fullmatch(name) if name.endswith(TEMP_SUFFIX) else None
    if found is None:
        return False
    pid = int(found["pid"])
    if pid <= 0 or pid > 2**22:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # alive, owned by another user
    return False


# -- writing ---------------------------------------------------------------------------------


class SafeDir:
    """An open folder reached from a :class:`SafeTree` root without following any symlink.

    Every write and delete below the root is made relative to one of these (``*at`` system
    calls on its file descriptor), so a name is always resolved inside this very folder.
    """

    def __init__(self, fd: int, path: Path) -> None:
        self.fd = fd
        self.path = path
        """Where the folder was (for messages and the stat cache; never used to write)."""

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> SafeDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def child(self, name: str, *, create: bool = False, replace: bool = False) -> SafeDir:
        """Open the subfolder ``name``: the one place a path component is resolved.

        Args:
            name: one component; reserved names (``.git``, ``.assay``, ``..``) are refused.
            create: make the folder if it is missing.
            replace: if a symlink or file is in the way, remove it (the link itself, never
                what it points to) and make a folder; without it that is refused.

        Raises:
            UsageError: a reserved name, or a symlink or file in the way (without replace).
            FileNotFoundError: the folder is missing (without create).
        """
        _check_component(name, self.path)
        try:
            return SafeDir(os.open(name, _DIR_FLAGS, dir_fd=self.fd), self.path / name)
        except FileNotFoundError:
            if not create:
                raise
        except OSError as exc:
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            st = self.lstat(name)
            if st is None or stat.S_ISDIR(st.st_mode):
                raise
            if not replace:
                kind = "a symlink" if stat.S_ISLNK(st.st_mode) else "not a folder"
                shown = self.path / name
                raise UsageError(
                    f"Refusing to write through {shown}: it is {kind}; assay never follows "
                    f"symlinks when writing (replace it with a real folder)",
                    path=str(shown), reason="symlink" if stat.S_ISLNK(st.st_mode) else "file",
                ) from None
            os.unlink(name, dir_fd=self.fd)
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o777, dir_fd=self.fd)
        return SafeDir(os.open(name, _DIR_FLAGS, dir_fd=self.fd), self.path / name)

    def lstat(self, name: str) -> os.stat_result | None:
        """The entry ``name`` itself (a symlink is not followed), or None if absent."""
        try:
            return os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def remove(self, name: str) -> None:
        """Delete ``name``: a file or symlink is unlinked, a real folder removed with
        everything in it (without following symlinks inside); absent is fine."""
        _check_component(name, self.path)
        st = self.lstat(name)
        if st is None:
            return
        if stat.S_ISDIR(st.st_mode):
            # fd-based on Linux (rmtree.avoids_symlink_attacks): never leaves this folder
            shutil.rmtree(name, dir_fd=self.fd)  # type: ignore[call-arg]  # 3.11 has dir_fd
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=self.fd)

    def rename(self, src: str, dst: str) -> None:
        """Atomically replace ``dst`` (a file or symlink, never followed) with ``src``."""
        _check_component(dst, self.path)
        os.replace(src, dst, src_dir_fd=self.fd, dst_dir_fd=self.fd)

    def names(self) -> list[os.DirEntry[str]]:
        """The entries of this folder (as ``os.scandir`` gives them; nothing is followed)."""
        with os.scandir(self.fd) as it:
            return list(it)

    def sweep_temps(self, *, everything: bool = False) -> list[str]:
        """Delete the temp files of dead assay processes here (``everything``: all of them).

        Returns the names removed.
        """
        gone = []
        for entry in self.names():
            if not entry.is_dir(follow_symlinks=False) and (
                is_stale_temp(entry.name) or (everything and is_temp_name(entry.name))
            ):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.name, dir_fd=self.fd)
                gone.append(entry.name)
        return gone


def _check_component(name: str, where: Path) -> None:
    if is_reserved(name) or name in ("", ".") or "/" in name or "\x00" in name:
        raise UsageError(f"Refusing to write {name!r} in {where}: reserved or unsafe name",
                         path=str(where / name))


class SafeTree:
    """Writes and deletes below ``root`` that never follow a symlink (RELIABILITY.md rule 1).

    ``root`` itself is trusted (the project, or a scratch folder the caller made); every path
    below it is checked by :func:`clean_relative` and then walked one component at a time with
    :meth:`SafeDir.child`. A folder on the way that is a symlink (or a file) is refused: only
    the caller's own target may be replaced, never the folders that lead to it.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.abspath(root))
        self._top = SafeDir(os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC),
                            self.root)

    def close(self) -> None:
        self._top.close()

    def __enter__(self) -> SafeTree:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def relative(self, dest: Path | str, *, what: str = "path") -> PurePosixPath:
        """``dest`` (absolute, or relative to the root) checked, relative to the root."""
        return relative_to_root(self.root, Path(dest), what=what)

    @contextlib.contextmanager
    def parent(self, rel: PurePosixPath, *, create: bool = False) -> Iterator[SafeDir | None]:
        """The folder that holds ``rel`` (None if it is missing and not ``create``).

        Raises:
            UsageError: a folder on the way is a symlink or a file.
        """
        current = SafeDir(os.dup(self._top.fd), self.root)
        try:
            for part in rel.parts[:-1]:
                try:
                    nxt = current.child(part, create=create)
                except FileNotFoundError:
                    yield None
                    return
                current.close()
                current = nxt
            yield current
        finally:
            current.close()

    def lstat(self, rel: PurePosixPath) -> os.stat_result | None:
        """The entry at ``rel`` itself (not followed), or None if it or a folder is missing.

        Raises:
            UsageError: a folder on the way is a symlink or a file.
        """
        with self.parent(rel) as folder:
            return None if folder is None else folder.lstat(rel.name)

    def remove(self, rel: PurePosixPath) -> None:
        """Delete whatever is at ``rel`` (file, symlink or folder) without following links.

        Raises:
            UsageError: a folder on the way is a symlink or a file.
        """
        with self.parent(rel) as folder:
            if folder is not None:
                folder.remove(rel.name)
