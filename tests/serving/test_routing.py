"""The request draw behind the traffic split: a key always draws the same number."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assay.serving._routing import draw, sticky_value


@given(st.text())
def test_a_key_draws_one_number_in_the_unit_interval(key: str) -> None:
    assert 0.0 <= draw(key) < 1.0
    assert draw(key) == draw(key)


def test_the_draw_is_the_same_in_another_process() -> None:
    keys = [f"customer-{i}" for i in range(20)]
    code = ("from assay.serving._routing import draw; "
            f"print([draw(k) for k in {keys!r}])")
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env={"PYTHONHASHSEED": "123", "PATH": ""},
                           cwd=".").stdout
    assert other.strip() == str([draw(k) for k in keys])


def test_keys_spread_evenly() -> None:
    shares = [draw(f"customer-{i}") for i in range(20_000)]
    assert sum(s < 0.3 for s in shares) / len(shares) == pytest.approx(0.3, abs=0.015)


@pytest.mark.parametrize(("value", "key"), [
    (7, "7"), (7.0, "7"), (7.5, "7.5"), ("abc", "abc"), (True, "true"), (None, None),
    (float("nan"), None)], ids=["int", "integral-float", "float", "text", "bool", "none", "nan"])
def test_sticky_values_are_keyed_by_value(value: object, key: str | None) -> None:
    assert sticky_value(value) == key
