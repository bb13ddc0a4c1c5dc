"""`assay data add` from the data settings saved for an unchanged assay.yaml: the same records,
pointer files, output and errors as the full command, without pydantic or the CLI framework;
any doubt about the saved settings sends the command down the full path."""

from __future__ import annotations

import json
import os
import re
import sqlite3
from pathlib import Path

import blake3
import pytest

from assay.cli._front import DATA_ADD
from assay.data import DataSettings
from assay.objects import _prehash
from assay.objects._hashing import hash_file
from tests.conftest import TmpProject
from tests.data.test_fastpath import FULL, heavy, probe

SETTINGS = Path(".assay") / "settings.json"


def _timeless(text: str) -> str:
    return re.sub(r"\(\d+\.\d\d s\)", "(T s)", text)


def _versions(root: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(root / ".assay" / "assay.db")
    try:
        return conn.execute("SELECT name, path, hash, kind, size, nfiles, message, actor"
                            " FROM dataset_versions ORDER BY id").fetchall()
    finally:
        conn.close()


@pytest.fixture
def warmed(tmp_project: TmpProject) -> TmpProject:
    """A project where one full `assay data add` saved the data settings."""
    tmp_project.config(cache={"type": ["hardlink", "copy"]},
                       datasets={"churn": {"path": "data/churn.csv"}})
    tmp_project.gen({"first.txt": "first\n", "a.txt": "aaa\n", "b.txt": "bbbb\n",
                     "folder/x.bin": b"x" * 100, "folder/y.bin": b"y" * 50})
    done = tmp_project.run("data", "add", "first.txt", env=FULL)
    assert done.returncode == 0, done.stderr
    saved = json.loads((tmp_project.root / SETTINGS).read_text())["values"]
    assert saved["cache_types"] == ["hardlink", "copy"]
    assert saved["datasets"] == {"churn": "data/churn.csv"}
    return tmp_project


def test_add_needs_neither_pydantic_nor_the_cli_framework(warmed: TmpProject) -> None:
    done = probe(warmed, "data", "add", "a.txt", "folder", "-m", "why")
    assert done.returncode == 0, done.stderr
    assert heavy(done) == ""
    assert done.stdout.startswith("added a.txt as 'a' v1 (4 B) -> a.txt.assay [")
    assert "added folder as 'folder' v1 (2 files, 150 B) -> folder.assay [" in done.stdout
    assert (warmed.root / "a.txt.assay").is_file() and (warmed.root / "folder.assay").is_file()
    assert "/a.txt" in (warmed.root / ".gitignore").read_text().splitlines()
    assert _versions(warmed.root)[-1][6] == "why"


def test_lean_and_full_add_print_and_record_the_same(warmed: TmpProject,
                                                     tmp_path: Path) -> None:
    twin = TmpProject(tmp_path / "twin")
    twin.root.mkdir()
    twin.gen({name: (warmed.root / name).read_bytes()
              for name in ("assay.yaml", "first.txt", "a.txt", "b.txt")})
    assert twin.run("data", "add", "first.txt", env=FULL).returncode == 0
    lean = [probe(warmed, "data", "add", "a.txt", "--name", "alpha"),
            probe(warmed, "data", "add", "b.txt", "--json")]
    full = [twin.run("data", "add", "a.txt", "--name", "alpha", env=FULL),
            twin.run("data", "add", "b.txt", "--json", env=FULL)]
    assert heavy(lean[0]) == heavy(lean[1]) == ""
    assert _timeless(lean[0].stdout) == _timeless(full[0].stdout)
    assert json.loads(lean[1].stdout) == json.loads(full[1].stdout)
    assert _versions(warmed.root) == _versions(twin.root)
    for pointer in ("a.txt.assay", "b.txt.assay"):
        assert (warmed.root / pointer).read_text() == (twin.root / pointer).read_text()


@pytest.mark.parametrize(("args", "code", "message"), [
    (["missing.txt"], 2, "error: missing.txt does not exist"),
    (["a.txt", "b.txt", "--name", "x"], 2, "error: --name works with one path at a time"),
    (["assay.yaml"], 2, "error: Refusing to track assay.yaml: it is the project's configuration"),
    (["a.txt", "--name", "churn"], 2, "error: Dataset name 'churn' belongs to data/churn.csv "
                                      "(assay.yaml:"),
    (["../outside.txt"], 2, "error: "),
], ids=["missing", "name-with-two", "config-file", "taken-name", "outside"])
def test_errors_are_the_full_commands_errors(warmed: TmpProject, args: list[str], code: int,
                                             message: str) -> None:
    (warmed.root.parent / "outside.txt").write_text("out\n")
    lean = probe(warmed, "data", "add", *args)
    full = warmed.run("data", "add", *args, env=FULL)
    assert heavy(lean) == ""
    lean_err = "".join(f"{line}\n" for line in lean.stderr.splitlines()
                       if not line.startswith("HEAVY="))
    assert (lean.returncode, lean.stdout, lean_err) == (full.returncode, full.stdout, full.stderr)
    assert full.returncode == code and full.stderr.startswith(message)
    assert len(full.stderr.splitlines()) == 1


def _edit_config(p: TmpProject) -> None:
    with open(p.root / "assay.yaml", "a") as handle:
        handle.write("# a comment changes the file's hash\n")


def _garble_settings(p: TmpProject) -> None:
    cached = json.loads((p.root / SETTINGS).read_text())
    cached["values"]["cache_types"] = ["teleport"]
    (p.root / SETTINGS).write_text(json.dumps(cached))


def _drop_settings(p: TmpProject) -> None:
    (p.root / SETTINGS).unlink()


@pytest.mark.parametrize("change", [_edit_config, _garble_settings, _drop_settings],
                         ids=lambda f: f.__name__.lstrip("_"))
def test_doubtful_settings_take_the_full_path(warmed: TmpProject, change: object) -> None:
    change(warmed)  # type: ignore[operator]
    done = probe(warmed, "data", "add", "a.txt")
    assert done.returncode == 0 and done.stdout.startswith("added a.txt")
    assert "pydantic" in heavy(done)
    again = probe(warmed, "data", "add", "b.txt")  # the full add saved fresh settings
    assert again.returncode == 0 and heavy(again) == ""


def test_a_broken_config_is_reported_not_bypassed(warmed: TmpProject) -> None:
    (warmed.root / "assay.yaml").write_text("project: x\ncache:\n  tipe: [copy]\n")
    done = probe(warmed, "data", "add", "a.txt")
    assert done.returncode == 2 and "tipe" in done.stderr
    assert not (warmed.root / "a.txt.assay").exists()


@pytest.mark.parametrize("args", [["--help"], ["a.txt", "--force"], ["-n"], ["--", "a.txt"],
                                  ["-nx", "a.txt"]],
                         ids=["help", "unknown-option", "dangling", "dashdash", "attached"])
def test_other_command_lines_are_left_to_the_cli(args: list[str]) -> None:
    assert DATA_ADD.parse(args) is None


def test_parse_reads_the_options_the_cli_has() -> None:
    parsed = DATA_ADD.parse(["a", "--name=x", "-m", "why", "--json", "b"])
    assert parsed is not None
    assert (parsed.arguments, parsed.values) == (
        ["a", "b"], {"name": "x", "message": "why", "json_out": True})


def test_only_link_modes_hash_ahead() -> None:
    assert _prehash.is_worth_starting(["hardlink", "copy"])
    assert _prehash.is_worth_starting(["reflink", "hardlink"])
    assert not _prehash.is_worth_starting(["reflink", "copy"])
    assert not _prehash.is_worth_starting(["copy", "hardlink"])


def test_cached_settings_are_the_loaded_projects_and_bad_ones_are_refused(
        warmed: TmpProject) -> None:
    assert DataSettings.cached(warmed.root) == DataSettings.of(warmed.load())
    good = warmed.load().settings()
    for bad in ({**good, "cache_dir": 3}, {**good, "datasets": []}, {**good, "cache_types": []},
                {**good, "cache_types": ["teleport"]}):
        with pytest.raises(ValueError, match=r"expected|malformed|unknown"):
            DataSettings.from_json(warmed.root, bad, "h")


def test_a_large_file_in_hardlink_mode_is_hashed_ahead(warmed: TmpProject) -> None:
    big = warmed.root / "big.bin"
    big.write_bytes(os.urandom(1024) * (_prehash.MIN_BYTES // 1024 + 1))
    expected = hash_file(big)
    done = probe(warmed, "data", "add", "big.bin")
    assert done.returncode == 0 and heavy(done) == ""
    assert f"[{expected[:12]}, hardlink]" in done.stdout
    assert expected in (warmed.root / "big.bin.assay").read_text()
    assert probe(warmed, "fsck").returncode == 0


def test_a_digest_is_handed_over_only_for_the_unchanged_file(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(b"a" * _prehash.MIN_BYTES)
    assert _prehash.start(str(big))
    assert _prehash.take(big, os.stat(big)) == hash_file(big)
    assert _prehash.start(str(big))
    with open(big, "r+b") as handle:  # edited after the hash began: not handed over
        handle.write(b"b")
    os.utime(big, ns=(1, 1))
    assert _prehash.take(big, os.stat(big)) is None
    assert _prehash.start(str(big))
    with open(big, "r+b") as handle:
        handle.write(b"c")
    os.utime(big, ns=(2, 2))
    assert hash_file(big) == blake3.blake3(big.read_bytes()).hexdigest()
    small = tmp_path / "small.bin"
    small.write_bytes(b"s")
    assert not _prehash.start(str(small))
    assert _prehash.take(small, os.stat(small)) is None
