from __future__ import annotations

import os
from pathlib import Path

from assay.objects import StateDB, hash_file, hash_tree


def test_lookup_returns_only_unchanged_entries(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"alpha")
    b.write_bytes(b"beta")
    with StateDB(tmp_path / "state.db") as state:
        state.record([(str(a), os.stat(a), "oid-a"), (str(b), os.stat(b), "oid-b")])
        b.write_bytes(b"beta, changed")
        found = state.lookup({str(a): os.stat(a), str(b): os.stat(b)})
    assert found == {str(a): "oid-a"}


def test_many_paths_are_loaded_with_one_range_query(tmp_path: Path) -> None:
    files = []
    for i in range(700):
        f = tmp_path / "d" / f"f{i:04}"
        f.parent.mkdir(exist_ok=True)
        f.write_bytes(str(i).encode())
        files.append(f)
    (tmp_path / "d-other").write_bytes(b"x")
    with StateDB(tmp_path / "state.db") as state:
        state.record((str(f), os.stat(f), f"oid{i}") for i, f in enumerate(files))
        state.record([(str(tmp_path / "d-other"), os.stat(tmp_path / "d-other"), "other")])
        found = state.lookup({str(f): os.stat(f) for f in files})
    assert found == {str(f): f"oid{i}" for i, f in enumerate(files)}


def test_hash_tree_uses_the_stat_cache_instead_of_rehashing(tmp_path: Path) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(b"x" * 1000)
    state = StateDB(tmp_path / "state.db")
    first = hash_tree(data, state=state)
    assert first.oid == hash_file(data)
    # Lie in the stat cache: a hit must be trusted (that is the point), proving no rehash.
    state.record([(str(data), os.stat(data), "f" * 64)])
    assert hash_tree(data, state=state).oid == "f" * 64
    data.write_bytes(b"y" * 1000)  # mtime/size change -> rehashed
    assert hash_tree(data, state=state).oid == hash_file(data)
    state.close()


def test_state_db_is_wal_and_survives_reopen(tmp_path: Path) -> None:
    import sqlite3

    data = tmp_path / "f"
    data.write_bytes(b"1")
    StateDB(tmp_path / "s.db").record([(str(data), os.stat(data), "oid")])
    with StateDB(tmp_path / "s.db") as again:
        assert again.get(str(data), os.stat(data)) == "oid"
    conn = sqlite3.connect(tmp_path / "s.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
