"""Every package re-exports its public API through a sorted, complete ``__all__``."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import assay

PACKAGES = sorted(
    info.name
    for info in pkgutil.walk_packages(assay.__path__, prefix="assay.")
    if info.ispkg and not any(part.startswith("_") for part in info.name.split("."))
    and ".examples" not in info.name and ".migrations" not in info.name
)


def isort_key(name: str) -> tuple[int, str]:
    """Ruff's (RUF022) isort-style order: CONSTANTS, then Classes, then functions."""
    if name.isupper() or (name.upper() == name and "_" in name):
        return (0, name)
    return (1, name) if name[:1].isupper() else (2, name)


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_resolves(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert list(exported) == sorted(exported, key=isort_key), f"{name}.__all__ is not sorted"
    missing = [n for n in exported if not hasattr(module, n)]
    assert missing == []


@pytest.mark.parametrize("name", PACKAGES)
def test_public_names_are_exported(name: str) -> None:
    module = importlib.import_module(name)
    public = {
        n
        for n, v in vars(module).items()
        if not n.startswith("_")
        and getattr(v, "__module__", "").startswith(name)
        and callable(v)
    }
    assert public <= set(module.__all__), f"{name} defines public names missing from __all__"
