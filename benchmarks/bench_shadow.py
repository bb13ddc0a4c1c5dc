"""Shadow-mode benchmark (issue 15): does mirroring traffic to a candidate slow the incumbent?

One `assay serve --deployment prod` process serves the serving benchmark's model (scikit-learn
``HistGradientBoostingClassifier``, 100 trees, on the churn data's numeric columns) as version 1;
version 2 is the same spec with another seed. Rounds alternate between two states of the
deployment's row: version 1 alone, and version 1 with version 2 as a shadow on every request
(weight 1.0). Each round offers single-row MLflow ``dataframe_split`` requests at a fixed rate
(open loop, evenly spaced; the serving benchmark's client) and takes the p99 latency of the
answers, which are always version 1's. The figure is the median p99 with the shadow over the
median p99 without it (target: at most 1.10). The shadow predicts in a child process at nice
19 (src/assay/serving/_shadow.py); a shadow round starts once that child has loaded version 2.

Run: .venv/bin/python benchmarks/bench_shadow.py [--rate 200] [--seconds 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_serving as serving  # the same model, data and load client


def _set_row(project: Path, *, shadow: bool) -> int:
    """Write the deployment's row (version 1 alone, or with version 2 as a shadow); returns
    the new revision."""
    from assay.config import Project
    from assay.store import open_store
    from assay.store import statements as sql

    loaded = Project.load(project)
    with open_store(loaded.store_url) as store, store.write() as conn:
        now = time.time()
        conn.execute(sql.INSERT_DEPLOYMENT, {"name": "prod", "model": "bench",
                                             "stable_version": 1, "updated_at": now})
        revision = int(conn.execute(sql.DEPLOYMENT, {"name": "prod"}).fetchone()[7])
        conn.execute(sql.UPDATE_DEPLOYMENT, {
            "name": "prod", "stable_version": 1, "candidate_version": 2 if shadow else None,
            "candidate_weight": 1.0 if shadow else 0.0, "mode": "shadow" if shadow else "split",
            "rollout_id": None, "revision": revision, "updated_at": now})
        return revision + 1


def _wait_revision(url: str, revision: int, *, shadow: bool) -> None:
    """Until the server applies ``revision`` (and, with a shadow, its shadow process has
    loaded the candidate: a round measures the steady state, not the child's start)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        deployment = httpx.get(f"{url}/status", timeout=5).json().get("deployment") or {}
        ready = (deployment.get("shadow_process") or {}).get("ready")
        if (deployment.get("revision") or 0) >= revision and (ready or not shadow):
            return
        time.sleep(0.1)
    raise RuntimeError(f"revision {revision} not applied in 60 s")


def _second_version(project: Path, data_path: Path) -> None:
    import polars as pl
    from sklearn.ensemble import HistGradientBoostingClassifier

    from assay.config import Project
    from assay.models import save_model
    from assay.registry import register
    from assay.store import open_store

    data = pl.read_parquet(data_path)
    X = data.select(serving.FEATURES)
    model = HistGradientBoostingClassifier(max_iter=100, random_state=1).fit(
        X, data["churned"].to_numpy())
    package = save_model(model, project / "models" / "hgb2", name="bench",
                         input_example=X.head(5), lineage={"root": project})
    loaded = Project.load(project)
    with open_store(loaded.store_url) as store:
        register(store, name="bench", cache_dir=loaded.cache_dir, package_dir=package.path,
                 author="bench@example.com", config=loaded.config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print("preparing: churn data (50,000 rows), two HistGradientBoostingClassifier versions")
    data_path, project = serving._prepare()
    _second_version(project, data_path)
    port = serving._free_port()
    url = f"http://127.0.0.1:{port}"
    with (project / "assay.yaml").open("a") as config:
        config.write(f"deployments:\n  prod: {{model: bench@production, url: '{url}'}}\n")
    body = json.dumps({"dataframe_split": {"columns": serving.FEATURES, "data": [
        [1.0, 2.0, 3.0, 4.0, 0.0]]}}).encode()
    server = serving.Running([serving.PYTHON, "-m", "assay", "serve", "--deployment", "prod",
                              "--port", str(port), "--no-access-log"], project, serving.ENV,
                             f"{url}/v2/health/ready", serving.WORK / "shadow.log")
    p99: dict[bool, list[float]] = {False: [], True: []}
    try:
        serving._open_loop(port, "/invocations", body, args.rate, 2)  # warm-up
        for _ in range(args.rounds):
            for shadow in (False, True):
                _wait_revision(url, _set_row(project, shadow=shadow), shadow=shadow)
                time.sleep(0.5)
                result = serving._open_loop(port, "/invocations", body, args.rate,
                                            args.seconds)
                p99[shadow].append(result["ok_p99_ms"])
                print(f"  {'shadow' if shadow else 'alone ':6} {result['ok']:5d} answered of "
                      f"{result['requests']}, p99 {result['ok_p99_ms']:6.2f} ms")
        shadowed, dropped = _shadow_counts(httpx.get(f"{url}/metrics", timeout=5).text)
    finally:
        server.stop()
    alone, mirrored = statistics.median(p99[False]), statistics.median(p99[True])
    print(f"incumbent p99 at {args.rate:.0f} req/s: alone {alone:.2f} ms, with a shadow on "
          f"every request {mirrored:.2f} ms = {mirrored / alone:.2f}x (target <= 1.10x); "
          f"shadow predictions made {shadowed:.0f}, dropped {dropped:.0f}")


def _shadow_counts(text: str) -> tuple[float, float]:
    """Shadow predictions made (answered 200) and dropped, from a /metrics scrape."""
    from prometheus_client.parser import text_string_to_metric_families

    made = dropped = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "assay_serving_requests_total" and \
                    sample.labels.get("variant") == "shadow" and sample.labels["status"] == "200":
                made += sample.value
            elif sample.name == "assay_serving_shadow_dropped_total":
                dropped += sample.value
    return made, dropped


if __name__ == "__main__":
    main()
