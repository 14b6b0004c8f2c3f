"""Runs started over MCP: each in a worker process, watched while a tool call waits.

The runner itself is the one `osiris run` uses, run by `runtime.worker` in a process of
its own — so no read, write or DuckDB query of a run can stall the server's event loop
(connectorx holds the GIL for a whole fetch). This module starts the worker with a run
id chosen up front, follows it from a thread that waits on the worker's event pipe,
records its progress from the events, and answers "where is run X" from memory for runs
of this process and from their `status.json` for any other run of the project.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger("osiris_mcp.runs")

TERMINAL = frozenset({"success", "failed", "cancelled"})


@dataclass
class TrackedRun:
    """A run started by this server: its cancel switch and what its events said so far."""

    run_id: str
    manifest_hash: str
    pipeline: str
    total_steps: int
    detached: bool = False
    cancel_requested: bool = False
    done: threading.Event = field(default_factory=threading.Event)
    status: str = "starting"
    steps_finished: int = 0
    last_message: str = "starting"
    error: str | None = None
    session_dir: Path | None = None
    thread: threading.Thread | None = None
    worker: Any = None  # runtime.worker.RunWorker, once started


class RunTracker:
    """The runs this server started, by run id (thread-safe)."""

    def __init__(self, project_root: Path, mask: Callable[[str], str]) -> None:
        self.project_root = project_root
        self._mask = mask
        self._runs: dict[str, TrackedRun] = {}
        self._lock = threading.Lock()

    def start(
        self,
        build_dir: Path,
        *,
        manifest_hash: str,
        pipeline: str,
        total_steps: int,
        parallel: int = 1,
        detached: bool = False,
        keep_outputs: bool = False,
        engine: str = "duckdb",
        spark_master: str | None = None,
    ) -> TrackedRun:
        """Start the run of a verified build in a worker process; returns at once."""
        from runtime.adapters import RunRequest
        from runtime.sessions import new_run_id
        from runtime.worker import RunWorker

        run = TrackedRun(new_run_id(), manifest_hash, pipeline, total_steps, detached)
        request = RunRequest(
            build_dir=build_dir,
            project=self.project_root,
            parallel=parallel,
            on_event=lambda event: self._on_event(run, event),
            run_id=run.run_id,
            keep_outputs=keep_outputs,
            engine=engine,
            spark_master=spark_master,
        )
        run.worker = RunWorker(request, detached=detached)
        with self._lock:
            self._runs[run.run_id] = run
        run.thread = threading.Thread(
            target=self._run,
            args=(run,),
            name=f"osiris-run-{run.run_id}",
            daemon=True,
        )
        run.thread.start()
        return run

    def get(self, run_id: str) -> TrackedRun | None:
        with self._lock:
            return self._runs.get(run_id)

    def active(self) -> list[TrackedRun]:
        with self._lock:
            return [r for r in self._runs.values() if not r.done.is_set()]

    def cancel(self, run: TrackedRun) -> None:
        """Stop a run: its cancel file, then its queries on the servers (blocking: a thread)."""
        run.cancel_requested = True
        if run.worker is not None:
            run.worker.cancel()

    def cancel_attached(self) -> None:
        """Cancel every run of this server that was not detached (on its way out)."""
        for run in self.active():
            if not run.detached:
                self.cancel(run)

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """The client went away: cancel every run it started that was not detached, and
        wait (bounded) for them to stop cleanly; detached runs go on on their own."""
        runs = self.active()
        for run in runs:
            if run.detached:
                run.worker.detach()
            else:
                self.cancel(run)
        deadline = time.monotonic() + timeout_s
        for run in runs:
            if not run.detached:
                run.done.wait(max(0.0, deadline - time.monotonic()))

    # -- the thread ---------------------------------------------------------------------------

    def _run(self, run: TrackedRun) -> None:
        try:
            collected = run.worker.run()
            run.session_dir = collected.session_dir
            run.status = collected.status
            run.last_message = f"run {collected.status}"
        except Exception as err:  # the run never started (or its adapter broke): say why
            message = self._mask(str(err)) or type(err).__name__
            hint = getattr(err, "hint", None)
            run.error = f"{message} ({self._mask(hint)})" if hint else message
            run.status = "failed"
            run.last_message = "the run could not start"
            logger.warning("run %s did not start: %s", run.run_id, run.error)
        finally:
            run.done.set()

    def _on_event(self, run: TrackedRun, event: dict[str, Any]) -> None:
        kind = str(event.get("event_type", ""))
        step = event.get("step_id")
        if kind == "execution.start":
            run.status = "running"
            run.last_message = "run started"
        elif kind in ("execution.step.complete", "execution.step.skipped", "execution.step.error"):
            run.steps_finished = min(run.steps_finished + 1, run.total_steps)
            run.last_message = f"step {step}: {kind.rsplit('.', 1)[-1]}"
        elif kind == "execution.step.start":
            run.last_message = f"step {step}: running"


def status_snapshot(
    project_root: Path, run_id: str, tracked: TrackedRun | None
) -> dict[str, Any] | None:
    """The run's status.json as it is now (or the tracker's view before it exists)."""
    from runtime.sessions import find_run, read_status

    session = tracked.session_dir if tracked and tracked.session_dir else None
    if session is None:
        session = find_run(project_root, run_id)
    if session is not None:
        try:
            status: dict[str, Any] = read_status(session)  # repaired if its process died
        except (OSError, ValueError):
            status = {}
        if status:
            if tracked is not None and tracked.done.is_set() and status.get("status") == "running":
                status["status"] = tracked.status  # the thread ended after its last write
            return status
    if tracked is None:
        return None
    return {
        "session_id": run_id,
        "pipeline": tracked.pipeline,
        "manifest_hash": tracked.manifest_hash,
        "status": tracked.status,
        "steps": [],
    }
