"""Serving benchmark (issue 14): `assay serve` side by side with `mlflow models serve`.

The same model spec for both (scikit-learn ``HistGradientBoostingClassifier``, 100 trees,
``random_state=0``) trained on the churn example's data (50,000 rows, the numeric columns),
one worker each, the same MLflow ``dataframe_split`` bodies posted to each server's
``/invocations`` by ``wrk`` (Debian's package) on 127.0.0.1, one server at a time:

- single-row requests at concurrency 1 and 8 (requests/s, p50/p99 latency);
- 1,000-row requests at concurrency 1 (rows/s);
- ready time: from process start to the first 200 of the readiness route;
- resident memory (the server's process tree) after the load;
- with ``--overload``: assay with ``--max-concurrency 8``; its saturation rate (``wrk``, 8
  connections), then an open-loop load (requests evenly spaced whatever the answers do; see
  :func:`_open_loop`) at 0.8x that rate (for at most 30 s) and at 2x for
  ``--overload-seconds``: the 503s' p99 latency, the admitted requests' p99 against their p99
  at 0.8x, the share unanswered within 5 s, the process still up, and the recovery time (from
  the end of the overload to the first of 20 answers in a row that are 200 within the 0.8x
  p99).

MLflow comes from a benchmark virtual environment: ``ASSAY_BENCH_VENV`` if set, else
``.venv-bench`` (created and filled with the MLflow of benchmarks/bench_tracking.py on first
use). The MLflow model is trained in that environment with the same spec and data.

Run: .venv/bin/python benchmarks/bench_serving.py [--seconds 10] [--overload]
     [--overload-seconds 60] [--skip-mlflow]  (work files: benchmarks/.work/serving)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / ".work" / "serving"
PYTHON = str(ROOT / ".venv" / "bin" / "python")
if not Path(PYTHON).exists():  # a git worktree: no .venv of its own
    PYTHON = sys.executable
ENV = {**os.environ, "ASSAY_USER": "bench@example.com",
       "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"),
                                                   os.environ.get("PYTHONPATH")]))}
ENV.pop("ASSAY_STORE_URL", None)
FEATURES = ["tenure_months", "monthly_charges", "total_charges", "support_calls",
            "senior_citizen"]

MLFLOW_TRAIN = """
import sys, mlflow.sklearn, pandas as pd
from mlflow.models import infer_signature
from sklearn.ensemble import HistGradientBoostingClassifier
frame = pd.read_parquet(sys.argv[1])
X, y = frame.drop(columns=["churned"]), frame["churned"]
model = HistGradientBoostingClassifier(max_iter=100, random_state=0).fit(X, y)
mlflow.sklearn.save_model(model, sys.argv[2], signature=infer_signature(X.head(5),
                          model.predict(X.head(5))), skops_trusted_types=[
                          "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"])
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _prepare() -> tuple[Path, Path]:
    """The churn data's numeric columns (features + target), and an assay project serving
    ``bench@production``."""
    import polars as pl
    from sklearn.ensemble import HistGradientBoostingClassifier

    from assay.config import Project
    from assay.models import save_model
    from assay.registry import promote, register
    from assay.store import open_store

    shutil.rmtree(WORK, ignore_errors=True)
    project = WORK / "project"
    project.mkdir(parents=True)
    (project / "assay.yaml").write_text("project: bench\npromotion:\n  production: {gates: none}\n")
    spec = importlib.util.spec_from_file_location(
        "churn_generate", ROOT / "src" / "assay" / "examples" / "churn" / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    data = module.generate(50_000).select(
        [pl.col(c).cast(pl.Float64) for c in FEATURES] + [pl.col("churned").cast(pl.Int64)])
    data_path = WORK / "train.parquet"
    data.write_parquet(data_path)
    X = data.select(FEATURES)
    model = HistGradientBoostingClassifier(max_iter=100, random_state=0).fit(
        X, data["churned"].to_numpy())
    package = save_model(model, project / "models" / "hgb", name="bench", input_example=X.head(5),
                         lineage={"root": project})
    loaded = Project.load(project)
    with open_store(loaded.store_url) as store:
        done = register(store, name="bench", cache_dir=loaded.cache_dir, package_dir=package.path,
                        author="bench@example.com", config=loaded.config)
        promote(store, loaded.config, f"bench:{done.version.version}", to="production",
                actor="bench@example.com")
    return data_path, project


def _bodies(data_path: Path) -> dict[str, Path]:
    import polars as pl

    frame = pl.read_parquet(data_path).select(FEATURES)
    out = {}
    for name, rows in (("one", 1), ("thousand", 1000)):
        body = {"dataframe_split": {"columns": FEATURES, "data": frame.head(rows).rows()}}
        path = WORK / f"{name}.json"
        path.write_text(json.dumps(body))
        script = WORK / f"{name}.lua"
        script.write_text(
            'wrk.method = "POST"\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
            f'local f = io.open("{path}", "r")\nwrk.body = f:read("*a")\nf:close()\n')
        out[name] = script
    return out


def _wrk(url: str, script: Path, *, connections: int, seconds: int) -> dict[str, float]:
    threads = min(connections, 2)
    done = subprocess.run(["wrk", "-t", str(threads), "-c", str(connections), "-d",
                           f"{seconds}s", "--latency", "-s", str(script), url],
                          capture_output=True, text=True, check=True)
    text = done.stdout

    def latency(pct: str) -> float:
        found = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        if not found:
            return float("nan")
        value, unit = float(found.group(1)), found.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: (.*)", text)
    return {"rps": rps, "p50_ms": latency("50"), "p99_ms": latency("99"),
            "non2xx": float(non2xx.group(1)) if non2xx else 0.0,
            "socket_errors": 1.0 if errors else 0.0}


def _rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants, MiB."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except (OSError, AttributeError):
            continue
        pending += [int(c) for c in children]
    return total / 1024


class Running:
    def __init__(self, command: list[str], cwd: Path, env: dict[str, str], ready: str,
                 log: Path) -> None:
        self.log = log.open("wb")
        self.started = time.perf_counter()
        self.process = subprocess.Popen(command, cwd=cwd, env=env, stdout=self.log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        self.ready_s = self._wait(ready)

    def _wait(self, url: str) -> float:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited; see {self.log.name}")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return time.perf_counter() - self.started
            except httpx.TransportError:
                pass
            time.sleep(0.02)
        raise RuntimeError("server not ready in 180 s")

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.log.close()


def _measure(name: str, server: Running, url: str, scripts: dict[str, Path],
             seconds: int) -> dict[str, Any]:
    _wrk(url, scripts["one"], connections=1, seconds=2)  # warm-up
    result: dict[str, Any] = {"ready_s": server.ready_s}
    result["c1"] = _wrk(url, scripts["one"], connections=1, seconds=seconds)
    result["c8"] = _wrk(url, scripts["one"], connections=8, seconds=seconds)
    result["rows1000"] = _wrk(url, scripts["thousand"], connections=1, seconds=seconds)
    result["rss_mb"] = _rss_mb(server.process.pid)
    result["load"] = os.getloadavg()[0]  # the machine is shared: say how busy it was
    c1, c8, big = result["c1"], result["c8"], result["rows1000"]
    print(f"  {name:7} ready {result['ready_s']:5.2f} s | c=1 {c1['rps']:7.0f} req/s p99 "
          f"{c1['p99_ms']:6.2f} ms | c=8 {c8['rps']:7.0f} req/s p99 {c8['p99_ms']:6.2f} ms | "
          f"1,000 rows {big['rps'] * 1000:9.0f} rows/s | RSS {result['rss_mb']:6.0f} MiB "
          f"| non-2xx {c1['non2xx'] + c8['non2xx'] + big['non2xx']:.0f} | load "
          f"{result['load']:.2f}")
    return result


def _open_loop(port: int, path: str, body: bytes, rate: float,
               seconds: float) -> dict[str, Any]:
    """Offer ``rate`` requests/s for ``seconds``, evenly spaced whatever the answers do (open
    loop: a slow answer does not slow the offer). Each request goes out on an idle keep-alive
    connection, or a new one (at most 1,024; past that it waits, and the wait counts in its
    latency, which runs from the request's scheduled time). A minimal HTTP/1.1 client on
    asyncio protocols: aiohttp or httpx could not offer these rates beside the server on two
    cores, and wrk2 is not packaged."""
    import asyncio

    import uvloop

    request = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
               f"\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    length = re.compile(rb"(?i)\r\ncontent-length: *(\d+)")
    done: list[tuple[int, float]] = []
    idle: list[Any] = []
    backlog: list[float] = []
    opened = 0

    class Connection(asyncio.Protocol):
        def __init__(self) -> None:
            self.buffer = b""
            self.due: float | None = None
            self.transport: Any = None

        def connection_made(self, transport: Any) -> None:
            self.transport = transport

        def send(self, due: float) -> None:
            self.due = due
            self.transport.write(request)

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            found = length.search(self.buffer, 0, end + 2)
            size = int(found.group(1)) if found else 0
            if len(self.buffer) < end + 4 + size:
                return
            status = int(self.buffer[9:12])
            self.buffer = self.buffer[end + 4 + size:]
            assert self.due is not None
            done.append((status, time.perf_counter() - self.due))
            self.due = None
            if backlog:
                self.send(backlog.pop(0))
            else:
                idle.append(self)

        def connection_lost(self, exc: Exception | None) -> None:
            nonlocal opened
            opened -= 1
            if self in idle:
                idle.remove(self)
            if self.due is not None:
                done.append((0, time.perf_counter() - self.due))

    async def connect(due: float) -> None:
        loop = asyncio.get_running_loop()
        try:
            _, connection = await loop.create_connection(Connection, "127.0.0.1", port)
        except OSError:
            done.append((0, time.perf_counter() - due))
            return
        connection.send(due)

    async def run() -> float:
        nonlocal opened
        tasks = []
        total = int(rate * seconds)
        start = time.perf_counter()
        for i in range(total):
            due = start + i / rate
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            if idle:
                idle.pop().send(due)
            elif opened < 1024:
                opened += 1
                tasks.append(asyncio.ensure_future(connect(due)))
            else:
                backlog.append(due)
        offered = total / (time.perf_counter() - start)
        await asyncio.gather(*tasks)
        deadline = time.perf_counter() + 5
        while len(done) < total and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        return offered

    offered = uvloop.run(run())
    total = int(rate * seconds)

    def p99(status: int) -> float:
        values = sorted(lat for st, lat in done if st == status)
        return values[int(0.99 * (len(values) - 1))] * 1000 if values else float("nan")

    statuses = [st for st, _ in done]
    return {"rate": rate, "offered_rps": offered, "requests": total,
            "ok": statuses.count(200), "busy": statuses.count(503),
            "unanswered": total - statuses.count(200) - statuses.count(503),
            "ok_p99_ms": p99(200), "busy_p99_ms": p99(503)}


def _recovery_s(url: str, body: bytes, within_ms: float) -> float:
    """Seconds from now to the first of 20 answers in a row that are 200 within
    ``within_ms``."""
    start = time.perf_counter()
    streak = 0
    with httpx.Client(timeout=10) as client:
        while time.perf_counter() - start < 60:
            sent = time.perf_counter()
            answer = client.post(url, content=body, headers={"Content-Type": "application/json"})
            took = (time.perf_counter() - sent) * 1000
            if answer.status_code == 200 and took <= within_ms:
                if streak == 0:
                    first = sent - start
                streak += 1
                if streak == 20:
                    return first
            else:
                streak = 0
    return float("inf")


def _overload(project: Path, scripts: dict[str, Path], seconds: int) -> dict[str, Any]:
    port = _free_port()
    limited = Running([PYTHON, "-m", "assay", "serve", "bench@production", "--port", str(port),
                       "--poll", "0", "--max-concurrency", "8"], project, ENV,
                      f"http://127.0.0.1:{port}/v2/health/ready", WORK / "overload.log")
    url = f"http://127.0.0.1:{port}/invocations"
    body = (WORK / "one.json").read_bytes()
    try:
        _wrk(url, scripts["one"], connections=1, seconds=2)  # warm-up
        saturation = _wrk(url, scripts["one"], connections=8, seconds=10)["rps"]
        calm = _open_loop(port, "/invocations", body, 0.8 * saturation, min(seconds, 30))
        over = _open_loop(port, "/invocations", body, 2 * saturation, seconds)
        recovery = _recovery_s(url, body, calm["ok_p99_ms"])
        alive = limited.process.poll() is None
    finally:
        limited.stop()
    share = over["unanswered"] / max(over["requests"], 1)
    print(f"  overload (--max-concurrency 8): saturation {saturation:.0f} req/s (wrk, 8 "
          f"connections)\n"
          f"    0.8x: offered {calm['offered_rps']:.0f} req/s, {calm['ok']} answered 200 (p99 "
          f"{calm['ok_p99_ms']:.1f} ms), {calm['busy']} 503, {calm['unanswered']} "
          f"unanswered\n"
          f"    2x for {seconds} s: offered {over['offered_rps']:.0f} req/s; {over['ok']} "
          f"answered 200 (p99 {over['ok_p99_ms']:.1f} ms, "
          f"{over['ok_p99_ms'] / calm['ok_p99_ms']:.1f}x the 0.8x p99; target <= 2x), "
          f"{over['busy']} 503 (p99 {over['busy_p99_ms']:.1f} ms; target <= 100 ms), "
          f"unanswered {share:.2%}\n"
          f"    process up {alive}; recovered in {recovery:.2f} s (target <= 10 s)")
    return {"saturation_rps": saturation, "calm": calm, "over": over, "alive": alive,
            "recovery_s": recovery}


def _mlflow_python() -> Path | None:
    venv = os.environ.get("ASSAY_BENCH_VENV")
    if venv:
        return Path(venv) / "bin" / "python"
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_tracking

    found = bench_tracking.mlflow_python()
    return found[0] if found else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--overload", action="store_true")
    parser.add_argument("--overload-seconds", type=int, default=60)
    parser.add_argument("--skip-mlflow", action="store_true")
    args = parser.parse_args()
    print("preparing: churn data (50,000 rows), HistGradientBoostingClassifier (100 trees)")
    data_path, project = _prepare()
    scripts = _bodies(data_path)
    results: dict[str, Any] = {}

    port = _free_port()
    assay = Running([PYTHON, "-m", "assay", "serve", "bench@production", "--port", str(port),
                     "--poll", "0"], project, ENV, f"http://127.0.0.1:{port}/v2/health/ready",
                    WORK / "assay.log")
    try:
        results["assay"] = _measure("assay", assay, f"http://127.0.0.1:{port}/invocations",
                                    scripts, args.seconds)
    finally:
        assay.stop()

    if args.overload:
        results["overload"] = _overload(project, scripts, args.overload_seconds)

    python = None if args.skip_mlflow else _mlflow_python()
    if python is not None:
        model = WORK / "mlflow-model"
        subprocess.run([str(python), "-c", MLFLOW_TRAIN, str(data_path), str(model)],
                       check=True)
        port = _free_port()
        mlflow_bin = python.parent / "mlflow"
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"  # its uvicorn
        server = Running([str(mlflow_bin), "models", "serve", "-m", str(model), "-p", str(port),
                          "-h", "127.0.0.1", "--env-manager", "local", "-w", "1"], WORK, env,
                         f"http://127.0.0.1:{port}/ping", WORK / "mlflow.log")
        try:
            results["mlflow"] = _measure("mlflow", server,
                                         f"http://127.0.0.1:{port}/invocations", scripts,
                                         args.seconds)
        finally:
            server.stop()
        a, m = results["assay"], results["mlflow"]
        print("assay vs MLflow:")
        print(f"  c=1 requests/s {a['c1']['rps'] / m['c1']['rps']:.1f}x (target 5x); "
              f"c=8 requests/s {a['c8']['rps'] / m['c8']['rps']:.1f}x (target 5x)")
        print(f"  c=8 p99 {m['c8']['p99_ms'] / a['c8']['p99_ms']:.1f}x lower (target 5x); "
              f"1,000-row rows/s {a['rows1000']['rps'] / m['rows1000']['rps']:.1f}x (target 3x)")
        print(f"  ready {a['ready_s']:.2f} s vs {m['ready_s']:.2f} s (target < 2 s); RSS "
              f"{a['rss_mb'] / m['rss_mb']:.2f}x MLflow's (target <= 0.5x)")
    (WORK / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
