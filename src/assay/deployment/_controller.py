"""The rollout controller: moves a rollout step by step while its guards pass, and rolls it back
when one fails.

It owns no state: each turn reads the rollout from the store, the server's applied revision
(``GET /status``) and measurements (``GET /metrics``), decides, and writes the next state in one
transaction (:mod:`assay.deployment._rollout`). A lease (the rollout's ``controller`` and
``heartbeat``) keeps two controllers from driving one rollout; a controller that dies leaves the
lease to expire, and the next one carries on from the recorded step.

One step, one look: the guards decide once per step, when the step's minimum requests and time
are reached (so the Bonferroni split of ``alpha`` over the plan's steps holds); between looks
their current values are shown, not acted on.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from assay.deployment._guards import GuardDecision, VariantSample, check_guards
from assay.deployment._rollout import (
    Rollout,
    claim,
    complete,
    deployment_config,
    get_rollout,
    save_details,
    set_traffic,
    withdraw,
)
from assay.deployment._samples import delta, samples_from_exposition
from assay.errors import DeploymentError

if TYPE_CHECKING:
    from assay.config import AssayConfig, GuardsConfig
    from assay.deployment._server import ManagedServer
    from assay.store import Store

EMPTY = VariantSample(requests=0, errors=0, latency=((float("inf"), 0),), predictions={})


@dataclass(frozen=True)
class Observation:
    """What the server says at one moment: the deployment revision it applied (None when it
    cannot be reached, with the reason) and its measurements by (variant, version)."""

    revision: int | None
    samples: dict[tuple[str, str], VariantSample] = field(default_factory=dict)
    error: str | None = None


class ServerProbe:
    """Reads a server's ``/status`` and ``/metrics`` over HTTP."""

    def __init__(self, url: str, deployment: str, model: str, *, timeout: float = 3.0) -> None:
        try:
            import httpx
        except ImportError:
            raise DeploymentError("Deployments talk to the server over HTTP; install the serve "
                                  "extra: pip install 'assay[serve]'") from None
        self.url = url.rstrip("/")
        self.deployment = deployment
        self.model = model
        self._client = httpx.Client(timeout=timeout, trust_env=False)
        self._httpx = httpx

    def observe(self) -> Observation:
        try:
            status = self._client.get(f"{self.url}/status")
            metrics = self._client.get(f"{self.url}/metrics")
            info = status.json().get("deployment") or {}
        except (self._httpx.HTTPError, ValueError, AttributeError) as exc:
            return Observation(None, error=f"{self.url} did not answer ({type(exc).__name__})")
        if info.get("name") != self.deployment:
            return Observation(None, error=f"{self.url} does not serve deployment "
                                           f"{self.deployment} (start it: assay serve "
                                           f"--deployment {self.deployment})")
        revision = info.get("revision")
        return Observation(int(revision) if isinstance(revision, int) else None,
                           samples_from_exposition(metrics.text, self.model))

    def close(self) -> None:
        self._client.close()


@dataclass(frozen=True)
class Progress:
    """One turn of the controller, for a progress view."""

    rollout: Rollout
    phase: str
    """``waiting`` (for the server), ``restarted`` (the managed server, which had died),
    ``observing``, ``paused`` or ``ended``."""
    server: str
    elapsed: float = 0.0
    min_seconds: float = 0.0
    requests: int = 0
    min_requests: int = 0
    decisions: tuple[GuardDecision, ...] = ()


def controller_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _key(variant: str, version: str) -> str:
    return f"{variant}|{version}"


def _sample(data: dict[str, Any] | None) -> VariantSample:
    if not data:
        return EMPTY
    return VariantSample(requests=int(data["requests"]), errors=int(data["errors"]),
                         latency=tuple((float(le), int(n)) for le, n in data["latency"]),
                         predictions={str(k): int(v) for k, v in data["predictions"].items()},
                         labelled=int(data.get("labelled", 0)),
                         correct=int(data.get("correct", 0)),
                         abs_error=float(data.get("abs_error", 0.0)),
                         sq_error=float(data.get("sq_error", 0.0)),
                         quality=str(data.get("quality", "")))


class Controller:
    """Drives the rollout running on one deployment to its end.

    Args:
        store: the metadata store.
        config: the project's assay.yaml.
        name: the deployment.
        actor: who the controller acts for (recorded on every step).
        poll_s: seconds between turns.
        lease_s: a controller silent this long loses its rollout to the next one.
        probe: how the server is read (default: HTTP to the deployment's ``url``).
        on_progress: called after every turn.
        server: the deployment's managed server (``serve:``): when the server does not
            answer and its process died, the controller starts it again.
    """

    def __init__(self, store: Store, config: AssayConfig, name: str, *, actor: str,
                 poll_s: float = 0.5, lease_s: float = 10.0, probe: ServerProbe | None = None,
                 on_progress: Callable[[Progress], None] | None = None,
                 server: ManagedServer | None = None) -> None:
        self.store = store
        self.config = config
        self.name = name
        self.cfg = deployment_config(config, name)
        self.actor = actor
        self.poll_s = poll_s
        self.lease_s = lease_s
        self.id = controller_id()
        self.probe = probe or ServerProbe(self.cfg.url, name, self.cfg.model_name)
        self.on_progress = on_progress or (lambda _: None)
        self.server = server

    # -- the loop ----------------------------------------------------------------------------

    def run(self, rollout: Rollout, *, timeout: float | None = None) -> Rollout:
        """Drive ``rollout`` until it completes, is rolled back or aborted (or ``timeout``
        seconds pass: it then stays as it is, for the next controller).

        Raises:
            DeploymentError: another live controller holds the rollout.
        """
        self._take(rollout)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            rollout = get_rollout(self.store, rollout.id)
            if not rollout.is_active:
                return rollout
            if not claim(self.store, rollout, self.id, stale_after=self.lease_s):
                raise DeploymentError(f"Rollout #{rollout.id} on {self.name} was taken over "
                                      "by another controller", deployment=self.name)
            ended = self._turn(rollout)
            if ended is not None:
                return self._settle(ended)
            if deadline is not None and time.monotonic() > deadline:
                return rollout
            time.sleep(self.poll_s)

    def _take(self, rollout: Rollout) -> None:
        """Take the rollout's lease, waiting out a silent controller's (one that was killed);
        a controller that keeps renewing it keeps it.

        Raises:
            DeploymentError: another live controller holds the rollout.
        """
        deadline = time.monotonic() + self.lease_s + 2 * self.poll_s + 1.0
        while not claim(self.store, rollout, self.id, stale_after=self.lease_s):
            holder = get_rollout(self.store, rollout.id)
            if not holder.is_active:
                return
            if time.monotonic() > deadline:
                age = time.time() - (holder.heartbeat or 0.0)
                raise DeploymentError(
                    f"Rollout #{rollout.id} on {self.name} is driven by controller "
                    f"{holder.controller} (heard from {age:.1f} s ago); stop it first, or "
                    "wait for it to end", deployment=self.name)
            time.sleep(min(self.poll_s, 0.5))

    def _turn(self, rollout: Rollout) -> Rollout | None:
        """One look at the rollout; returns it when it ended in this turn."""
        details = dict(rollout.details)
        request, by = rollout.request, rollout.requested_by or "someone"
        if request == "abort":
            return withdraw(self.store, rollout, state="aborted", reason=f"aborted by {by}",
                            actor=by, details=details)
        if request == "promote_now":
            return complete(self.store, rollout, actor=by, details=details,
                            reason=f"promoted at once by {by}")
        if request in ("pause", "resume"):
            state = "paused" if request == "pause" else "running"
            if request == "resume":
                details["snapshot"] = None  # the step's window starts again
            save_details(self.store, rollout, details, state=state)
            return None
        if rollout.state == "paused":
            self.on_progress(Progress(rollout, "paused", f"paused by {by}"))
            return None
        seen = self._observe(rollout)
        target = int(details.get("revision") or 0)
        if seen.revision is None or seen.revision < target:
            server = seen.error or f"applying revision {target} (server at {seen.revision})"
            self.on_progress(Progress(rollout, "waiting", server))
            return None
        server = f"revision {seen.revision} applied"
        phase = details.get("phase")
        if rollout.strategy == "direct":
            return complete(self.store, rollout, actor=self.actor, details=details)
        if phase == "warming":  # blue-green: the candidate is loaded and warm: flip
            details.update(phase="observing", snapshot=None)
            set_traffic(self.store, rollout, weight=1.0, step=0, actor=self.actor,
                        details=details)
            return None
        snapshot = details.get("snapshot")
        if not snapshot or snapshot.get("revision") != target:
            details["phase"] = "observing"
            details["snapshot"] = {
                "revision": target, "at": time.time(),
                "samples": {f"{v}|{ver}": asdict(s) for (v, ver), s in seen.samples.items()}}
            save_details(self.store, rollout, details)
            return None
        return self._look(rollout, details, seen, server)

    def _observe(self, rollout: Rollout) -> Observation:
        """The server's answer; a managed server whose process died is started again first."""
        seen = self.probe.observe()
        if seen.revision is not None or self.server is None:
            return seen
        launched = self.server.revive(self.store, actor=self.actor)
        if launched is None:
            return seen
        self.on_progress(Progress(rollout, "restarted", f"the managed server had stopped; "
                                                        f"restarted it (pid {launched.pid}), "
                                                        f"log: {launched.log}"))
        return self.probe.observe()

    def _look(self, rollout: Rollout, details: dict[str, Any], seen: Observation,
              server: str) -> Rollout | None:
        snapshot = details["snapshot"]
        before = snapshot["samples"]
        variant = "shadow" if rollout.strategy == "shadow" else "candidate"
        cand_key = (variant, str(rollout.version))
        inc_key = ("stable", str(rollout.from_version))
        candidate = delta(seen.samples.get(cand_key, EMPTY), _sample(before.get(_key(*cand_key))))
        if rollout.strategy == "blue_green":  # the incumbent takes no traffic after the flip:
            incumbent = _sample(before.get(_key(*inc_key)))  # its answers before it
        else:
            incumbent = delta(seen.samples.get(inc_key, EMPTY),
                              _sample(before.get(_key(*inc_key))))
        guards: GuardsConfig = self.cfg.guards
        plan = rollout.steps
        decisions = tuple(check_guards(guards, candidate, incumbent, looks=max(1, len(plan))))
        step = plan[rollout.step]
        elapsed = time.time() - float(snapshot["at"])
        self.on_progress(Progress(rollout, "observing", server, elapsed,
                                  float(step["min_seconds"]), candidate.requests,
                                  int(step["min_requests"]), decisions))
        if elapsed < float(step["min_seconds"]) or candidate.requests < int(step["min_requests"]):
            return None
        failed = [d for d in decisions if d.status == "fail"]
        if not failed and any(d.status == "insufficient" for d in decisions):
            return None  # a guard never decides on fewer requests than its minimum
        record = {"step": rollout.step, "weight": rollout.weight, "at": time.time(),
                  "requests": candidate.requests, "incumbent_requests": incumbent.requests,
                  "decisions": [asdict(d) for d in decisions]}
        details["decisions"] = [*details.get("decisions", []), record]
        details["snapshot"] = None
        if failed:
            first = failed[0]
            reason = (f"guard {first.guard} failed at step {rollout.step + 1} of {len(plan)}: "
                      f"{first.detail}")
            return withdraw(self.store, rollout, state="rolled_back", reason=reason,
                            actor=self.actor, details=details, decision=asdict(first))
        if rollout.step + 1 < len(plan):
            following = plan[rollout.step + 1]
            set_traffic(self.store, rollout, weight=float(following["weight"]),
                        step=rollout.step + 1, actor=self.actor, details=details)
            return None
        return complete(self.store, rollout, actor=self.actor, details=details)

    def _settle(self, ended: Rollout, *, wait_s: float = 30.0) -> Rollout:
        """After the last move: wait until the server applied it, and record when."""
        target = int(ended.details.get("revision") or 0)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            seen = self._observe(ended)
            if seen.revision is not None and seen.revision >= target:
                details = {**ended.details, "applied_at": time.time()}
                ended = save_details(self.store, ended, details)
                self.on_progress(Progress(ended, "ended", f"revision {seen.revision} applied"))
                return ended
            self.on_progress(Progress(ended, "ended", seen.error or
                                      f"applying revision {target} (server at {seen.revision})"))
            time.sleep(self.poll_s)
        return ended
