"""Registry figures: registering versions, policy-checked promotion, approvals, lineage, cards,
and promotions racing for one alias, on SQLite (and PostgreSQL when ASSAY_TEST_POSTGRES_URL is
set). Prints a table; no comparison tool is involved (the point is that policy checks and the
optimistic alias revision cost little)."""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

VERSIONS = 100
RACERS = 8


def _packages(root: Path, n: int) -> list[Path]:
    from sklearn.dummy import DummyClassifier

    from assay.models import save_model

    frame = pl.DataFrame({"x": np.arange(8, dtype=np.float64), "y": [0, 1] * 4})
    model = DummyClassifier().fit(frame.select("x").to_numpy(), frame["y"])
    out = []
    for i in range(n):
        path = root / f"m{i}"
        save_model(model, path, name="churn", input_example=frame.select("x").head(2),
                   lineage={"root": root, "params": {"i": i},
                            "datasets": [{"name": "d", "path": "d.parquet", "oid": "a" * 64}]})
        out.append(path)
    return out


def _report(oid: str) -> dict[str, Any]:
    return {"stage": "evaluate", "passed": True, "primary_metric": {}, "champion": None,
            "selected": {"candidate": "t", "package": "m", "oid": oid},
            "candidates": [{"candidate": "t", "package": "m", "oid": oid, "is_champion": False,
                            "passed": True, "metrics": {"holdout": {"all": {"roc_auc": 0.8}}},
                            "fairness": {}, "comparison": None, "gates": []}]}


def _ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.1f} ms"


def bench(url: str, label: str, packages: list[Path], cache: Path) -> list[tuple[str, str]]:
    from assay.config import AssayConfig
    from assay.errors import ConcurrencyError
    from assay.objects import LocalCache
    from assay.registry import (
        approve,
        get_version,
        lineage,
        list_models,
        model_card,
        promote,
        register,
        rollback,
    )
    from assay.store import open_store

    cfg = AssayConfig.model_validate({
        "team": [{"id": "ml", "roles": ["ml"]}, {"id": "plat", "roles": ["platform"]}],
        "promotion": {"staging": {"gates": "all"}, "production": {
            "from": ["staging"], "approvals": [{"count": 1, "roles": ["platform"]}]}},
    })
    store = open_store(url)
    oids = [LocalCache(cache).add_dir(p).oid for p in packages]
    reg, prom, appr = [], [], []
    for i, (package, oid) in enumerate(zip(packages, oids, strict=True)):
        t = time.perf_counter()
        register(store, name="churn", cache_dir=cache, package_dir=package,
                 evaluation=_report(oid), author="ml", alias="staging", config=cfg)
        reg.append(time.perf_counter() - t)
        if i % 10 == 0:
            t = time.perf_counter()
            approve(store, cfg, f"churn:{i + 1}", target="production", actor="plat")
            appr.append(time.perf_counter() - t)
            t = time.perf_counter()
            promote(store, cfg, f"churn:{i + 1}", to="production", actor="ml")
            prom.append(time.perf_counter() - t)
    t = time.perf_counter()
    rollback(store, cfg, "churn", "production", actor="plat")
    rb = time.perf_counter() - t
    t = time.perf_counter()
    lineage(store, "churn@production")
    lin = time.perf_counter() - t
    t = time.perf_counter()
    model_card(store, cfg, "churn@production").to_html()
    card = time.perf_counter() - t
    t = time.perf_counter()
    list_models(store)
    get_version(store, "churn@staging")
    reads = time.perf_counter() - t

    free = AssayConfig.model_validate({})
    barrier = threading.Barrier(RACERS)
    outcomes: list[str] = []

    def racer(version: int) -> None:
        barrier.wait()
        try:
            promote(store, free, f"churn:{version}", to="race", actor="ml", expected_revision=0)
            outcomes.append("won")
        except ConcurrencyError:
            outcomes.append("lost")

    threads = [threading.Thread(target=racer, args=(v + 1,)) for v in range(RACERS)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    race = time.perf_counter() - t
    store.close()
    return [
        (f"{label}: register (median of {VERSIONS})", _ms(reg)),
        (f"{label}: approve (median)", _ms(appr)),
        (f"{label}: promote with policy check (median)", _ms(prom)),
        (f"{label}: rollback", _ms([rb])),
        (f"{label}: lineage of a version", _ms([lin])),
        (f"{label}: model card (HTML)", _ms([card])),
        (f"{label}: list models + resolve alias", _ms([reads])),
        (f"{label}: {RACERS} threads racing for one alias",
         f"{outcomes.count('won')} won, {outcomes.count('lost')} lost, {race * 1000:.0f} ms"),
    ]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        packages = _packages(root / "pkgs", VERSIONS)
        rows = bench(f"sqlite:///{root / 'assay.db'}", "SQLite", packages, root / "cache")
        pg = os.environ.get("ASSAY_TEST_POSTGRES_URL", "")
        if pg:
            from sqlalchemy import create_engine, text

            name = f"assay_bench_{uuid.uuid4().hex[:8]}"
            admin = create_engine(pg, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                url = pg.rpartition("/")[0] + "/" + name
                rows += bench(url, "PostgreSQL", packages, root / "cache2")
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
