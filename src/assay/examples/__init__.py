"""Bundled example projects, written out by ``assay init --example NAME``."""

from __future__ import annotations

from pathlib import Path

EXAMPLES_DIR = Path(__file__).parent


def available() -> list[str]:
    """Names of the bundled examples."""
    return sorted(
        p.name for p in EXAMPLES_DIR.iterdir() if p.is_dir() and not p.name.startswith("_")
    )


def files(name: str) -> dict[str, bytes]:
    """Relative path -> content of every file of example ``name``."""
    root = EXAMPLES_DIR / name
    out: dict[str, bytes] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            rel = path.relative_to(root).as_posix()
            out[rel.replace("dot-gitignore", ".gitignore")] = path.read_bytes()
    return out
