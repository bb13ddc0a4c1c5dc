"""Every statement is plain, portable text that both store implementations bind alike."""

from __future__ import annotations

import re

import pytest

from assay.store import Statement, statements
from assay.store._sqlite import positional

BUILT = {
    "events_query": statements.events_query(kind="data.", subject="s", since=1.0, limit=5),
    "metric_keys_of": statements.metric_keys_of(["a", "b"]),
    "metric_points_of": statements.metric_points_of(["a"]),
    "key_values_of": statements.key_values_of("tags", ["a", "b", "c"]),
    "artifacts_of": statements.artifacts_of(["a"]),
    "stage_run_list": statements.stage_run_list(
        stage="train", include_cached=False, params={"depth": ["4", '"4"']},
        tags={"team": "growth"}, limit=3),
    "stage_runs_by_id": statements.stage_runs_by_id(["a", "b"]),
    "contract_results_for": statements.contract_results_for(["h"]),
    "stat_cache_entries": statements.stat_cache_entries(["/p/a", "/p/b"]),
    "alias_moves": statements.alias_moves("churn", "production"),
    "approvals_of": statements.approvals_of("churn", 3, "production"),
    "monitor_windows_by_id": statements.monitor_windows_by_id([7, 8]),
    "recent_contract_results": statements.recent_contract_results(
        data_hash="h", contract="people", limit=5),
}
CONSTANTS = {name: value for name, value in vars(statements).items()
             if isinstance(value, Statement)}


@pytest.mark.parametrize("name", sorted(CONSTANTS) + sorted(BUILT))
def test_both_stores_bind_the_same_parameters(name: str) -> None:
    from sqlalchemy import text

    statement = CONSTANTS[name] if name in CONSTANTS else BUILT[name][0]
    alchemy = set(text(statement.sql).compile().params)
    marked, names = positional(statement.sql)
    assert set(names) == alchemy and marked.count("?") == len(names)
    assert statement.json_params <= alchemy  # a JSON parameter the text never binds is a typo
    assert set(statement.defaults) <= alchemy
    if name in BUILT:
        assert set(BUILT[name][1]) == alchemy  # a builder binds exactly what its text names


def test_an_in_list_takes_one_to_max_in_values() -> None:
    with pytest.raises(ValueError, match=r"an IN list takes 1 to 500 values, got 0"):
        statements.metric_points_of([])
    with pytest.raises(ValueError, match=r"got 501"):
        statements.metric_points_of(["x"] * 501)


def test_only_whitelisted_tables_are_named_by_a_builder() -> None:
    with pytest.raises(ValueError, match=r"not a key-value table: 'runs; DROP TABLE runs'"):
        statements.key_values_of("runs; DROP TABLE runs", ["a"])


def test_statement_text_is_portable() -> None:
    for name, statement in CONSTANTS.items():
        sql = statement.sql
        assert "?" not in sql, name  # :name placeholders only
        assert not re.search(r"INSERT OR |REPLACE INTO", sql), name  # ON CONFLICT instead
        for word in ("key", "trigger", "group"):  # keywords somewhere: always quoted
            unquoted = re.search(rf'(?<!["\w.]){word}(?!["\w])', sql)
            if name.startswith(("STAT_CACHE", "PUT_STAT", "RUN_CACHE", "PUT_RUN_CACHE")):
                continue  # local SQLite files, not the metadata store
            assert unquoted is None or sql[unquoted.start() - 1] == ":", (name, word)
