"""Stage metrics files with NaN and ±Inf (JSON's NaN literal, YAML's .nan): recorded and shown as
such on every store; a value no float64 holds fails that stage with its reason, and the run still
ends; the run-cache index uses the store's durability settings."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from tests.conftest import TmpProject

JSON_FILE = ('{"nan": NaN, "pinf": Infinity, "ninf": -Infinity, "negzero": -0.0, "huge": 1e308, '
             '"text": "0.5", "flag": true, "nested": {"nan": NaN}}')
YAML_FILE = "y_nan: .nan\ny_pinf: .inf\ny_ninf: -.inf\ny_neg: -0.0\ny_int: 3\n"


def _stage(project: TmpProject, files: dict[str, str]) -> None:
    writes = "; ".join(f"open({name!r}, 'w').write({text!r})" for name, text in files.items())
    project.gen({"write.py": writes + "\n"})
    project.config(stages={"m": {"cmd": "python write.py", "metrics": sorted(files)}})


def _run(project: TmpProject) -> tuple[int, dict[str, Any]]:
    result = project.invoke("run", "--json")
    return result.code, json.loads(result.stdout)


def _strict(text: str) -> Any:
    def refuse(literal: str) -> Any:
        raise AssertionError(f"not strict JSON: {literal}")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_metrics_in_metrics_files_are_recorded_and_shown(
        project_on: TmpProject) -> None:
    _stage(project_on, {"m.json": JSON_FILE, "m.yaml": YAML_FILE})
    code, body = _run(project_on)
    assert code == 0, body
    shown = project_on.invoke("runs", "list", "--json")
    assert shown.code == 0, shown.output
    [row] = _strict(shown.stdout)
    assert row["status"] == "succeeded"
    assert row["metrics"] == {
        "nan": "NaN", "pinf": "Infinity", "ninf": "-Infinity", "negzero": -0.0, "huge": 1e308,
        "nested.nan": "NaN", "y_nan": "NaN", "y_pinf": "Infinity", "y_ninf": "-Infinity",
        "y_neg": -0.0, "y_int": 3.0,
    }  # text and bools are not metrics, as before
    assert math.copysign(1.0, row["metrics"]["negzero"]) == -1.0
    again = project_on.invoke("run")  # and a second run is a no-op, not a crash
    assert again.code == 0, again.output


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        pytest.param({"m.json": '{"count": 1180591620717411303425}'},
                     "metrics file 'm.json': metric 'count' is 1180591620717411303425, which a "
                     "float64 metric would round", id="rounded-int"),
        pytest.param({"m.yaml": f"big: {10**400}\n"},
                     "metrics file 'm.yaml' is not valid JSON or YAML (m.yaml:1: an integer of "
                     "401 characters (at most 64))", id="overflowing-int"),
        pytest.param({"m.json": json.dumps({"k" * 300: 1.0})},
                     "metrics file 'm.json': metric name 'kkkk", id="long-name"),
        pytest.param({"m.json": '{"a\\u0000b": 1.0}'},
                     "metrics file 'm.json': metric name 'a\\x00b' contains a NUL character",
                     id="nul-in-name"),
    ],
)
def test_a_metric_the_store_cannot_hold_fails_only_that_stage(
        project_on: TmpProject, files: dict[str, str], reason: str) -> None:
    _stage(project_on, files)
    code, body = _run(project_on)
    assert code == 1, body
    [stage] = body["stages"]
    assert stage["status"] == "failed" and stage["reason"].startswith(reason), stage
    listed = project_on.invoke("runs", "list", "--json")
    [row] = json.loads(listed.stdout)
    assert (row["status"], row["run_status"]) == ("failed", "failed")  # never left running


def test_check_repro_counts_the_same_nan_and_infinity_as_reproduced(
        tmp_project: TmpProject) -> None:
    tmp_project.gen({"write.py": "open('m.json', 'w').write('{\"acc\": NaN, \"top\": Infinity}')\n"
                                 "open('model.txt', 'w').write('model')\n"})
    tmp_project.config(stages={"train": {"cmd": "python write.py", "outs": ["model.txt"],
                                         "metrics": ["m.json"]}})
    assert tmp_project.invoke("run").code == 0
    result = tmp_project.invoke("run", "--check-repro", "train", "--json")
    assert result.code == 0, result.output
    body = _strict(result.stdout)
    assert body["reproducible"] is True
    assert body["stages"][0]["metrics"] == {
        "acc": {"recorded": "NaN", "rerun": "NaN", "delta": 0.0, "within": True},
        "top": {"recorded": "Infinity", "rerun": "Infinity", "delta": 0.0, "within": True}}


def test_run_cache_index_uses_the_store_durability_settings(tmp_project: TmpProject) -> None:
    from assay.pipeline._run_cache import RunCacheIndex

    index = RunCacheIndex(tmp_project.load())
    index.put("key", {"out.txt": "abc"})
    index.flush()
    conn = index._connect()
    settings = [conn.execute(f"PRAGMA {name}").fetchone()[0]
                for name in ("journal_mode", "synchronous", "busy_timeout")]
    index.close()
    assert settings == ["wal", 1, 30_000]  # synchronous 1 is NORMAL (was 0, OFF)
    assert RunCacheIndex(tmp_project.load()).get("key") == {"out.txt": "abc"}
