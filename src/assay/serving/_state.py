"""What one server holds: the served models, their inference threads, the prediction log and
the metrics; loading them in the background and following aliases (the hot swap)."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import AssayError, RequestRejected
from assay.serving._batcher import Batcher
from assay.serving._deployment import DeploymentSlot, deployment_slot
from assay.serving._events import log_line
from assay.serving._feedback import Answers
from assay.serving._metrics import Metrics
from assay.serving._model import Slot, find_project, is_path_ref
from assay.serving._options import ServeOptions
from assay.serving._predlog import PredictionLog

if TYPE_CHECKING:
    from assay.config import Project
    from assay.serving._shadow import ShadowProcess


def _slot_name(ref: str) -> str:
    if is_path_ref(ref):
        return Path(ref).name
    return re.split(r"[:@]", ref, maxsplit=1)[0]


class ServerState:
    """The served models, their inference threads, the prediction log, the metrics."""

    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        self.metrics = Metrics()
        self.answers = Answers()
        """Recent one-row answers, for scoring feedback labels as they arrive."""
        self.project: Project | None = None
        self.slots: dict[str, Slot] = {}
        for ref in options.refs:
            self.slots.setdefault(_slot_name(ref), Slot(ref))
        self.deployment: DeploymentSlot | None = None
        if options.deployment is not None:
            try:
                self.project = find_project(options.root)
            except AssayError as exc:
                self.deployment = DeploymentSlot(options.deployment, None, str(exc))
            else:
                self.deployment = deployment_slot(options.deployment, self.project)
            config = self.deployment.config
            self.slots[config.model_name if config else options.deployment] = self.deployment
        self.batchers: dict[str, Batcher] = {}
        self.shadows: dict[str, ShadowProcess] = {}
        """Each deployment's shadow predictions, made in a child process (:mod:`._shadow`)."""
        self.log: PredictionLog | None = None
        self.draining = False
        self.in_flight = 0
        self.started_at = time.time()
        self.ready_at: float | None = None
        self.wake = threading.Event()
        self._force = False
        self._started = False
        self._stopping = threading.Event()
        self._start_lock = threading.Lock()
        self._poller: threading.Thread | None = None
        self._after_first_load: list[Callable[[], None]] = []

    def after_first_load(self, call: Callable[[], None]) -> None:
        """Run ``call`` once the first load of every model has been tried (loaded or not)."""
        self._after_first_load.append(call)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Load the models in the background and start following aliases (idempotent)."""
        if self._started:
            return
        with self._start_lock:
            if self._started:
                return
            self._started = True
        for name in self.slots:
            self.batchers[name] = Batcher(
                name, max_batch_rows=self.options.max_batch_rows,
                max_wait_ms=self.options.max_wait_ms,
                on_batch=self.metrics.batch_rows.labels(name).observe)
            if isinstance(self.slots[name], DeploymentSlot):
                from assay.serving._shadow import ShadowProcess

                self.shadows[name] = ShadowProcess(
                    name, metrics=self.metrics, log=lambda: self.log, root=self.options.root,
                    allow_pickle=self.options.allow_pickle,
                    max_in_flight=self.options.max_concurrency,
                    max_batch_rows=self.options.max_batch_rows,
                    timeout_s=self.options.timeout_s, answers=self.answers)
        self._poller = threading.Thread(target=self._follow, name="assay-serve-follow",
                                        daemon=True)
        self._poller.start()

    def stop(self) -> None:
        self.draining = True
        self._stopping.set()
        self.wake.set()
        for batcher in self.batchers.values():
            batcher.close()
        for shadow in self.shadows.values():
            shadow.close()
        for slot in self.slots.values():
            slot.close()
        if self.log is not None:
            self.log.close()
        self.metrics.close()

    def check_now(self) -> None:
        """SIGHUP: check every followed alias now (a failed version is tried again)."""
        self._force = True
        self.wake.set()

    def _follow(self) -> None:
        try:
            self.project = find_project(self.options.root)
        except AssayError as exc:
            for slot in self.slots.values():
                slot.reason = str(exc)
            return
        log_dir = Path(self.options.log_dir) if self.options.log_dir else (
            (self.project.state_dir if self.project else Path.cwd() / ".assay") / "predictions")
        if self.options.log_sample > 0:
            self.log = PredictionLog(
                log_dir, metrics=self.metrics, sample=self.options.log_sample,
                capacity=self.options.log_queue, segment_rows=self.options.log_segment_rows,
                segment_seconds=self.options.log_segment_seconds,
                deployment=self.options.deployment)
        first = True
        while not self._stopping.is_set():
            force, self._force = self._force, False
            for name, slot in self.slots.items():
                if first or force or slot.follows_alias or slot.current is None:
                    self._check(name, slot, force)
            if self.ready and self.ready_at is None:
                self.ready_at = time.time()
                self.metrics.ready.set(1)
            if first:
                for call in self._after_first_load:
                    call()
            first = False
            timeout = self.options.poll if self.options.poll > 0 else None
            self.wake.wait(timeout)
            self.wake.clear()

    def _check(self, name: str, slot: Slot, force: bool) -> None:
        try:
            happened = slot.check(self.project, allow_pickle=self.options.allow_pickle,
                                  force=force)
        except Exception as exc:  # a model's own load code: keep following
            happened = ("serving.load_failed", {"ref": slot.ref, "reason": repr(exc)[:300]})
        if isinstance(slot, DeploymentSlot) and slot.routing is not None:
            self.metrics.deployment_revision.labels(slot.deployment).set(
                slot.routing.revision or 0)
        if happened is None:
            self._follow_shadow(name, slot)
            return
        kind, details = happened
        if kind == "serving.swapped":
            self.metrics.swaps.labels(name, "swapped").inc()
        elif kind == "serving.swap_failed":
            self.metrics.swaps.labels(name, "failed").inc()
        log_line({"event": kind, "model": name, **details})
        if self.project is not None and kind != "serving.loaded":
            try:
                from assay.store import open_store

                with open_store(self.project.store_url) as store:
                    store.record_event(kind, name, details)
            except AssayError as exc:
                log_line({"event": "serving.event_not_recorded", "kind": kind,
                           "reason": str(exc)})
        self._follow_shadow(name, slot)

    def _follow_shadow(self, name: str, slot: Slot) -> None:
        """The shadow process runs the routing's shadow version, or stops when there is none."""
        shadow = self.shadows.get(name)
        if shadow is not None and slot.routing is not None and not self._stopping.is_set():
            shadow.follow(slot.routing.shadow)

    @property
    def ready(self) -> bool:
        return not self.draining and all(s.current is not None for s in self.slots.values())

    def status(self) -> dict[str, Any]:
        models = []
        for name, slot in self.slots.items():
            current = slot.current
            models.append({
                "name": current.name if current else name,
                "ref": slot.ref,
                "ready": current is not None,
                "version": current.version if current else None,
                "oid": current.target.oid if current else None,
                "flavor": current.model.package.flavor if current else None,
                "loaded_at": current.loaded_at if current else None,
                "follows_alias": slot.follows_alias,
                "reason": slot.reason if current is None else None,
                "last_failure": slot.failed[1] if slot.failed else None,
            })
        found: dict[str, Any] = {"live": True, "ready": self.ready, "draining": self.draining,
                "pid": os.getpid(),
                "started_at": self.started_at, "ready_at": self.ready_at,
                "in_flight": self.in_flight, "models": models}
        if self.deployment is not None:
            found["deployment"] = self.deployment.describe()
            for shadow in self.shadows.values():
                found["deployment"]["shadow_process"] = shadow.describe()
        return found

    def slot(self, name: str | None) -> tuple[str, Slot]:
        if name is None:
            if len(self.slots) == 1:
                return next(iter(self.slots.items()))
            raise RequestRejected(
                f"This server serves {', '.join(self.slots)}; name one with ?model=NAME",
                status=404, field="model")
        found = self.slots.get(name)
        if found is None:
            for key, slot in self.slots.items():
                if slot.current is not None and slot.current.name == name:
                    return key, slot
            raise RequestRejected(f"No model {name!r} is served here (serving "
                                  f"{', '.join(self.slots)})", status=404, field="model")
        return name, found
