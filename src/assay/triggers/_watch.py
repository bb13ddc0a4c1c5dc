"""``assay watch``: the one long-running process of a project that computes its monitors'
windows when they are due (and sends their alerts), fires its triggers, and carries their
firings through run, approval and rollout.

- **One per project**: an exclusive ``flock`` on ``.assay/watch.lock`` (released by the kernel
  when the process dies, even by SIGKILL); a second watch is refused, naming the first's pid.
- **Restart-safe**: a cause is claimed in the store before anything is done for it (unique per
  trigger and cause), so it fires once; a firing a dead watch left unfinished is taken over
  and carried on (the run again, its finished stages restored from the run cache; the rollout
  by its id).
- **Graceful stop**: SIGTERM or Ctrl-C while idle ends the loop at once; during a run or a
  rollout it interrupts that step as ``assay run`` and the controller do (the run is recorded
  as interrupted, the rollout keeps its state) and the next watch carries the firing on.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assay.triggers._causes import arm, due, iso, next_slot
from assay.triggers._fire import Driver, carry_on, fire
from assay.triggers._firings import UNFINISHED, Firing, firings, take, unfinished

if TYPE_CHECKING:
    from pathlib import Path

    from assay.config import MonitoringConfig
    from assay.monitoring import WindowResult

LOCK_NAME = "watch.lock"
#: The longest a watch sleeps between two looks at the store (data triggers, approvals).
DEFAULT_INTERVAL = 60.0


@contextlib.contextmanager
def watch_lock(state_dir: Path) -> Iterator[None]:
    """Hold the project's watch lock (``.assay/watch.lock``, holding the holder's pid).

    Raises:
        TriggerError: another ``assay watch`` holds it.
    """
    from assay.errors import TriggerError
    from assay.pipeline import file_lock

    path = state_dir / LOCK_NAME

    def busy() -> BaseException:
        try:
            holder = path.read_text().strip() or "?"
        except OSError:
            holder = "?"
        return TriggerError(f"another assay watch (pid {holder}) is running in this project; "
                            f"one watch per project: stop it first (kill -TERM {holder})",
                            lock=str(path))

    with file_lock(path, busy=busy) as fd:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield


@dataclass
class Watch:
    """One watch over ``driver.project``: :meth:`run` loops until stopped (or once)."""

    driver: Driver
    interval: float = DEFAULT_INTERVAL
    send_alerts: bool = True
    stopping: bool = False
    busy: bool = False
    fired: list[Firing] = field(default_factory=list)
    _last_error: dict[str, str] = field(default_factory=dict)

    # -- the loop ----------------------------------------------------------------------------

    def run(self, *, once: bool = False) -> list[Firing]:
        """Watch until SIGTERM / Ctrl-C (``once``: one round, then return); returns the
        firings this watch started or carried on.

        Raises:
            TriggerError: another watch holds the project.
        """
        with watch_lock(self.driver.project.state_dir), self._signals():
            self.driver.say(f"watching {self._what()} (pid {os.getpid()})")
            try:
                self._armed = {name: arm(self.driver.store, name, trigger,
                                         actor=self.driver.actor)
                               for name, trigger in self.driver.project.config.triggers.items()}
                self._resume()
                while not self.stopping:
                    now = time.time()
                    self._monitors(now)
                    self._triggers(now)
                    if once:
                        break
                    self._sleep(self._wake_at(time.time()))
            except KeyboardInterrupt:
                self.stopping = True
            self.driver.say("stopped" + (" (a firing under way is carried on by the next "
                                         "assay watch)" if self.busy else ""))
        return self.fired

    def _what(self) -> str:
        config = self.driver.project.config
        monitors = [k for k, v in config.monitoring.items() if v.watches_data]
        return (f"{len(monitors)} monitor(s) and {len(config.triggers)} trigger(s)"
                + (f" ({', '.join(sorted(config.triggers))})" if config.triggers else ""))

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        def stop(signum: int, frame: Any) -> None:
            self.stopping = True
            if self.busy:  # a run or a rollout: interrupt it (it keeps its records straight)
                raise KeyboardInterrupt

        previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    def _sleep(self, until: float) -> None:
        while not self.stopping and time.time() < until:
            time.sleep(min(0.2, max(0.0, until - time.time())))

    def _wake_at(self, now: float) -> float:
        """The next time something may be due: a monitor's window, a schedule's slot, or the
        interval's look at the store."""
        config = self.driver.project.config
        times = [now + self.interval]
        for name, monitor in config.monitoring.items():
            if monitor.deployment is not None:  # a dataset monitor: at each look at the store
                times.append(self._last_window_at(name) + monitor.every_seconds)
        for trigger in config.triggers.values():
            if trigger.schedule is not None:
                times.append(next_slot(trigger.schedule, now))
        return max(now + 0.5, min(times))

    # -- firings a dead watch left, and firings waiting for an approval ------------------------

    def _resume(self) -> None:
        from assay.pipeline import is_gone

        for firing in unfinished(self.driver.store):
            if firing.state == "awaiting_approval" or is_gone(firing.details.get("owner")):
                mine = take(self.driver.store, firing, self.driver.owner)
                if mine is None:
                    continue
                if firing.state != "awaiting_approval":
                    self.driver.say(f"trigger {firing.trigger} #{firing.id}: taking over from "
                                    f"a watch that stopped ({firing.state}, attempt "
                                    f"{mine.attempts})")
                self._carry(mine)
            else:
                self.driver.say(f"trigger {firing.trigger} #{firing.id} is {firing.state} in "
                                "another live process; left to it")

    def _carry(self, firing: Firing) -> Firing:
        self.busy = True
        try:
            done = carry_on(self.driver, firing)
        finally:
            self.busy = False
        self.fired.append(done)
        return done

    # -- monitors ----------------------------------------------------------------------------

    def _last_window_at(self, monitor: str) -> float:
        from assay.monitoring import windows

        newest = windows(self.driver.store, monitor, limit=1)
        return float(newest[-1].created_at or 0.0) if newest else 0.0

    def _monitors(self, now: float) -> None:
        from assay.errors import MonitoringError
        from assay.monitoring import run_monitor

        project, store = self.driver.project, self.driver.store
        for name, config in project.config.monitoring.items():
            try:
                if not self._due(name, config, now):
                    continue
                window = run_monitor(project, store, name, actor=self.driver.actor)
            except MonitoringError as exc:
                if self._last_error.get(name) != str(exc):  # said once, not every round
                    self.driver.say(f"monitor {name}: {exc}")
                self._last_error[name] = str(exc)
                continue
            self._last_error.pop(name, None)
            self.driver.say(f"monitor {name}: window {window.id}: {_verdict(window)}")
            if self.send_alerts:
                self._alert(window)

    def _due(self, name: str, config: MonitoringConfig, now: float) -> bool:
        """A deployment monitor every ``every:``; a dataset monitor when its dataset has a
        version no window of it has looked at yet.

        Raises:
            MonitoringError: the dataset has no recorded version.
        """
        from assay.monitoring import windows
        from assay.monitoring._reference import dataset_version

        if config.deployment is not None:
            return now - self._last_window_at(name) >= config.every_seconds
        if config.dataset is None:
            return False
        newest = dataset_version(self.driver.project, self.driver.store, monitor=name,
                                 text=config.dataset)
        last = windows(self.driver.store, name, limit=1)
        return not last or last[-1].versions != [f"v{newest.dataset_version}"]

    def _alert(self, window: WindowResult) -> None:
        from assay.alerts import send_alerts

        for delivery in send_alerts(self.driver.project, self.driver.store, window,
                                    actor=self.driver.actor):
            self.driver.say(f"alert to {delivery.channel}: {delivery.status}"
                            + (f" ({delivery.reason})" if delivery.reason else ""))

    # -- triggers ----------------------------------------------------------------------------

    def _triggers(self, now: float) -> None:
        store = self.driver.store
        config = self.driver.project.config
        for firing in unfinished(store):  # approvals given since the last round
            if firing.state == "awaiting_approval" and not self.stopping:
                self._carry(firing)
        for name, trigger in config.triggers.items():
            if self.stopping:
                return
            mine = firings(store, name, limit=1)
            last = mine[0] if mine else None
            if last is not None and last.state in UNFINISHED:
                continue  # one firing of a trigger at a time
            if last is not None and now - last.created_at < trigger.cooldown_seconds:
                continue
            last_at = None if last is None else float(last.details.get("at") or
                                                      last.created_at)
            cause = due(store, config, trigger, armed=self._armed[name], last_at=last_at,
                        now=now)
            if cause is None:
                continue
            self.busy = True
            try:
                self.fired.append(fire(self.driver, name, cause))
            finally:
                self.busy = False


def _verdict(window: WindowResult) -> str:
    drifted = window.drifted
    text = f"{window.verdict} ({window.rows:,} rows"
    if drifted:
        text += f"; drifted: {', '.join(drifted)}"
    return text + f"; {iso(float(window.created_at or time.time()))})"
