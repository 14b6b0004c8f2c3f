"""The runner: executes a verified plan step by step on a run-scoped DuckDB data plane.

Steps run in manifest order; with `parallel > 1`, steps whose upstream steps are done
run at the same time. A `when` that is false skips a step (and the steps that need its
table); a failed step stops its dependents and the run ends `failed`; retryable errors
(a dropped connection, a deadlock) are retried with backoff, SQL errors never; a
cancel (Ctrl-C, MCP `run_cancel`) ends the run `cancelled` with targets untouched.
"""

from __future__ import annotations

import importlib
import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compiler.manifest import ManifestStep
from compiler.model import MAX_BACKOFF_MS
from components.common.quoting import quote_identifier
from components.protocol import DriverError, ReadFailed, StepResult
from runtime.builds import Build
from runtime.fusion import Chain, fused_chains, run_chain
from runtime.outputs import SAMPLE_ROWS
from runtime.packages import missing_package
from runtime.sessions import Session, peak_rss_mb, utc_now
from runtime.streams import streamed_pairs

STEP_STATUSES = ("pending", "running", "success", "failed", "skipped", "cancelled")
#: Longest step error kept: a driver's message may quote the data (a huge CSV line, a
#: value PostgreSQL could not cast), and it goes to status.json, events, every client.
MAX_ERROR_CHARS = 2000
#: Plans of up to this many steps rewrite status.json at every event; bigger ones at most
#: every STATUS_EVERY_S seconds (and always at the end). Measured (bench/many_steps.py):
#: rewriting at every event made 2,000 steps take minutes.
STATUS_EVERY_EVENT_UP_TO = 64
STATUS_EVERY_S = 0.5
_NO_ROOM = "free space on that disk (or move the project's run_logs), then run again"


@dataclass
class StepOutcome:
    id: str
    component: str
    mode: str = "transform"
    status: str = "pending"
    rows_read: int = 0
    rows_written: int = 0
    duration_ms: int = 0
    attempts: int = 0
    error: str | None = None
    category: str | None = None
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    #: the step's data-plane table holds only its sample: its rows streamed or went
    #: through a fused statement (runtime/streams.py, runtime/fusion.py)
    sample_only: bool = False

    def record(self, result: StepResult) -> None:
        """What the step's driver returned: its row counts and details."""
        self.rows_read = int(result.rows_read)
        self.rows_written = int(result.rows_written)
        self.details = dict(result.details)

    def to_status(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "component": self.component,
            "mode": self.mode,
            "status": self.status,
            "rows_read": self.rows_read,
            "rows_written": self.rows_written,
            "duration_ms": self.duration_ms,
        }
        if self.attempts > 1:
            data["attempts"] = self.attempts
        if self.error:
            data["error"] = self.error
            data["category"] = self.category
        if self.reason:
            data["reason"] = self.reason
        if self.details:
            data["details"] = self.details
        return data


class ContextForStep:
    """What a driver sees of the run (components/protocol.py StepContext)."""

    def __init__(
        self,
        step: ManifestStep,
        data_plane: Any,
        connection: Mapping[str, Any] | None,
        session: Session,
        project_dir: Path,
        cancel: threading.Event,
    ) -> None:
        self.step_id: str = step.id
        self.run_id: str = session.run_id  # database readers tag their queries with it
        self.component: str = step.component
        self.data_plane = data_plane
        self.output_table = quote_table(self.step_id)
        self.connection = connection
        self.artifacts_dir = session.artifacts_dir(self.step_id)
        self.project_dir = project_dir
        self._session = session
        self._cancel = cancel
        self.timed_out = threading.Event()

    def emit(self, event: str, **data: Any) -> None:
        self._session.event(event, step_id=self.step_id, **data)

    def metric(self, name: str, value: float, unit: str | None = None) -> None:
        self._session.metric(name, value, unit, step_id=self.step_id, component=self.component)

    def cancelled(self) -> bool:
        return self._cancel.is_set() or self.timed_out.is_set()


class _ReadError(DriverError):
    """The error of a read step whose rows were streaming into a writer (`ReadFailed`)."""

    def __init__(self, error: DriverError) -> None:
        super().__init__(str(error), category=error.category)
        self.error = error


def bounded(message: str, limit: int = MAX_ERROR_CHARS) -> str:
    """`message` cut to `limit` characters, saying how long it was.

    >>> bounded("x" * 30, 10)
    'xxxxxxxxxx… (cut: 30 characters in all)'
    """
    if len(message) <= limit:
        return message
    return f"{message[:limit]}… (cut: {len(message):,} characters in all)"


def quote_table(name: str) -> str:
    return quote_identifier(name)


def load_driver(component: str) -> Any:
    """Import a component's driver lazily: `components/<name with _>/driver.py`."""
    try:
        module = importlib.import_module(f"components.{component.replace('.', '_')}.driver")
    except ModuleNotFoundError as err:
        missing = missing_package(err)
        if missing is None:
            raise
        raise DriverError(missing, category="config") from None
    driver_class = getattr(module, "DRIVER", None)
    if driver_class is None:
        classes = [
            value
            for value in vars(module).values()
            if isinstance(value, type)
            and value.__module__ == module.__name__
            and callable(getattr(value, "run", None))
        ]
        if len(classes) != 1:
            raise DriverError(
                f"components/{component.replace('.', '_')}/driver.py must define one driver class",
                category="config",
            )
        driver_class = classes[0]
    return driver_class()


@dataclass
class RunOutcome:
    """What a run came to: the runner returns it, and status.json is written from it."""

    run_id: str
    pipeline: str
    manifest_hash: str
    status: str
    started_at: str
    finished_at: str | None
    duration_ms: int
    steps: list[StepOutcome]
    #: why the run failed outside any step (the disk refused its logs), with a hint
    error: str | None = None
    hint: str | None = None

    def to_status(self) -> dict[str, Any]:
        """status.json's content. While running it names the process that owns the run,
        so a reader can tell a run that died (SIGKILL, power loss) from one still going."""
        return {
            "session_id": self.run_id,
            "pipeline": self.pipeline,
            "manifest_hash": self.manifest_hash,
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_ms": self.duration_ms,
            "steps": [o.to_status() for o in self.steps],
            **({} if self.finished_at else {"pid": os.getpid()}),
            **({"error": self.error, "hint": self.hint} if self.error else {}),
        }

    def sample_rows(self) -> dict[str, int]:
        """Step id -> its row count, for the steps whose table holds only their sample
        (runtime/outputs.py `keep_outputs` says how many rows the step had)."""
        return {s.id: s.rows_written for s in self.steps if s.sample_only}


class Runner:
    """Runs one plan inside one session. Create one per run."""

    def __init__(
        self,
        plan: Build,
        session: Session,
        connections: Mapping[str, Mapping[str, Any] | None],
        data_plane: Any,
        project_dir: Path,
        parallel: int = 1,
        cancel: threading.Event | None = None,
        selection: Any = None,
        streaming: bool = False,
        drivers: Callable[[str], Any] | None = None,
    ) -> None:
        self.plan = plan
        #: a step's driver by component: the components' own (`load_driver`), or another
        #: engine's drivers over its own data plane (runtime/spark/steps.py)
        self.load_driver: Callable[[str], Any] = drivers or load_driver
        #: whether a read step may hand its rows straight to its writer (runtime/streams.py):
        #: not when every step's whole table is to be kept, nor with `--select`
        self.streaming = streaming and selection is None
        #: runtime.selection.Selection of `--select`: the steps to run, the ones to reuse
        self.selection = selection
        self.session = session
        self.connections = connections
        self.data_plane = data_plane
        self.project_dir = project_dir
        self.parallel = max(1, parallel)
        self.cancel = cancel or threading.Event()
        self.outcomes = {s.id: StepOutcome(s.id, s.component, s.mode) for s in plan.steps()}
        self.started_at = utc_now()
        self._t0 = time.monotonic()
        self._status_lock = threading.Lock()
        # status.json is rewritten whole, which costs O(steps): at every event for a plan
        # of ordinary size, at most every STATUS_EVERY_S for a big one, so the run's
        # bookkeeping stays O(1) per event (events.jsonl is appended, never rewritten)
        big = len(self.outcomes) > STATUS_EVERY_EVENT_UP_TO
        self._status_every_s = STATUS_EVERY_S if big else 0.0
        self._status_written = -STATUS_EVERY_S
        #: data-plane cursors of the steps running now: a cancel interrupts their queries
        self.cursors: dict[str, Any] = {}
        self._interrupted = False

    # -- status -----------------------------------------------------------------------

    def outcome(self, status: str, finished: bool = False) -> RunOutcome:
        """The run as it stands: `status`, ended or not."""
        disk_error = self.session.disk_error
        return RunOutcome(
            run_id=self.session.run_id,
            pipeline=self.plan.pipeline,
            manifest_hash=self.plan.manifest_hash,
            status=status,
            started_at=self.started_at,
            finished_at=utc_now() if finished else None,
            duration_ms=int((time.monotonic() - self._t0) * 1000),
            steps=list(self.outcomes.values()),
            error=disk_error,
            hint=None if disk_error is None else _NO_ROOM,
        )

    def write_status(self, status: str, finished: bool = False) -> RunOutcome | None:
        with self._status_lock:
            now = time.monotonic()
            if not finished and now - self._status_written < self._status_every_s:
                return None  # a big plan: the events say what happened meanwhile
            self._status_written = now
            outcome = self.outcome(status, finished)
            self.session.write_status(outcome.to_status())
            return outcome

    # -- the run ----------------------------------------------------------------------

    def run(self) -> RunOutcome:
        steps = self.plan.steps()
        self.session.event(
            "execution.start",
            pipeline=self.plan.pipeline,
            manifest_hash=self.plan.manifest_hash,
            steps=[s.id for s in steps],
            parallel=self.parallel,
        )
        self.write_status("running")
        pending = [] if self._drivers_missing(steps) else list(steps)
        if self.selection is not None:
            pending = [step for step in pending if not self._left_out(step)]
        streams: dict[str, ManifestStep] = {}
        chains: dict[str, Chain] = {}
        if self.streaming and pending:
            chains = fused_chains(pending, self.plan.configs, self.load_driver)
            fused = {step.id for chain in chains.values() for step in chain.steps}
            unfused = [step for step in pending if step.id not in fused]
            streams = streamed_pairs(unfused, self.plan.configs, self.load_driver)
        running: dict[Future[None], str] = {}
        with ThreadPoolExecutor(
            max_workers=self.parallel, thread_name_prefix="osiris-step"
        ) as pool:
            try:
                while pending or running:
                    for step in list(pending):
                        if len(running) >= self.parallel:
                            break
                        if self.cancel.is_set():
                            break
                        verdict = self._readiness(step)
                        if verdict == "wait":
                            continue
                        pending.remove(step)
                        writer = streams.get(step.id)
                        chain = chains.get(step.id)
                        if verdict == "run" and chain is not None:
                            for later in chain.steps[1:]:  # run with their reader, fused
                                pending.remove(later)
                            running[pool.submit(run_chain, self, chain)] = step.id
                        elif verdict == "run" and writer is not None:
                            pending.remove(writer)  # runs with its reader, rows streaming
                            running[pool.submit(self._run_streamed, step, writer)] = step.id
                        elif verdict == "run":
                            running[pool.submit(self.run_step, step)] = step.id
                    if not running:
                        if self.cancel.is_set() or not pending:
                            break
                        continue
                    done, _ = wait(list(running), timeout=0.1, return_when=FIRST_COMPLETED)
                    if self.cancel.is_set():
                        self._interrupt_running()
                    for future in done:
                        running.pop(future)
                        future.result()
            except KeyboardInterrupt:
                self.cancel.set()
                while running:  # interrupting on every tick, as above, until all have ended
                    self._interrupt_running()
                    done, _ = wait(list(running), timeout=0.1, return_when=FIRST_COMPLETED)
                    for future in done:
                        running.pop(future)
                        future.result()
        for step in pending:
            outcome = self.outcomes[step.id]
            outcome.status = "cancelled" if self.cancel.is_set() else "skipped"
            if outcome.status == "cancelled":
                self.session.event(
                    "execution.step.skipped", step_id=step.id, reason="run cancelled"
                )
        statuses = {o.status for o in self.outcomes.values()}
        if "failed" in statuses or self.session.disk_error is not None:
            final = "failed"  # a run whose logs the disk refused is not a success
        elif self.cancel.is_set() or "cancelled" in statuses:
            final = "cancelled"
        else:
            final = "success"
        summary = {
            "status": final,
            "duration_ms": int((time.monotonic() - self._t0) * 1000),
            "rows_read": sum(o.rows_read for o in self.outcomes.values()),
            "rows_written": sum(o.rows_written for o in self.outcomes.values()),
        }
        if final == "success":
            self.session.event("execution.complete", **summary)
        elif final == "cancelled":
            self.session.event("execution.cancelled", **summary)
        else:
            failed = [o.id for o in self.outcomes.values() if o.status == "failed"]
            self.session.event("execution.error", failed_steps=failed, **summary)
        self.session.metric("execution_time_ms", summary["duration_ms"], "ms")
        self.session.metric("memory_usage_mb", peak_rss_mb(), "MB")
        if self.session.disk_error is not None:
            final = "failed"  # the disk refused the closing events themselves
        outcome = self.write_status(final, finished=True)
        assert outcome is not None  # a finished status is always written
        return outcome

    def _interrupt_running(self) -> None:
        """Stop the DuckDB queries of running steps (drivers check `cancelled()` too).

        Called on every tick while the run is cancelled: DuckDB drops an interrupt that
        arrives before a query has started, so a step between its `cancelled()` check and
        its next query is interrupted on the following tick instead of running on."""
        for cursor in list(self.cursors.values()):
            cursor.interrupt()
        if self._interrupted:
            return
        self._interrupted = True
        # ... and the database queries of this run, from connections of their own (a read
        # blocked on its server would otherwise see the cancel only when it ends)
        from runtime.worker import stop_step_queries

        threading.Thread(
            target=stop_step_queries,
            args=(self.plan.steps(), self.connections, self.session.run_id),
            name="osiris-stop-queries",
            daemon=True,
        ).start()

    def _left_out(self, step: ManifestStep) -> bool:
        """A step `--select` neither runs nor reuses: skipped, and said so."""
        step_id = step.id
        if step_id in self.selection.run or step_id in self.selection.reuse:
            return False
        outcome = self.outcomes[step_id]
        outcome.status = "skipped"
        outcome.reason = "not selected (--select)"
        self.session.event("execution.step.skipped", step_id=step_id, reason=outcome.reason)
        return True

    def _reuse(self, step: ManifestStep, cursor: Any, table: str) -> StepResult:
        """Load the step's whole output kept by an earlier run of this plan."""
        import json

        import pyarrow.parquet as pq

        kept = self.selection.reuse[step.id]
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.from_arrow(pq.read_table(kept)).create(table)
        info = json.loads((kept.parent / "output.json").read_text("utf-8"))
        rows = int(info["rows"])
        return StepResult(
            rows_read=rows, rows_written=rows, details={"reused_from": self.selection.reused_from}
        )

    def _drivers_missing(self, steps: list[ManifestStep]) -> bool:
        """Load every step's driver before any step runs: a missing package fails the run
        at once, not after the extract has run. True when one could not be loaded."""
        problems: dict[str, DriverError] = {}
        for component in sorted({s.component for s in steps}):
            try:
                self.load_driver(component)
            except DriverError as problem:
                problems[component] = problem
        if not problems:
            return False
        for step in steps:
            outcome = self.outcomes[step.id]
            problem = problems.get(step.component)
            if problem is None:
                outcome.status = "skipped"
                outcome.reason = "the run did not start: a driver could not be loaded"
                self.session.event("execution.step.skipped", step_id=step.id, reason=outcome.reason)
                continue
            outcome.status = "failed"
            outcome.error = str(problem)
            outcome.category = problem.category
            self.session.event(
                "execution.step.error",
                step_id=step.id,
                error=outcome.error,
                category=problem.category,
            )
        return True

    def _readiness(self, step: ManifestStep) -> str:
        """'run', 'wait', or 'decided' (the step was skipped without running)."""
        outcome = self.outcomes[step.id]
        for up in step.needs:
            up_status = self.outcomes[up].status
            if up_status in ("pending", "running"):
                return "wait"
            if up_status in ("failed", "cancelled") or (
                up_status == "skipped" and up in step.input_tables.values()
            ):
                self.skip(step, f"upstream step '{up}' {up_status}")
                return "decided"
        when = step.when
        if when:
            run_it, values, problem = self._evaluate(when)
            if problem:
                outcome.status = "failed"
                outcome.error = problem
                outcome.category = "config"
                self.session.event(
                    "execution.step.error", step_id=step.id, error=problem, category="config"
                )
                self.write_status("running")
                return "decided"
            if not run_it:
                outcome.status = "skipped"
                outcome.reason = f"when: {when}"
                self.session.event(
                    "execution.step.skipped", step_id=step.id, condition=when, values=values
                )
                self.write_status("running")
                return "decided"
        return "run"

    def _evaluate(self, when: str) -> tuple[bool, dict[str, Any], str | None]:
        from grammar import EvaluationError, ExpressionError, ParamRef, ResultRef, parse_condition

        params = self.plan.params

        def resolve(ref: Any) -> Any:
            if isinstance(ref, ResultRef):
                outcome = self.outcomes[ref.step]
                return {
                    "rows_read": outcome.rows_read,
                    "rows_written": outcome.rows_written,
                    "status": outcome.status,
                    "duration_ms": outcome.duration_ms,
                }[ref.result]
            if isinstance(ref, ParamRef):
                return params.get(ref.name)
            raise EvaluationError(f"cannot evaluate {ref!r} at run time")

        try:
            condition = parse_condition(when)
            return condition.evaluate(resolve), condition.describe(resolve), None
        except (EvaluationError, ExpressionError, KeyError) as err:
            return False, {}, f"cannot evaluate when: {when!r}: {err}"

    # -- a step's life: public, since a fused chain lives it too (runtime/fusion.py) -----

    def guarded(self, call: Callable[[], Any]) -> tuple[Any, DriverError | None]:
        """`call()`'s result, or the DriverError it failed with: a cancel's own error when
        the run was cancelled meanwhile, an `internal` one for anything but a DriverError."""
        cancelled = DriverError("run cancelled", category="cancelled")
        try:
            return call(), None
        except ReadFailed as failed:
            return None, _ReadError(cancelled if self.cancel.is_set() else failed.error)
        except DriverError as failure:  # an interrupted query reports itself as an error
            return None, cancelled if self.cancel.is_set() else failure
        except Exception as err:  # a bug in a driver or an unmapped library error
            if self.cancel.is_set():
                return None, cancelled
            return None, DriverError(f"{type(err).__name__}: {err}", category="internal")

    def run_step(self, step: ManifestStep, started: float | None = None) -> None:
        """Run a step, retrying as it says. `started`: the time its start was announced
        already (a step of a fused chain run step by step after all: runtime/fusion.py)."""
        outcome = self.outcomes[step.id]
        outcome.status = "running"
        self.write_status("running")
        retry = step.retry or {}
        attempts = max(1, int(retry.get("max_attempts", 1)))
        backoff_ms = int(retry.get("backoff_ms", 1000))
        cap_ms = int(retry.get("max_backoff_ms", MAX_BACKOFF_MS))
        max_elapsed_s = retry.get("max_elapsed_s")
        t0 = time.monotonic() if started is None else started
        for attempt in range(1, attempts + 1):
            outcome.attempts = attempt
            error = self._attempt(step, outcome, announce=started is None or attempt > 1)
            if error is None:
                outcome.status = "success"
                break
            delay = min(backoff_ms * 2 ** (attempt - 1), cap_ms) / 1000
            in_time = max_elapsed_s is None or time.monotonic() - t0 + delay <= max_elapsed_s
            retryable = (
                error.retryable and attempt < attempts and in_time and not self.cancel.is_set()
            )
            if retryable:
                self.session.event(
                    "execution.step.retry",
                    step_id=step.id,
                    attempt=attempt,
                    next_attempt_in_ms=int(delay * 1000),
                    error=bounded(self.session.redactor.text(str(error))),
                    category=error.category,
                )
                if not self.cancel.wait(delay):
                    continue
                error = DriverError("run cancelled while waiting to retry", category="cancelled")
            self.failed(step, outcome, error)
            break
        self.ended(step, outcome, t0)

    def failed(self, step: ManifestStep, outcome: StepOutcome, error: DriverError) -> None:
        outcome.status = "cancelled" if error.category == "cancelled" else "failed"
        outcome.error = bounded(self.session.redactor.text(str(error)))
        outcome.category = error.category
        data: dict[str, Any] = {
            "error": outcome.error,
            "category": error.category,
            "attempt": outcome.attempts,
        }
        if error.hint:
            data["hint"] = error.hint
        self.session.event("execution.step.error", step_id=step.id, **data)

    def ended(self, step: ManifestStep, outcome: StepOutcome, t0: float) -> None:
        """Record a step that has ended: its time; its metrics when it succeeded."""
        outcome.duration_ms = int((time.monotonic() - t0) * 1000)
        if outcome.status == "success":
            self.session.metric("rows_read", outcome.rows_read, "rows", step.id, step.component)
            self.session.metric(
                "rows_written", outcome.rows_written, "rows", step.id, step.component
            )
            self.session.metric(
                "execution_time_ms", outcome.duration_ms, "ms", step.id, step.component
            )
            self.session.metric("memory_usage_mb", peak_rss_mb(), "MB", step.id, step.component)
            self.session.event(
                "execution.step.complete",
                step_id=step.id,
                rows_read=outcome.rows_read,
                rows_written=outcome.rows_written,
                duration_ms=outcome.duration_ms,
                **({"details": outcome.details} if outcome.details else {}),
            )
        self.write_status("running")

    def _run_streamed(self, reader: ManifestStep, writer: ManifestStep) -> None:
        """Run a read step and the one writer of its rows together (runtime/streams.py):
        the rows pass from one to the other batch by batch, through no data-plane table.
        A failure of the read fails the reader and skips the writer, as if run apart."""
        read = self.outcomes[reader.id]
        t0 = time.monotonic()
        read_ctx = self._begin(reader, read)
        try:
            driver = self.load_driver(reader.component)
            config = self.plan.configs[reader.id]
            stream, error = self.guarded(
                lambda: driver.stream(read_ctx, config, sample_rows=SAMPLE_ROWS)
            )
            if stream is None and error is None:  # rows that must be loaded whole first
                result, error = self.guarded(lambda: driver.run(read_ctx, config, {}))
                if error is None:
                    read.record(result)
            if error is not None:
                self.drop_output(read_ctx.data_plane, read_ctx.output_table)
                self.failed(reader, read, error)
            elif stream is None:
                read.status = "success"
            else:
                self._stream(reader, writer, stream, read_ctx, t0)
                return
        finally:
            self._end_context(read_ctx)
        self.ended(reader, read, t0)
        if read.status == "success":
            self.run_step(writer)
        else:
            self.skip(writer, f"upstream step '{reader.id}' {read.status}")

    def _stream(
        self,
        reader: ManifestStep,
        writer: ManifestStep,
        stream: Any,
        read_ctx: ContextForStep,
        read_t0: float,
    ) -> None:
        read, write = self.outcomes[reader.id], self.outcomes[writer.id]
        t0 = time.monotonic()
        write_ctx = self._begin(writer, write)
        config = self.plan.configs[writer.id]
        try:
            driver = self.load_driver(writer.component)
            result, error = self.guarded(lambda: driver.write_stream(write_ctx, config, stream))
        finally:
            self._end_context(write_ctx)
        read.rows_read = read.rows_written = stream.rows
        read.details = {**stream.details, "streamed_to": writer.id}
        read.sample_only = True
        if isinstance(error, _ReadError):
            self.drop_output(self.data_plane, read_ctx.output_table)
            self.failed(reader, read, error.error)
            self.ended(reader, read, read_t0)
            self.skip(writer, f"upstream step '{reader.id}' {read.status}")
            return
        if error is None or stream.finished:
            read.status = "success"
        else:  # the writer failed before the rows were all read: the read stopped there
            read.status = "cancelled"
            read.reason = f"stopped: the writer '{writer.id}' failed"
        self.ended(reader, read, read_t0)
        if error is None:
            write.record(result)
            write.status = "success"
        else:
            self.failed(writer, write, error)
        self.ended(writer, write, t0)

    def _begin(self, step: ManifestStep, outcome: StepOutcome) -> ContextForStep:
        """A step starts: its status, its start event, a data-plane cursor of its own."""
        self.announce(step)
        return self._context(step)

    def announce(self, step: ManifestStep) -> float:
        """A step starts (its status, its start event); the time it did."""
        outcome = self.outcomes[step.id]
        outcome.status, outcome.attempts = "running", 1
        self.write_status("running")
        self.session.event(
            "execution.step.start", step_id=step.id, component=step.component, attempt=1
        )
        return time.monotonic()

    def _context(self, step: ManifestStep) -> ContextForStep:
        """What the step's driver sees, on a data-plane cursor of its own (a cancel
        interrupts it)."""
        cursor = self.data_plane.cursor()
        self.cursors[step.id] = cursor
        return self.context_on(step, cursor)

    def context_on(self, step: ManifestStep, cursor: Any) -> ContextForStep:
        connection = self.connections.get(step.id)
        return ContextForStep(step, cursor, connection, self.session, self.project_dir, self.cancel)

    def _end_context(self, ctx: ContextForStep) -> None:
        self.cursors.pop(ctx.step_id, None)
        ctx.data_plane.close()

    def skip(self, step: ManifestStep, reason: str) -> None:
        outcome = self.outcomes[step.id]
        outcome.status, outcome.reason = "skipped", reason
        self.session.event("execution.step.skipped", step_id=step.id, reason=reason)
        self.write_status("running")

    def _attempt(
        self, step: ManifestStep, outcome: StepOutcome, announce: bool = True
    ) -> DriverError | None:
        ctx = self._context(step)
        timer: threading.Timer | None = None
        timeout_s = step.timeout_s
        if timeout_s:

            def on_timeout() -> None:
                ctx.timed_out.set()
                ctx.data_plane.interrupt()

            timer = threading.Timer(float(timeout_s), on_timeout)
            timer.daemon = True
            timer.start()
        if announce:
            self.session.event(
                "execution.step.start",
                step_id=step.id,
                component=step.component,
                attempt=outcome.attempts,
            )

        def call() -> StepResult:
            if self.selection is not None and step.id in self.selection.reuse:
                return self._reuse(step, ctx.data_plane, ctx.output_table)
            driver = self.load_driver(step.component)
            inputs = {name: quote_table(up) for name, up in step.input_tables.items()}
            return driver.run(ctx, self.plan.configs[step.id], inputs)

        try:
            result, error = self.guarded(call)
        finally:
            if timer is not None:
                timer.cancel()
            self._end_context(ctx)
        if ctx.timed_out.is_set():
            error = DriverError(f"step timed out after {timeout_s} s", category="timeout")
        if error is not None:
            self.drop_output(self.data_plane, ctx.output_table)
            return error
        outcome.record(result)
        return None

    def drop_output(self, cursor: Any, table: str) -> None:
        try:
            drop = getattr(cursor, "drop_table", None)  # a data plane that is not DuckDB
            if drop is not None:
                drop(table)
                return
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
        except Exception:  # the data plane itself is gone: nothing left to clean
            return
