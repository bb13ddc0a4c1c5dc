from __future__ import annotations

import os
import subprocess
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assay._atomic import atomic_open, write_text_atomic
from assay._paths import (
    SafeTree,
    check_names,
    clean_relative,
    exact_relative,
    is_stale_temp,
    is_temp_name,
    resolve_inside,
    temp_name,
)
from assay.errors import UsageError


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("../etc/passwd", "'..' is not allowed"),
        ("a/../../b", "'..' is not allowed"),
        ("/etc/passwd", "absolute paths are not allowed"),
        ("a\\b", "backslashes are not allowed"),
        ("a\x00b", "control characters"),
        ("a\nb", "control characters"),
        ("a\x9bb", "control characters"),
        (".git/config", "'.git' is not allowed"),
        ("data/.git/hooks/pre-commit", "'.git' is not allowed"),
        (".assay", "'.assay' is not allowed"),
        ("data/.assay/cache", "'.assay' is not allowed"),
        ("", "Empty path"),
        ("./", "Empty path"),
        ("a/" + "x" * 256, "a name is longer than 255 bytes"),
        ("d/" + "\u00e9" * 128, "a name is longer than 255 bytes"),
        ("/".join(["y" * 200] * 21), "longer than 4095 bytes"),
        ("a/" * 256 + "b", "more than 256 levels deep"),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "backslash", "nul", "newline", "c1-control",
         "git", "nested-git", "assay", "nested-assay", "empty", "dot-only", "long-name",
         "long-name-in-bytes", "long-path", "deep"],
)
def test_unsafe_paths_are_rejected(raw: str, reason: str) -> None:
    with pytest.raises(UsageError, match=reason):
        clean_relative(raw)


@pytest.mark.parametrize(
    "raw",
    ["a%20b.csv", "%2e%2e", "%2e%2e/x", "%252e%252e/x", "%2F", "100%.csv", ".GIT/config",
     ".Assay", "C:/x", "   ", "x" * 255, "\u00e9t\u00e9.csv"],
    ids=["space-escape", "dotdot-escape", "dotdot-escape-folder", "double-escape",
         "slash-escape", "bare-percent", "upper-git", "mixed-case-assay", "drive-like",
         "spaces", "name-max", "unicode"],
)
def test_names_are_taken_literally_never_decoded(raw: str) -> None:
    # Linux is case-sensitive: .GIT is not git's folder. A percent sign is just a character.
    assert clean_relative(raw).as_posix() == raw


@pytest.mark.parametrize(
    ("names", "reason"),
    [
        (["x", "x/y"], "'x' is listed as a file and as a folder"),
        (["a/b/c", "a/b"], "'a/b' is listed as a file and as a folder"),
        (["x", "x"], "listed twice"),
        (["a//b"], "empty or '.' components"),
        (["./a"], "empty or '.' components"),
        (["a/"], "empty or '.' components"),
        (["ok", "z/.git/config"], "'.git' is not allowed"),
    ],
    ids=["file-and-folder", "deep-file-and-folder", "duplicate", "double-slash", "dot",
         "trailing-slash", "reserved"],
)
def test_a_set_of_names_is_checked_whole(names: list[str], reason: str) -> None:
    with pytest.raises(UsageError, match=reason):
        check_names(names)


def test_temp_names_fit_name_max_and_are_recognised(tmp_path: Path) -> None:
    long = "n" * 255
    for name in ("a.csv", long, "\u00e9" * 127):
        temp = temp_name(name)
        assert len(temp.encode("utf-8", "surrogateescape")) <= 255
        assert is_temp_name(temp) and not is_stale_temp(temp)  # this process is alive
        (tmp_path / temp).write_bytes(b"")  # the filesystem takes it
    assert not is_temp_name("a.csv") and not is_temp_name(".a.csv.assay-tmp")
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert is_stale_temp(f".a.csv.{gone.pid}-deadbeef.assay-tmp")  # its process has exited
    assert is_stale_temp(".a.csv.999999999.assay-tmp")  # the old format, an impossible pid
    assert not is_stale_temp(f".a.csv.{os.getpid()}.assay-tmp")


def _snapshot(folder: Path) -> dict[str, object]:
    out: dict[str, object] = {}
    for path in sorted(folder.rglob("*")):
        st = path.lstat()
        out[path.relative_to(folder).as_posix()] = (
            os.readlink(path) if path.is_symlink() else
            path.read_bytes() if path.is_file() else "dir", st.st_mode, st.st_mtime_ns)
    return out


@pytest.fixture
def world(tmp_path: Path) -> tuple[Path, Path]:
    """A root with symlinks out of it: ``out -> outside``, ``loop -> loop``, ``gone -> nowhere``."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x").write_text("outside")
    root = tmp_path / "root"
    (root / "real").mkdir(parents=True)
    (root / "out").symlink_to(outside)
    (root / "loop").symlink_to("loop")
    (root / "gone").symlink_to(tmp_path / "nowhere")
    (root / "real" / "up").symlink_to(outside)
    return root, outside


@pytest.mark.parametrize("rel", ["out/x", "loop/x", "gone/x", "real/up/x", "out/new/x"],
                         ids=["to-outside", "loop", "dangling", "nested", "to-create"])
def test_a_symlinked_folder_on_the_way_is_refused(world: tuple[Path, Path], rel: str) -> None:
    root, outside = world
    before = _snapshot(outside)
    with SafeTree(root) as tree:
        with pytest.raises(UsageError, match=r"Refusing to write through .*: it is a symlink"):
            tree.remove(PurePosixPath(rel))
        with pytest.raises(UsageError, match="it is a symlink"), \
                tree.parent(PurePosixPath(rel), create=True):
            pass
    assert _snapshot(outside) == before
    assert not (root.parent / "nowhere").exists()


@pytest.mark.parametrize("name", ["out", "loop", "gone"])
def test_replacing_a_symlink_removes_the_link_never_its_target(world: tuple[Path, Path],
                                                              name: str) -> None:
    root, outside = world
    before = _snapshot(outside)
    with SafeTree(root) as tree, tree.parent(PurePosixPath(name)) as top:
        assert top is not None
        with top.child(name, create=True, replace=True) as made:
            assert made.names() == []
        tree.remove(PurePosixPath("real"))  # a real folder holding a link out: link removed
    assert (root / name).is_dir() and not (root / name).is_symlink()
    assert not (root / "real").exists()
    assert _snapshot(outside) == before


@pytest.mark.parametrize("name", [".git", ".assay", "..", "a/b", ""])
def test_reserved_components_are_never_opened(tmp_path: Path, name: str) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".assay").mkdir()
    with SafeTree(tmp_path) as tree, tree.parent(PurePosixPath("x")) as top:
        assert top is not None
        with pytest.raises(UsageError, match="reserved or unsafe name"):
            top.child(name, create=True)
        with pytest.raises(UsageError, match="reserved or unsafe name"):
            top.remove(name)
    assert (tmp_path / ".git").is_dir() and (tmp_path / ".assay").is_dir()


@pytest.mark.parametrize("dest", [".git/hooks/pre-commit", "sub/.assay/x", "../x", "/etc/x"],
                         ids=["git", "nested-assay", "dotdot", "absolute"])
def test_write_paths_outside_or_reserved_are_refused(tmp_path: Path, dest: str) -> None:
    with SafeTree(tmp_path) as tree, pytest.raises(UsageError, match=r"not allowed|outside"):
        tree.relative(dest)


def test_symlink_escape_is_rejected(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(tmp_path)
    with pytest.raises(UsageError, match="outside the project"):
        resolve_inside(root, "link/secret")


def test_absolute_inside_is_allowed(tmp_path: Path) -> None:
    assert resolve_inside(tmp_path, str(tmp_path / "a" / "b")) == (tmp_path / "a" / "b").resolve()


@given(st.text(min_size=1, max_size=40))
def test_resolved_paths_never_leave_root(raw: str) -> None:
    root = Path("/tmp/assay-hypothesis-root")
    try:
        resolved = resolve_inside(root, raw)
    except UsageError:
        return
    assert resolved == root.resolve() or root.resolve() in resolved.parents


def test_atomic_write_leaves_old_content_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError, match="disk"), atomic_open(target) as handle:
        handle.write(b"partial")
        raise RuntimeError("disk went away")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)


@given(st.lists(st.sampled_from(["a", ".", "..", "", ".git", ".assay", "%2e", "b\\c", "\x85",
                                 "x" * 300, "\u00e9" * 100, " "]), min_size=1, max_size=5))
def test_the_fast_name_check_answers_as_the_full_one(parts: list[str]) -> None:
    raw = "/".join(parts)
    try:
        full: str | None = clean_relative(raw).as_posix()
    except UsageError:
        full = None
    try:
        fast: str | None = exact_relative(raw)
    except UsageError:
        fast = None
    assert fast == (raw if full == raw else None)
