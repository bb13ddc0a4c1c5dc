"""The console script's fast path for `assay data status` and re-adding unchanged data: it
answers exactly as the full command does, without loading the heavy libraries, and steps aside
on any change."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

import pytest

from tests.conftest import TmpProject

FULL = {"ASSAY_NO_FASTPATH": "1"}
PROBE = (
    "import atexit, sys\n"
    "atexit.register(lambda: sys.stderr.write('HEAVY=' + ','.join(sorted(m for m in "
    "('sqlalchemy', 'pydantic', 'typer', 'polars', 'rich') if m in sys.modules)) + '\\n'))\n"
    "sys.argv = ['assay', *sys.argv[1:]]\n"
    "from assay._launcher import main\n"
    "main()\n"
)


def probe(project: TmpProject, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the console script in-process-of-a-child and report which heavy modules it loaded."""
    return subprocess.run([sys.executable, "-c", PROBE, *args], cwd=project.root,
                          env={**os.environ, **project.env}, capture_output=True, text=True,
                          timeout=120, check=False)


def heavy(done: subprocess.CompletedProcess[str]) -> str:
    line = [x for x in done.stderr.splitlines() if x.startswith("HEAVY=")][-1]
    return line.removeprefix("HEAVY=")


@pytest.fixture
def tracked(data_project: TmpProject) -> TmpProject:
    assert data_project.run("data", "add", "data/table.parquet").returncode == 0
    assert data_project.run("data", "add", "data/images").returncode == 0
    assert data_project.run("data", "status").returncode == 0  # writes the marker
    return data_project


@pytest.mark.parametrize("args", [["data", "status"], ["data", "status", "--json"]],
                         ids=["text", "json"])
def test_clean_status_is_answered_without_heavy_imports_and_matches_the_full_command(
    tracked: TmpProject, args: list[str]
) -> None:
    fast = probe(tracked, *args)
    full = tracked.run(*args, env=FULL)
    assert (fast.returncode, fast.stdout) == (full.returncode, full.stdout) == (0, full.stdout)
    assert heavy(fast) == ""
    assert "everything up to date" in full.stdout or '"ok"' in full.stdout


def test_re_adding_unchanged_data_is_answered_from_the_marker(tracked: TmpProject) -> None:
    fast = probe(tracked, "data", "add", "data/images")
    full = tracked.run("data", "add", "data/images", env=FULL)
    assert fast.stdout == full.stdout == f"unchanged data/images ({full.stdout.split('(')[1]}"
    assert heavy(fast) == ""


def _edit_same_size(p: TmpProject) -> None:
    target = p.root / "data" / "images" / "img1.bin"
    target.chmod(0o644)
    target.write_bytes(b"\xff" * target.stat().st_size)


def _drop_object(p: TmpProject) -> None:
    cache = p.root / ".assay" / "cache"
    victim = next(f for f in sorted(cache.rglob("*")) if f.is_file() and f.parent.name != "tmp"
                  and not f.name.endswith(".dir"))
    victim.chmod(0o644)
    victim.unlink()


def _new_pointer(p: TmpProject) -> None:
    p.gen({"data/other.txt": "more\n"})
    assert p.run("data", "add", "data/other.txt", env=FULL).returncode == 0


def _edit_config(p: TmpProject) -> None:
    with open(p.root / "assay.yaml", "a") as handle:
        handle.write("# a comment changes the file's hash\n")


def _edit_pointer(p: TmpProject) -> None:
    pointer = p.root / "data" / "table.parquet.assay"
    pointer.write_text(pointer.read_text().replace("nfiles: 1", "nfiles: 1\nsize: 1"))


def _delete_data(p: TmpProject) -> None:
    (p.root / "data" / "table.parquet").unlink()


def _new_file_in_folder(p: TmpProject) -> None:
    p.gen({"data/images/new.bin": b"new"})


def _chmod_exec(p: TmpProject) -> None:
    (p.root / "data" / "images" / "labels" / "l.txt").chmod(0o755)


@pytest.mark.parametrize("change", [
    _edit_same_size, _drop_object, _new_pointer, _edit_config, _edit_pointer, _delete_data,
    _new_file_in_folder, _chmod_exec,
], ids=lambda f: f.__name__.lstrip("_"))
def test_any_change_sends_status_down_the_full_path(
    tracked: TmpProject, change: Callable[[TmpProject], None]
) -> None:
    change(tracked)
    fast = probe(tracked, "data", "status")
    full = tracked.run("data", "status", env=FULL)
    assert (fast.returncode, fast.stdout, fast.stderr.count("error:")) == (
        full.returncode, full.stdout, full.stderr.count("error:"))
    if change is not _new_pointer:  # an add through the full path refreshes the marker
        assert "sqlalchemy" in heavy(fast) or "pydantic" in heavy(fast)


def test_a_garbled_marker_is_ignored(tracked: TmpProject) -> None:
    (tracked.root / ".assay" / "data-fresh.json").write_text("{not json")
    done = probe(tracked, "data", "status")
    assert done.returncode == 0 and "everything up to date" in done.stdout
    assert heavy(done) != ""


def test_other_options_take_the_full_path(tracked: TmpProject) -> None:
    done = probe(tracked, "data", "status", "-r")
    assert "not_pushed" in done.stdout
    assert heavy(done) != ""


def test_add_after_an_edit_versions_the_new_content(tracked: TmpProject) -> None:
    _edit_same_size(tracked)
    done = probe(tracked, "data", "add", "data/images")
    assert done.returncode == 0 and done.stdout.startswith("added data/images")
    assert probe(tracked, "data", "add", "data/images").stdout.startswith("unchanged")
