"""Run one built-in kind inside a stage's subprocess: ``python -m assay.pipeline.kind_exec``.

The runner writes the serialised :class:`assay.config.StageContext` (plus the kind's name and
options) to a JSON file named by ``ASSAY_STAGE_CONTEXT``. Running kinds as subprocesses gives them
the same timeouts, kills, logs, retries and caching as ``cmd`` stages.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

CONTEXT_ENV = "ASSAY_STAGE_CONTEXT"


def load_context(path: Path) -> tuple[str, dict[str, Any], Any]:
    """(kind name, raw options, StageContext) from a context file."""
    from assay.config import StageContext

    body = json.loads(path.read_text())
    ctx = StageContext(
        root=Path(body["root"]),
        stage=body["stage"],
        group=body.get("group"),
        matrix=dict(body.get("matrix") or {}),
        params=dict(body.get("params") or {}),
        profile=body.get("profile"),
        run_id=body["run_id"],
        stage_run_id=body["stage_run_id"],
        store_url=body["store_url"],
        upstream_outs={k: list(v) for k, v in (body.get("upstream_outs") or {}).items()},
        report_dir=Path(body["report_dir"]),
        pipeline=body.get("pipeline"),
    )
    return str(body["kind"]), dict(body.get("options") or {}), ctx


def main() -> int:
    """Load the context, validate options with the kind's model, run it; return its exit code.

    A kind fails by raising: its error is the stage's last line (``error: ...`` on stderr, which
    the run's summary quotes) and its family decides the code (:func:`assay._exits.report`).
    """
    from assay._exits import report
    from assay.errors import AssayError, UsageError
    from assay.pipeline._kinds import get_kind

    raw = os.environ.get(CONTEXT_ENV)
    try:
        if not raw:
            raise UsageError(f"{CONTEXT_ENV} is not set; kinds run under `assay run`")
        name, options, ctx = load_context(Path(raw))
        kind = get_kind(name)
        validated = kind.options.model_validate(options)
        ctx.report_dir.mkdir(parents=True, exist_ok=True)
        code = int(kind.run(validated, ctx))
    except AssayError as exc:
        sys.stdout.flush()
        return report(exc)
    return code


if __name__ == "__main__":
    sys.exit(main())
