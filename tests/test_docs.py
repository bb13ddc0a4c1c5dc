"""The README stays short and its links resolve; the generated references cover the code.

The site itself is built by ``make docs`` (``mkdocs build --strict``), a step of ``make test``;
these tests need neither mkdocs nor a build.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
README_LIMIT = 10_240  # bytes: a newcomer's page; everything else lives in docs/


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "gen_reference", ROOT / "scripts" / "gen_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_is_at_most_10_kib() -> None:
    size = len(README.read_bytes())
    assert size <= README_LIMIT, f"README.md is {size} bytes; move detail into docs/"


@pytest.mark.parametrize("markdown", ["README.md", "benchmarks/README.md"])
def test_relative_links_point_at_existing_files(markdown: str) -> None:
    page = ROOT / markdown
    targets = re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8"))
    relative = [t.split("#")[0] for t in targets if "://" not in t and not t.startswith("#")]
    missing = [t for t in relative if t and not (page.parent / t).exists()]
    assert missing == []


def test_docs_do_not_hold_generated_pages() -> None:
    generated = {path for path, _ in _generator().PAGES.values()} | {"benchmarks.md"}
    present = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    assert generated & present == set()


def test_cli_reference_documents_every_command() -> None:
    generator = _generator()
    page = generator.cli_reference()
    headings = re.findall(r"^#{2,3} `(assay[^`]*)`", page, flags=re.MULTILINE)
    assert headings == generator.cli_commands()
    assert {"assay data add", "assay models promote", "assay config schema"} <= set(headings)


def test_config_reference_documents_every_top_level_key() -> None:
    import json

    from assay.config import json_schema

    page = _generator().config_reference()
    keys = json.loads(json_schema())["properties"]
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", page, flags=re.MULTILINE))
    assert set(keys) <= documented
    assert "## `stages.<name>`" in page
