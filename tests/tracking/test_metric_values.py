"""Every value the tracking API accepts comes back as logged (NaN, ±Inf, -0.0, numpy scalars,
huge ints), on SQLite and PostgreSQL; every value the store could not hold is a TrackingError at
the call, never a failed batch that loses its neighbours."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from tests.conftest import TmpProject
from tests.tracking.scripts import history, list_json, python


def _strict(text: str) -> Any:
    """Parse JSON refusing the NaN/Infinity literals that only Python accepts."""
    def refuse(literal: str) -> Any:
        raise AssertionError(f"not strict JSON: {literal}")

    return json.loads(text, parse_constant=refuse)


def _same(a: float, b: float) -> bool:
    """Equal as stored: NaN is NaN, and -0.0 keeps its sign."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


ACCEPTED = """
import json
import numpy as np
import assay
from assay.errors import TrackingError

refused = {}
def attempt(name, call):
    try:
        call()
    except TrackingError as exc:
        refused[name] = str(exc)

with assay.start_run(name="shapes"):
    for key, value in [("nan", float("nan")), ("pinf", float("inf")), ("ninf", float("-inf")),
                       ("negzero", -0.0), ("huge", 1e308), ("tiny", 5e-324),
                       ("np_nan32", np.float32("nan")), ("np_f32", np.float32(0.5)),
                       ("np_int", np.int64(7)), ("pow70", 2**70), ("int53", 2**53)]:
        assay.log_metric(key, value, step=1)
    assay.log_metric("steps", 1.0, step=2.0)
    assay.log_metric("steps", 2.0, step=np.int64(3))
    assay.log_metric("steps", 3.0, step=2**62)
    assay.log_metrics({"m_nan": float("nan"), "m_ok": 0.25}, step=1)
    assay.log_params({"p_nan": float("nan"), "p_inf": float("inf"), "p_np_int": np.int64(5),
                      "p_np_nan": np.float32("nan"), "p_huge": 2**70, "p_numeric_str": "0.5",
                      "p_bool": True, "p_list": [1, float("-inf")]})
    attempt("str", lambda: assay.log_metric("s", "0.5"))
    attempt("bytes", lambda: assay.log_metric("b", b"1"))
    attempt("bool", lambda: assay.log_metric("t", True))
    attempt("np_bool", lambda: assay.log_metric("t", np.bool_(True)))
    attempt("rounded_int", lambda: assay.log_metric("h", 2**70 + 1))
    attempt("overflow_int", lambda: assay.log_metric("h", 10**400))
    attempt("none", lambda: assay.log_metric("n", None))
    attempt("fractional_step", lambda: assay.log_metric("f", 1.0, step=1.5))
    attempt("nan_step", lambda: assay.log_metric("f", 1.0, step=float("nan")))
    attempt("bool_step", lambda: assay.log_metric("f", 1.0, step=True))
    attempt("huge_step", lambda: assay.log_metric("f", 1.0, step=2**70))
    attempt("long_key", lambda: assay.log_metric("k" * 256, 1.0))
    attempt("nul_key", lambda: assay.log_metric("a\\x00b", 1.0))
    attempt("bytes_param", lambda: assay.log_param("p", b"x"))
    attempt("circular_param", lambda: assay.log_param("p", (lambda l: l.append(l) or l)([])))
    attempt("bytes_tag", lambda: assay.set_tag("t", b"x"))
    attempt("nul_tag", lambda: assay.set_tag("t", "a\\x00b"))
    attempt("half_bad_batch", lambda: assay.log_metrics({"half_ok": 1.0, "half_bad": "x"}))
print(json.dumps(refused))
"""

REFUSED = {
    "str": r"Metric 's' must be a number, got '0.5' \(a str\); convert it first",
    "bytes": r"Metric 'b' must be a number, got b'1' \(a bytes\)",
    "bool": r"Metric 't' must be a number, got True \(a bool\); log float\(value\)",
    "np_bool": r"Metric 't' must be a number, got (np\.)?True_? \(a bool\)",
    "rounded_int": r"Metric 'h' is 1180591620717411303425, which a float64 metric would round",
    "overflow_int": r"Metric 'h' is an integer of 1329 bits, too large for a float64 metric",
    "none": r"Metric 'n' must be a number, got None",
    "fractional_step": r"Step of metric 'f' must be a whole number, got 1\.5",
    "nan_step": r"Step of metric 'f' must be a whole number, got nan",
    "bool_step": r"Step of metric 'f' must be a whole number, got True \(a bool\)",
    "huge_step": r"Step of metric 'f' must be a 64-bit integer, got one of 71 bits",
    "long_key": r"Metric name 'k{60}'\.\.\. has 256 characters \(1-255 allowed\)",
    "nul_key": r"Metric name 'a\\x00b' contains a NUL character",
    "bytes_param": r"Param 'p' cannot be stored: bytes: decode them first",
    "circular_param": r"Param 'p' cannot be stored: Circular reference",
    "bytes_tag": r"Tag 't' is bytes; decode it first",
    "nul_tag": r"Tag 't' contains a NUL character",
    "half_bad_batch": r"Metric 'half_bad' must be a number, got 'x'",
}

EXPECTED_METRICS = {
    "nan": math.nan, "pinf": math.inf, "ninf": -math.inf, "negzero": -0.0, "huge": 1e308,
    "tiny": 5e-324, "np_nan32": math.nan, "np_f32": 0.5, "np_int": 7.0,
    "pow70": float(2**70), "int53": float(2**53), "m_nan": math.nan, "m_ok": 0.25,
    "steps": 3.0,
}


def test_every_value_round_trips_or_is_refused_at_the_call(project_on: TmpProject) -> None:
    done = python(project_on, ACCEPTED)
    assert done.returncode == 0, done.stderr
    refused = json.loads(done.stdout.splitlines()[-1])
    assert sorted(refused) == sorted(REFUSED)
    for name, pattern in REFUSED.items():
        assert re.search(pattern, refused[name]), (name, refused[name])

    from assay.tracking import get_runs, metric_history, resolve

    url = project_on.store_url or project_on.load().store_url
    row = get_runs(url, resolve(url, list_json(project_on)[0]["id"]))[0]
    assert row.status == "succeeded"  # the refused calls cost nothing else
    assert sorted(row.metrics) == sorted(EXPECTED_METRICS)
    for key, value in EXPECTED_METRICS.items():
        assert _same(row.metrics[key], value), (key, row.metrics[key])
    assert [(s, v) for s, v, _ in metric_history(url, row.id, "steps")] == [
        (2, 1.0), (3, 2.0), (2**62, 3.0)]
    params = dict(row.params)
    assert math.isnan(params.pop("p_nan")) and math.isnan(params.pop("p_np_nan"))
    assert params == {"p_inf": math.inf, "p_np_int": 5, "p_huge": 2**70,
                      "p_numeric_str": "0.5", "p_bool": True, "p_list": [1, -math.inf]}


def test_json_output_is_strict_and_names_non_finite_values(tmp_project: TmpProject) -> None:
    done = python(tmp_project, ACCEPTED)
    assert done.returncode == 0, done.stderr
    sid = list_json(tmp_project)[0]["id"]
    shown = tmp_project.invoke("runs", "show", sid, "--json")
    assert shown.code == 0, shown.output
    row = _strict(shown.stdout)[0]
    assert {k: row["metrics"][k] for k in ("nan", "pinf", "ninf", "negzero", "huge")} == {
        "nan": "NaN", "pinf": "Infinity", "ninf": "-Infinity", "negzero": -0.0, "huge": 1e308}
    assert math.copysign(1.0, row["metrics"]["negzero"]) == -1.0
    assert (row["params"]["p_nan"], row["params"]["p_list"]) == ("NaN", [1, "-Infinity"])
    listed = tmp_project.invoke("runs", "list", "--json")
    assert _strict(listed.stdout)[0]["metrics"]["nan"] == "NaN"
    metric = tmp_project.invoke("runs", "metric", sid, "ninf", "--json")
    assert [p["value"] for p in _strict(metric.stdout)["history"]] == ["-Infinity"]
    compared = tmp_project.invoke("runs", "compare", sid, sid, "--json")
    nan_row = next(r for r in _strict(compared.stdout)["metrics"] if r["key"] == "nan")
    assert (nan_row["values"], nan_row["differs"]) == (["NaN", "NaN"], False)


def test_text_output_shows_nan_and_infinities(tmp_project: TmpProject) -> None:
    done = python(tmp_project, ACCEPTED)
    assert done.returncode == 0, done.stderr
    sid = list_json(tmp_project)[0]["id"]
    shown = tmp_project.invoke("runs", "show", sid)
    assert shown.code == 0, shown.output
    lines = {line.strip() for line in shown.stdout.splitlines()}
    assert {"nan: nan", "pinf: inf", "ninf: -inf", "negzero: -0", "huge: 1e+308"} <= lines
    csv = tmp_project.invoke("runs", "metric", sid, "nan", "--csv", "nan.csv")
    assert csv.code == 0, csv.output
    assert (tmp_project.root / "nan.csv").read_text().splitlines()[1].startswith("1,nan,")
    assert tmp_project.invoke("runs", "metric", sid, "pinf", "--plot", "inf.png").code == 0
    assert history(tmp_project, sid, "negzero") == [-0.0]



def test_a_nan_in_a_long_run_loses_no_other_point(project_on: TmpProject) -> None:
    """The reproduction: a 300-step run whose validation loss is NaN now and then."""
    code = ("import math, assay\n"
            "with assay.start_run(name='long'):\n"
            "    assay.log_param('lr', 0.1)\n"
            "    for step in range(300):\n"
            "        assay.log_metric('loss', 1 / (step + 1), step=step)\n"
            "        assay.log_metric('val_loss', math.nan if step % 7 == 0 else step * 1.0,\n"
            "                         step=step)\n")
    done = python(project_on, code)
    assert done.returncode == 0, done.stderr
    row = list_json(project_on)[0]
    assert (row["status"], row["params"]) == ("succeeded", {"lr": 0.1})
    assert len(history(project_on, row["id"], "loss")) == 300
    values = history(project_on, row["id"], "val_loss")
    assert values == ["NaN" if s % 7 == 0 else s * 1.0 for s in range(300)]
