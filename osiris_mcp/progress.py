"""Live progress of a run on a terminal: one bar per running step, drawn by rich.

What each step reports (runtime events) becomes its line:
- `read.start` (the server's row estimate), `read.progress` (rows so far): rows, rate,
  percent and time left while the extract reads;
- `write.start` (the rows to write), `write.progress`: the same while a writer loads;
- `write.phase` (`merge`, ...): a spinner with the elapsed time while the server works on
  its own (an upsert's merge) and sends no rows;
- `execution.step.complete` / `.error` / `.skipped`: the bar gives way to one line.

rich is imported only when a run starts on a terminal, so `osiris validate` and friends
never pay for it. Colour follows the terminal, off with `--no-color` or `NO_COLOR`.
"""

from __future__ import annotations

import threading
import time
from typing import Any

_PHASES = {
    "merge": "merging on the server",
    "replace": "replacing the target's rows on the server",
}


class LiveProgress:
    """Draws the running steps; `on_event` may be called from any thread."""

    def __init__(self, color: bool = True) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            SpinnerColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = Console(stderr=True, no_color=not color, highlight=False)
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(bar_width=24),
            TaskProgressColumn(),
            TextColumn("{task.fields[rows]}"),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
            refresh_per_second=8,
        )
        self._lock = threading.Lock()
        self._tasks: dict[str, Any] = {}
        self._started: dict[str, float] = {}
        self._running = False

    def start(self) -> None:
        self.progress.start()
        self._running = True

    def stop(self) -> None:
        if self._running:
            self._running = False
            self.progress.stop()

    def note(self, text: str) -> None:
        """A line above the bars (a clean line on Ctrl-C, say)."""
        self.console.print(text, markup=False)

    def on_event(self, event: dict[str, Any]) -> None:
        kind = str(event.get("event_type"))
        step = event.get("step_id")
        if not step:
            return
        data = event.get("data") or {}
        with self._lock:
            if kind == "execution.step.start":
                self._begin(step, f"{step} ({data.get('component')})")
            elif kind == "read.start" and data.get("estimate"):
                self._update(step, total=int(data["estimate"]))
            elif kind == "read.progress":
                self._update(step, completed=int(data.get("rows", 0)))
            elif kind == "write.start":
                self._update(step, total=int(data.get("total") or 0) or None, completed=0)
            elif kind == "write.progress":
                self._update(step, completed=int(data.get("rows", 0)))
            elif kind == "write.phase":  # no rows to count: a spinner and the time it takes
                phase = str(data.get("phase"))
                old = self._tasks.pop(step, None)
                if old is not None:
                    self.progress.remove_task(old)
                self._tasks[step] = self.progress.add_task(
                    f"{step}: {_PHASES.get(phase, phase)}…", total=None, rows="", rate=""
                )
            elif kind == "execution.step.complete":
                self._end(step, f"[green]✓[/] {step}: {_rows_done(data)} in {_took(data)}")
            elif kind == "execution.step.error":
                self._end(step, f"[red]✗[/] {step}: {_escape(str(data.get('error', '')))}")
            elif kind == "execution.step.skipped":
                self._end(step, f"[dim]- {step}: skipped ({_escape(str(data.get('reason')))})[/]")

    # -- the bars ---------------------------------------------------------------------

    def _begin(self, step: str, description: str) -> None:
        self._started[step] = time.monotonic()
        self._tasks[step] = self.progress.add_task(description, total=None, rows="", rate="")

    def _update(self, step: str, **changes: Any) -> None:
        task = self._tasks.get(step)
        if task is None:
            return
        self.progress.update(task, **changes)
        current = self.progress.tasks[self._index(task)]
        rows = int(current.completed or 0)
        elapsed = time.monotonic() - self._started.get(step, time.monotonic())
        if rows:
            rate = f"{rows / elapsed:,.0f} rows/s" if elapsed > 0 else ""
            self.progress.update(task, rows=f"{rows:,} rows", rate=rate)

    def _end(self, step: str, line: str) -> None:
        task = self._tasks.pop(step, None)
        if task is not None:
            self.progress.remove_task(task)
        self.console.print(line)

    def _index(self, task: Any) -> int:
        return next(i for i, t in enumerate(self.progress.tasks) if t.id == task)


def _rows_done(data: dict[str, Any]) -> str:
    written, read = int(data.get("rows_written") or 0), int(data.get("rows_read") or 0)
    return f"{written:,} rows written" if written or not read else f"{read:,} rows read"


def _took(data: dict[str, Any]) -> str:
    return f"{int(data.get('duration_ms') or 0) / 1000:.2f}s"


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
