"""What a contract's checks can be checked for without its data: the file parses and validates,
every regex compiles, every SQL predicate (``sql:``, ``where:``) parses, every ``expr:`` is a
valid Python expression (parsed, never run here) and every ``compare:`` reads ``a OP b``.

The planning of a ``kind: validate`` stage and ``assay config check`` call this, so a broken
contract stops ``assay run`` before anything runs. The rest (columns, dtypes, what an ``expr:``
evaluates to) needs the data and is checked when the contract runs. A contract file whose bytes
passed is remembered (per user, with the Polars version and these checks' code), so planning
an unchanged contract does not import Polars again.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.contracts._checks import _COMPARE, _parse_expr, _regex_valid, _sql_expr
from assay.contracts._model import CheckOptions, Contract, load_contract
from assay.errors import ContractError

if TYPE_CHECKING:
    from assay.config import AssayConfig


def _items(contract: Contract) -> list[tuple[tuple[str | int, ...], str, str]]:
    """(key path, kind, text) of every regex, SQL predicate, expression and comparison."""
    found: list[tuple[tuple[str | int, ...], str, str]] = []

    def where(loc: tuple[str | int, ...], opts: CheckOptions | None) -> None:
        if opts is not None and opts.where is not None:
            found.append(((*loc, "where"), "sql", opts.where))

    for name, spec in contract.columns.items():
        for rule_name in type(spec).model_fields:
            rule = getattr(spec, rule_name)
            where(("columns", name, rule_name), rule)
        if spec.regex is not None:
            found.append((("columns", name, "regex"), "regex", spec.regex.value))
    for index, check in enumerate(contract.checks):
        kind = check.kind
        if kind in ("expr", "sql", "compare"):
            found.append((("checks", index, kind), kind, str(getattr(check, kind))))
        where(("checks", index), check)
    for name, dist in contract.distribution.items():
        where(("distribution", name), dist)
    return found


def _problem(kind: str, text: str, where: str) -> str | None:
    try:
        if kind == "regex":
            _regex_valid(text, where)
        elif kind == "sql":
            _sql_expr(text, where)
        elif kind == "expr":
            _parse_expr(text, where)
        elif not _COMPARE.match(text):
            return (f"{where}: compare {text!r} must look like 'end >= start' (column operator "
                    "column); use sql: for anything richer")
    except ContractError as exc:
        return str(exc)
    return None


def check_contract(path: Path) -> Contract:
    """Load the contract at ``path`` and check what can be checked without data.

    Raises:
        ConfigError: the file is missing or malformed (file, line, key).
        ContractError: a regex, SQL predicate, expression or comparison is invalid; one line
            per problem, each naming the file and line.
    """
    contract = load_contract(path)
    memo = _passed_memo(path)
    if memo is not None and memo.exists():
        return contract
    found = [(loc, problem) for loc, kind, text in _items(contract)
             if (problem := _problem(kind, text, _dotted(loc))) is not None]
    if not found:
        if memo is not None and memo == _passed_memo(path):  # unchanged while checked
            _remember(memo)
        return contract
    from assay.config import read_yaml

    _, lines = read_yaml(path)
    located = []
    for loc, problem in found:
        line = next((lines[loc[:cut]] for cut in range(len(loc), 0, -1) if loc[:cut] in lines), 0)
        located.append(f"{path}:{line}: {problem}" if line else f"{path}: {problem}")
    raise ContractError("\n".join(located), file=str(path), contract=contract.name)


def _passed_memo(path: Path) -> Path | None:
    """Where it is remembered that the contract file's bytes passed these checks (under
    :func:`assay._layout.user_cache_dir`), named by those bytes, the Polars whose regex and SQL
    engines compiled them, and these checks' own code (sizes and times of their modules): a
    run that plans an unchanged contract then does not import Polars to check it again. None
    when that cannot be named (an unreadable file, Polars not installed)."""
    import importlib.metadata
    import json

    from assay import _layout
    from assay.contracts import _checks

    try:
        code = [(os.stat(f).st_size, os.stat(f).st_mtime_ns) for f in (__file__, _checks.__file__)]
        body = json.dumps([importlib.metadata.version("polars"), code]).encode()
        data = path.read_bytes()
    except (OSError, ValueError, importlib.metadata.PackageNotFoundError):
        return None
    key = _layout.digest_of(body + b"\0" + data)[:32]
    return _layout.user_cache_dir() / "contract-checks" / key


def _remember(memo: Path) -> None:
    """Best effort: a read-only or full home only means the next run checks again."""
    with contextlib.suppress(OSError):
        memo.parent.mkdir(parents=True, exist_ok=True)
        memo.touch()


def _dotted(loc: tuple[Any, ...]) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")


def check_contracts(root: Path, config: AssayConfig) -> list[str]:
    """Check every contract registered under ``contracts:`` (see :func:`check_contract`);
    returns their names. Pandera contracts are Python code and are checked when they run.

    Raises:
        ConfigError, ContractError, UsageError: the first contract with a problem.
    """
    from assay.contracts._validate import _contract_file

    checked = []
    for name in config.contracts:
        _, path, _, _, _ = _contract_file(root, name, config)
        if path is not None:
            check_contract(path)
            checked.append(name)
    return checked
