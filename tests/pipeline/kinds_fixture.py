"""A tiny stage kind for testing the kind seam (registered through ASSAY_EXTRA_KINDS)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from assay.config import KindPlan, PlanContext, StageContext


class EchoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str
    out: str
    fail: bool = False
    depends_on: list[str] = []  # registry aliases (NAME@ALIAS) the result depends on


class EchoKind:
    name = "echo"
    options = EchoOptions

    def plan(self, options: EchoOptions, ctx: PlanContext) -> KindPlan:
        return KindPlan(outs=[options.out], params=["seed"], aliases=options.depends_on)

    def run(self, options: EchoOptions, ctx: StageContext) -> int:
        import assay

        assay.log_metric("echo_len", len(options.message))
        body: dict[str, Any] = {
            "message": options.message,
            "stage": ctx.stage,
            "matrix": ctx.matrix,
            "seed": ctx.params.get("seed"),
            "env": {k: os.environ.get(k) for k in (
                "ASSAY_PROJECT", "ASSAY_RUN_ID", "ASSAY_STAGE_RUN_ID", "ASSAY_STAGE",
                "ASSAY_PROFILE", "ASSAY_STORE_URL")},
            "run_id": ctx.run_id,
            "stage_run_id": ctx.stage_run_id,
        }
        path = ctx.root / options.out
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(body))
        return 1 if options.fail else 0


KIND = EchoKind()


class PickOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    choice: str
    settings_for: dict[str, dict[str, Any]] = {}
    out: str


class PickKind:
    """Writes ``settings_for[choice]``: the other entries do not affect its result."""

    name = "pick"
    options = PickOptions

    def plan(self, options: PickOptions, ctx: PlanContext) -> KindPlan:
        ignored: list[tuple[str, ...]] = [
            ("settings_for", key) for key in options.settings_for if key != options.choice]
        return KindPlan(outs=[options.out], ignored_options=ignored)

    def run(self, options: PickOptions, ctx: StageContext) -> int:
        path = ctx.root / options.out
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(options.settings_for.get(options.choice, {})))
        with open(ctx.root / "runs.log", "a") as log:
            log.write(ctx.stage + "\n")
        return 0


PICK = PickKind()
REPO = Path(__file__).resolve().parents[2]


class ProbeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    out: str
    set_env: dict[str, str] = {}  # set in the job's environment (must not reach the next job)
    sleep: float = 0.0
    crash: bool = False  # raise an uncaught exception (after the sleep)
    plan_sleep: float = 0.0  # planning the stage takes this long
    plan_sets_env: bool = False  # planning sets PROBE_PLANNED, as importing Polars sets a variable


_TOUCHED: list[str] = []  # module state: a job must never see another job's


def _started(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (Linux), else None."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return int(handle.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _run_id_of(pid: int) -> str | None:
    """``ASSAY_RUN_ID`` in the environment process ``pid`` started with (Linux), else None."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            items = handle.read().split(b"\0")
    except OSError:
        return None
    found = [i.partition(b"=")[2].decode() for i in items if i.startswith(b"ASSAY_RUN_ID=")]
    return found[0] if found else None


class ProbeKind:
    """Reports its process, environment and module state; then optionally sleeps or crashes."""

    name = "probe"
    options = ProbeOptions
    warm_imports = ("json",)

    def plan(self, options: ProbeOptions, ctx: PlanContext) -> KindPlan:
        import time

        time.sleep(options.plan_sleep)
        if options.plan_sets_env:
            os.environ["PROBE_PLANNED"] = "1"
        return KindPlan(outs=[options.out])

    def run(self, options: ProbeOptions, ctx: StageContext) -> int:
        import time

        body = {
            "pid": os.getpid(), "ppid": os.getppid(), "sid": os.getsid(0),
            "pgid": os.getpgid(0), "cwd": os.getcwd(),
            "leak": os.environ.get("PROBE_LEAK"), "stage_env": os.environ.get("PROBE_STAGE"),
            "touched": list(_TOUCHED),
            "ticks": {"self": _started(os.getpid()), "parent": _started(os.getppid())},
            "run_id": os.environ.get("ASSAY_RUN_ID"), "worker_run_id": _run_id_of(os.getppid()),
        }
        _TOUCHED.append(ctx.stage)
        os.environ.update(options.set_env)
        path = ctx.root / options.out
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(body))
        print(f"probe {ctx.stage} pid {os.getpid()}", flush=True)
        time.sleep(options.sleep)
        if options.crash:
            raise RuntimeError("probe crashed on purpose")
        return 0


PROBE = ProbeKind()
