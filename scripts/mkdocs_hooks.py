"""MkDocs hooks (``hooks:`` in mkdocs.yml): add the generated pages to the site at build time.

- ``reference/*.md`` from ``scripts/gen_reference.py`` (CLI, assay.yaml, stage kinds, contracts),
  rendered from this checkout's ``src/assay``;
- ``benchmarks.md`` from ``benchmarks/README.md``, so the figures live in one file.

Nothing is written into ``docs/``: the pages exist only in the build.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _generator() -> Any:
    src = str(ROOT / "src")
    if src not in sys.path:  # document this checkout, not whichever assay is installed
        sys.path.insert(0, src)
    spec = importlib.util.spec_from_file_location("gen_reference", ROOT / "scripts" / "gen_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def on_files(files: Any, config: Any, **_: Any) -> Any:
    from mkdocs.structure.files import File

    pages = dict(_generator().pages())
    pages["benchmarks.md"] = (ROOT / "benchmarks" / "README.md").read_text(encoding="utf-8")
    for src_uri, content in pages.items():
        if files.get_file_from_path(src_uri) is not None:
            raise SystemExit(f"docs/{src_uri} is generated at build time; delete the file")
        files.append(File.generated(config, src_uri, content=content))
    return files
