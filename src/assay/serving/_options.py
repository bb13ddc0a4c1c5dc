"""What a server is asked to do: the models it serves and every bound it keeps."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from assay.errors import ServingError

#: The environment variable that carries a server's options into uvicorn's worker processes.
OPTIONS_ENV = "ASSAY_SERVE_OPTIONS"

#: Seconds between checks of a followed alias, by default.
POLL_S = 5.0
#: Seconds between reads of a served deployment's row, by default: a rollout's step reaches
#: the traffic within about this long.
DEPLOYMENT_POLL_S = 0.5


@dataclass(frozen=True)
class ServeOptions:
    """Options of one inference server (``assay serve``; :func:`assay.serving.app`).

    Every bound has a default that keeps a server on a small machine safe: a request past a
    bound is answered with a 4xx (or 503/504) and a one-line reason, never queued without end.
    """

    refs: tuple[str, ...] = ()
    """``MODEL@ALIAS``, ``MODEL:VERSION`` or a package path, one per served model."""
    deployment: str | None = None
    """Serve this deployment of assay.yaml's ``deployments:`` (instead of ``refs``): the
    variants its store row names, in the traffic split it names (see :mod:`._deployment`)."""
    root: str | None = None
    """The project folder (default: found from the working directory, if there is one)."""
    allow_pickle: bool = False
    """Serve a pyfunc (pickle) model, if it was also registered with the opt-in."""
    max_body_bytes: int = 8 * 1024 * 1024
    max_rows: int = 10_000
    max_concurrency: int = 64
    """Requests being answered at once; the next one gets 503 with Retry-After."""
    timeout_s: float = 10.0
    """A request not answered in this time gets 504."""
    max_batch_rows: int = 256
    """Micro-batching: rows of concurrent requests predicted in one call, at most."""
    max_wait_ms: float = 0.0
    """Micro-batching: how long the first request of a batch waits for others (0: batch only
    what arrived while the previous batch ran)."""
    log_sample: float = 1.0
    """Share of requests written to the prediction log (0 turns it off)."""
    log_queue: int = 100_000
    """Prediction-log rows waiting to be written, at most; more are dropped and counted."""
    log_segment_rows: int = 20_000
    """A prediction-log segment is closed when it reaches this many rows; the writer builds one
    segment at a time, so this also bounds its memory."""
    log_segment_seconds: float = 60.0
    log_dir: str | None = None
    """Where ``<name>/`` prediction-log folders go (default: ``.assay/predictions``)."""
    poll_s: float | None = None
    """How often a server following an alias (or a deployment) checks whether it moved (0:
    only on SIGHUP; default: :data:`POLL_S`, or :data:`DEPLOYMENT_POLL_S` for a deployment)."""
    grace_s: float = 20.0
    """On SIGTERM: how long requests in flight may take to finish."""
    access_log: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.refs and self.deployment is None:
            raise ServingError("Name at least one model to serve: assay serve churn@production "
                               "(or a deployment: assay serve --deployment churn-prod)")
        if self.refs and self.deployment is not None:
            raise ServingError("Serve either models or a deployment, not both: assay serve "
                               f"--deployment {self.deployment}")
        positive = ("max_body_bytes", "max_rows", "max_concurrency", "timeout_s",
                    "max_batch_rows", "log_queue", "log_segment_rows", "log_segment_seconds",
                    "grace_s")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ServingError(f"--{name.replace('_', '-')} must be positive; got "
                                   f"{getattr(self, name)}")
        if self.max_wait_ms < 0 or (self.poll_s is not None and self.poll_s < 0):
            raise ServingError("--max-wait-ms and --poll must be 0 or more")
        if not 0.0 <= self.log_sample <= 1.0:
            raise ServingError(f"--log-sample is a share between 0 and 1; got {self.log_sample}")

    @property
    def poll(self) -> float:
        """Seconds between checks of what the server follows (0: only on SIGHUP)."""
        if self.poll_s is not None:
            return self.poll_s
        return DEPLOYMENT_POLL_S if self.deployment is not None else POLL_S

    def to_json(self) -> str:
        data = asdict(self)
        data["refs"] = list(self.refs)
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> ServeOptions:
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k in known}
        data["refs"] = tuple(data["refs"])
        return cls(**data)
