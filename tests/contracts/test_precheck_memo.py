"""A contract whose bytes passed the static checks is remembered: planning it again does not
import Polars, and any change to the file (or a failing check) is checked in full."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from assay.contracts._precheck import check_contract
from assay.errors import ContractError

CHECK = """
import sys
from pathlib import Path
from assay.contracts._precheck import check_contract
check_contract(Path(sys.argv[1]))
print("polars" in sys.modules)
"""


def _contract(path: Path, regex: str) -> Path:
    path.write_text(yaml.safe_dump({"name": "people", "columns": {
        "email": {"dtype": "string", "regex": regex},
        "age": {"dtype": "integer", "min": 0, "max": {"value": 130, "where": "age > 0"}}}}))
    return path


def _checked_in_a_fresh_process(path: Path, cache: Path) -> bool:
    """Whether checking ``path`` in a new interpreter imported Polars."""
    done = subprocess.run([sys.executable, "-c", CHECK, str(path)], capture_output=True,
                          text=True, env={**os.environ, "XDG_CACHE_HOME": str(cache)},
                          check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip() == "True"


def test_an_unchanged_passing_contract_is_not_compiled_again(tmp_path: Path) -> None:
    path = _contract(tmp_path / "people.yaml", "^[a-z0-9]+@[a-z.]+$")
    cache = tmp_path / "cache"
    assert _checked_in_a_fresh_process(path, cache)  # compiled by Polars, then remembered
    assert not _checked_in_a_fresh_process(path, cache)
    _contract(path, "^[a-z]+@[a-z.]+$")  # any edit: checked again
    assert _checked_in_a_fresh_process(path, cache)


def test_a_failing_contract_is_never_remembered(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = _contract(tmp_path / "people.yaml", "[a-")
    for _ in range(2):
        with pytest.raises(ContractError, match="does not compile: unclosed character class"):
            check_contract(path)
    assert not list((tmp_path / "cache").rglob("*")) or not any(
        p.is_file() for p in (tmp_path / "cache").rglob("*"))


def test_an_unwritable_cache_only_means_checking_again(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder would be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    path = _contract(tmp_path / "people.yaml", "^[a-z]+$")
    assert check_contract(path).name == "people"
    assert check_contract(path).name == "people"
