"""assay.lock's text: exactly ``json.dumps(body, indent=2, sort_keys=True)``, however it is built."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from assay.pipeline import LockEntry, read_lock, write_lock
from assay.pipeline._lock import LOCK_VERSION, render_lock

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=4),
    max_leaves=12,
)


@given(st.dictionaries(st.text(min_size=1, max_size=10), st.tuples(
    st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    st.dictionaries(st.text(max_size=8), json_values, max_size=4)), max_size=5))
def test_lock_text_is_the_sorted_indented_json_dump(
    stages: dict[str, tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    entries = {
        name: LockEntry(key="k", definition="d", cmd="echo \"x\"\n", deps={"a": None},
                        params=params, outs={"o": "h"}, definition_body=body)
        for name, (params, body) in stages.items()
    }
    body = {"version": LOCK_VERSION,
            "stages": {n: entries[n].to_json() for n in sorted(entries)}}
    assert render_lock(entries) == json.dumps(body, indent=2, sort_keys=True) + "\n"
    assert render_lock(entries) == render_lock(dict(reversed(list(entries.items()))))


def test_lock_round_trips_through_the_file(tmp_path: Any) -> None:
    entry = LockEntry(key="k1", definition="d1", cmd=None, deps={"data/a.csv": "h1"},
                      params={"train.lr": 0.1}, outs={"m.pkl": "h2"}, out_hashes={"m.pkl": "h2"},
                      definition_body={"cmd": None, "options": {"x": [1, 2]}})
    write_lock(tmp_path, {"train": entry})
    assert read_lock(tmp_path) == {"train": entry}
