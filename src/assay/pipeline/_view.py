"""What a run shows while it runs: a rich live table on a terminal, plain lines elsewhere."""

from __future__ import annotations

import sys
import time
from typing import IO, Any, Protocol

from assay._console import escape


class Reporter(Protocol):
    """Receives run progress from the runner."""

    def message(self, text: str) -> None: ...

    def stage_started(self, stage: str, attempt: int) -> None: ...

    def stage_output(self, stage: str, line: str) -> None: ...

    def stage_finished(self, stage: str, status: str, seconds: float, detail: str = "") -> None: ...

    def close(self) -> None: ...


class QuietReporter:
    """Reports nothing (library use, ``--json``)."""

    def message(self, text: str) -> None:
        pass

    def stage_started(self, stage: str, attempt: int) -> None:
        pass

    def stage_output(self, stage: str, line: str) -> None:
        pass

    def stage_finished(self, stage: str, status: str, seconds: float, detail: str = "") -> None:
        pass

    def close(self) -> None:
        pass


class PlainReporter:
    """One line per event: for CI logs and pipes."""

    def __init__(self, stream: IO[str] | None = None, *, show_output: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.show_output = show_output

    def _write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        self._write(text)

    def stage_started(self, stage: str, attempt: int) -> None:
        again = f" (attempt {attempt})" if attempt > 1 else ""
        self._write(f"> {stage}: running{again}")

    def stage_output(self, stage: str, line: str) -> None:
        if self.show_output:
            self._write(f"  [{stage}] {line}")

    def stage_finished(self, stage: str, status: str, seconds: float, detail: str = "") -> None:
        extra = f": {detail}" if detail else ""
        self._write(f"{_ICONS.get(status, '-')} {stage}: {status} ({seconds:.2f}s){extra}")

    def close(self) -> None:
        pass


_ICONS = {"succeeded": "+", "failed": "x", "up-to-date": "=", "restored": "=", "skipped": "-",
          "interrupted": "!", "cancelled": "!"}
_STYLES = {"succeeded": "green", "failed": "red", "up-to-date": "dim", "restored": "cyan",
           "skipped": "yellow", "interrupted": "red", "cancelled": "yellow", "running": "bold"}


class LiveReporter:
    """A rich live table: stage, state, duration, last output line.

    The table appears with the first event: a run with nothing to do (every stage up to date)
    shows nothing but the command's one line, as the no-op shortcut does.
    """

    def __init__(self, stages: list[str]) -> None:
        from assay._console import make_console

        self.console = make_console(stderr=True)
        self.rows: dict[str, list[Any]] = {s: ["waiting", None, 0.0, ""] for s in stages}
        self._live: Any = None

    @property
    def live(self) -> Any:
        if self._live is None:
            from rich.live import Live

            self._live = Live(self._table(), console=self.console, refresh_per_second=8,
                              transient=False)
            self._live.start()
        return self._live

    def _table(self) -> Any:
        from rich.table import Table

        table = Table(box=None, show_header=True, header_style="bold")
        # a stage's whole name (train[model=rf]) is what tells candidates apart: the last
        # output line gets what room the terminal has left
        name_width = max(map(len, self.rows), default=5)
        room = self.console.width - name_width - 10 - 6 - 8  # state, time, column padding
        table.add_column("stage", no_wrap=True, min_width=name_width)
        table.add_column("state", no_wrap=True, min_width=10)
        table.add_column("time", justify="right", no_wrap=True, min_width=6)
        table.add_column("output", overflow="ellipsis", no_wrap=True,
                         max_width=max(10, min(60, room)))
        now = time.monotonic()
        for stage, (state, started, seconds, line) in self.rows.items():
            shown = seconds if started is None else now - started
            style = _STYLES.get(state, "")
            table.add_row(escape(stage), f"[{style}]{state}[/]" if style else escape(state),
                          f"{shown:.1f}s" if state != "waiting" else "", escape(line))
        return table

    def _refresh(self) -> None:
        self.live.update(self._table())

    def message(self, text: str) -> None:
        self.live.console.print(escape(text))

    def stage_started(self, stage: str, attempt: int) -> None:
        label = "running" if attempt == 1 else f"retry {attempt}"
        self.rows[stage] = [label, time.monotonic(), 0.0, ""]
        self._refresh()

    def stage_output(self, stage: str, line: str) -> None:
        if stage in self.rows:
            self.rows[stage][3] = line.strip()
            self._refresh()

    def stage_finished(self, stage: str, status: str, seconds: float, detail: str = "") -> None:
        self.rows[stage] = [status, None, seconds, detail or self.rows.get(stage, ["", 0, 0, ""])[3]]
        self._refresh()

    def close(self) -> None:
        if self._live is not None:
            self._refresh()
            self._live.stop()
