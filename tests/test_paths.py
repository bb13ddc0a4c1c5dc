from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assay._atomic import atomic_open, write_text_atomic
from assay._paths import clean_relative, resolve_inside
from assay.errors import UsageError


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("../etc/passwd", "'..' is not allowed"),
        ("a/../../b", "'..' is not allowed"),
        ("%2e%2e/x", "'..' is not allowed"),
        ("%252e%252e/x", "'..' is not allowed"),
        ("/etc/passwd", "absolute paths are not allowed"),
        ("C:/x", "absolute paths are not allowed"),
        ("a\\b", "backslashes are not allowed"),
        ("a\x00b", "control characters"),
        ("a\nb", "control characters"),
        (".git/config", "'.git' is not allowed"),
        ("", "Empty path"),
    ],
    ids=["dotdot", "nested-dotdot", "encoded", "double-encoded", "absolute", "drive", "backslash", "nul", "newline", "git", "empty"],
)
def test_unsafe_paths_are_rejected(raw: str, reason: str) -> None:
    with pytest.raises(UsageError, match=reason):
        clean_relative(raw)


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
