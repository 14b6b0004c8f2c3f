"""The runner on real files: order, when/skip, failure, retry, timeout, cancel, isolation."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

from compiler.compile import default_context
from compiler.emit import compile_source
from components.protocol import DriverError, StepResult
from runtime import runner as runner_module
from runtime.adapters import RunRequest
from runtime.adapters.local import run_build
from runtime.builds import PlanError, write_build
from runtime.sessions import read_jsonl

ROOT = Path(__file__).resolve().parents[2]
CONNECTIONS = "connections:\n  filesystem:\n    local: {default: true, base_dir: .}\n"
ORDERS = "id,amount,status\n1,10.50,paid\n2,99.99,refunded\n3,5.00,paid\n"


def pipeline(*steps: str, name: str = "t", params: str = "") -> str:
    return f'oml_version: "0.1.0"\nname: {name}\n{params}steps:\n' + "".join(steps)


EXTRACT = """  - id: orders
    component: filesystem.csv_extractor
    mode: read
    config: {path: orders.csv}
"""
PAID = """  - id: paid
    component: duckdb.processor
    mode: transform
    inputs: {orders: "${orders.df}"}
    config: {query: "SELECT id, amount FROM orders WHERE status = 'paid' ORDER BY id"}
"""
WRITE = """  - id: write
    component: filesystem.csv_writer
    mode: write
    inputs: {df: "${paid.df}"}
    config: {path: out/paid.csv}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "osiris_connections.yaml").write_text(CONNECTIONS)
    (tmp_path / "orders.csv").write_text(ORDERS)
    return tmp_path


def build(project: Path, source: str, **context: Any) -> Path:
    result = compile_source(source, default_context(**context))
    assert result.ok, result.diagnostics
    return write_build(result.files, project / "build" / result.manifest_short)


def run(project: Path, source: str, **kwargs: Any) -> Any:
    return run_build(RunRequest(build(project, source), project, **kwargs))


def events(collected: Any) -> list[dict[str, Any]]:
    return list(read_jsonl(collected.session_dir / "events.jsonl"))


def test_a_run_writes_its_output_and_a_truthful_session(project: Path) -> None:
    collected = run(project, pipeline(EXTRACT, PAID, WRITE))
    assert collected.status == "success"
    # a column whose values all have two decimals is read as DECIMAL: 10.50 stays 10.50
    assert (project / "out" / "paid.csv").read_text() == "id,amount\n1,10.50\n3,5.00\n"
    status = json.loads((collected.session_dir / "status.json").read_text())
    assert status["status"] == "success" and status["finished_at"]
    assert [(s["id"], s["status"], s["rows_read"], s["rows_written"]) for s in status["steps"]] == [
        ("orders", "success", 3, 3),
        ("paid", "success", 3, 2),
        ("write", "success", 2, 2),
    ]
    kinds = [e["event_type"] for e in events(collected)]
    assert kinds[0] == "connection.resolve"
    assert kinds[kinds.index("execution.start") :] == [
        "execution.start",
        *["execution.step.start", "execution.step.complete"] * 3,
        "execution.complete",
    ]
    assert all(e["session_id"] == collected.run_id for e in events(collected))
    metrics = list(read_jsonl(collected.session_dir / "metrics.jsonl"))
    per_step = {(m.get("step_id"), m["metric"]) for m in metrics}
    counted = [(m.get("step_id"), m["metric"]) for m in metrics if m["metric"].startswith("rows_")]
    assert len(counted) == len(set(counted)) == 6  # once per step: no double counting
    for step in ("orders", "paid", "write"):
        for name in ("rows_read", "rows_written", "execution_time_ms", "memory_usage_mb"):
            assert (step, name) in per_step
    assert {m["tags"].get("component") for m in metrics if m.get("step_id") == "write"} == {
        "filesystem.csv_writer"
    }
    assert not (collected.session_dir / "data_plane.duckdb").exists()
    assert (collected.session_dir / "manifest.yaml").exists() and (
        collected.session_dir / "cfg"
    ).is_dir()


def test_when_false_skips_the_step_and_records_the_values(project: Path) -> None:
    gated = WRITE.replace(
        "    mode: write\n", '    mode: write\n    when: "${steps.paid.rows_written} > 5"\n'
    )
    collected = run(project, pipeline(EXTRACT, PAID, gated))
    assert collected.status == "success"
    assert not (project / "out" / "paid.csv").exists()
    skipped = [e for e in events(collected) if e["event_type"] == "execution.step.skipped"]
    assert skipped[0]["step_id"] == "write"
    assert skipped[0]["data"]["values"] == {"${steps.paid.rows_written}": 2}


def test_when_reads_params(project: Path) -> None:
    params = "params:\n  env: {type: string, default: dev}\n"
    gated = WRITE.replace(
        "    mode: write\n", "    mode: write\n    when: \"${params.env} == 'prod'\"\n"
    )
    assert (
        run(project, pipeline(EXTRACT, PAID, gated, params=params)).steps[2]["status"] == "skipped"
    )
    collected = run_build(
        RunRequest(
            build(project, pipeline(EXTRACT, PAID, gated, params=params), params={"env": "prod"}),
            project,
        )
    )
    assert collected.steps[2]["status"] == "success"


def test_a_failed_step_stops_its_dependents_and_leaves_targets_alone(project: Path) -> None:
    (project / "out").mkdir()
    (project / "out" / "paid.csv").write_text("old content\n")
    broken = PAID.replace("SELECT id, amount", "SELECT CAST(status AS INTEGER) AS id, amount")
    collected = run(project, pipeline(EXTRACT, broken, WRITE))
    assert collected.status == "failed"
    steps = {s["id"]: s for s in collected.steps}
    assert steps["paid"]["status"] == "failed"
    assert "Could not convert string 'paid' to INT32" in steps["paid"]["error"]
    assert (
        steps["write"]["status"] == "skipped"
        and "upstream step 'paid' failed" in steps["write"]["reason"]
    )
    assert (project / "out" / "paid.csv").read_text() == "old content\n"
    kinds = [e["event_type"] for e in events(collected)]
    assert "execution.step.error" in kinds and kinds[-1] == "execution.error"


class Flaky:
    """Fails with a retryable error until its third attempt."""

    attempts = 0

    def run(self, ctx: Any, config: Mapping[str, Any], inputs: Mapping[str, str]) -> StepResult:
        Flaky.attempts += 1
        if Flaky.attempts < 3:
            raise DriverError("connection lost", category="network", retryable=True)
        ctx.data_plane.execute(f"CREATE TABLE {ctx.output_table} AS SELECT 1 AS x")
        return StepResult(rows_read=1, rows_written=1)


class Slow:
    """Runs until cancelled; `running` says it has started. A minute at most, so that a
    cancel that never arrives fails the test rather than hanging it."""

    running = threading.Event()

    def run(self, ctx: Any, config: Mapping[str, Any], inputs: Mapping[str, str]) -> StepResult:
        Slow.running.set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if ctx.cancelled():
                raise DriverError("stopped", category="cancelled")
            time.sleep(0.01)
        return StepResult()


def when(ready: Callable[[], bool], then: Callable[[], None]) -> None:
    """Call `then` from another thread once `ready()` holds (polled; a minute at most)."""

    def watch() -> None:
        deadline = time.monotonic() + 60
        while not ready():
            if time.monotonic() > deadline:
                return  # the run is not cancelled, and the test says so
            time.sleep(0.01)
        then()

    threading.Thread(target=watch, daemon=True).start()


real_driver = runner_module.load_driver


def with_driver(monkeypatch: pytest.MonkeyPatch, component: str, driver: Any) -> None:
    real = runner_module.load_driver
    monkeypatch.setattr(
        runner_module, "load_driver", lambda name: driver() if name == component else real(name)
    )


def test_retryable_errors_are_retried_with_backoff(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Flaky.attempts = 0
    with_driver(monkeypatch, "filesystem.csv_extractor", Flaky)
    source = pipeline(
        EXTRACT.replace(
            "    mode: read\n", "    mode: read\n    retry: {max_attempts: 3, backoff_ms: 10}\n"
        )
    )
    collected = run(project, source)
    assert collected.status == "success"
    retries = [e for e in events(collected) if e["event_type"] == "execution.step.retry"]
    assert [r["data"]["next_attempt_in_ms"] for r in retries] == [10, 20]
    assert collected.steps[0]["attempts"] == 3


def test_backoff_stops_doubling_at_its_cap_and_retries_end_at_max_elapsed(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Flaky.attempts = 0
    with_driver(monkeypatch, "filesystem.csv_extractor", Flaky)
    capped = "retry: {max_attempts: 3, backoff_ms: 10, max_backoff_ms: 15}"
    collected = run(
        project, pipeline(EXTRACT.replace("    mode: read\n", f"    mode: read\n    {capped}\n"))
    )
    retries = [e for e in events(collected) if e["event_type"] == "execution.step.retry"]
    assert [r["data"]["next_attempt_in_ms"] for r in retries] == [10, 15]
    assert collected.status == "success"

    Flaky.attempts = 0  # the next wait (2 s) would end past max_elapsed_s: no more attempts
    late = "retry: {max_attempts: 3, backoff_ms: 2000, max_elapsed_s: 1}"
    collected = run(
        project, pipeline(EXTRACT.replace("    mode: read\n", f"    mode: read\n    {late}\n"))
    )
    assert collected.status == "failed" and "attempts" not in collected.steps[0]  # just one
    assert not [e for e in events(collected) if e["event_type"] == "execution.step.retry"]


def test_sql_errors_are_never_retried(project: Path) -> None:
    broken = PAID.replace(
        "SELECT id, amount", "SELECT CAST(status AS INTEGER) AS id, amount"
    ).replace(
        "    mode: transform\n",
        "    mode: transform\n    retry: {max_attempts: 5, backoff_ms: 10}\n",
    )
    collected = run(project, pipeline(EXTRACT, broken))
    assert collected.status == "failed"
    assert not [e for e in events(collected) if e["event_type"] == "execution.step.retry"]


def test_a_step_over_its_timeout_fails(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with_driver(monkeypatch, "filesystem.csv_extractor", Slow)
    collected = run(
        project,
        pipeline(EXTRACT.replace("    mode: read\n", "    mode: read\n    timeout_s: 0.2\n")),
    )
    assert collected.status == "failed"
    assert collected.steps[0]["category"] == "timeout"
    assert "timed out after 0.2 s" in collected.steps[0]["error"]


def test_cancel_ends_the_run_cancelled(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with_driver(monkeypatch, "duckdb.processor", Slow)
    Slow.running.clear()
    cancel = threading.Event()

    def on_event(event: dict[str, Any]) -> None:
        if event["event_type"] == "execution.step.start" and event.get("step_id") == "paid":
            when(Slow.running.is_set, cancel.set)  # cancel the step while it runs

    collected = run(project, pipeline(EXTRACT, PAID, WRITE), on_event=on_event, cancel=cancel)
    assert collected.status == "cancelled"
    assert [s["status"] for s in collected.steps] == ["success", "cancelled", "cancelled"]
    assert json.loads((collected.session_dir / "status.json").read_text())["status"] == "cancelled"
    assert events(collected)[-1]["event_type"] == "execution.cancelled"
    assert not (project / "out" / "paid.csv").exists()


def test_parallel_runs_do_not_share_sessions_or_data_planes(project: Path) -> None:
    source = pipeline(EXTRACT, PAID, WRITE)
    build_dir = build(project, source)
    results: list[Any] = []

    def one() -> None:
        results.append(run_build(RunRequest(build_dir, project, keep_data_plane=True)))

    threads = [threading.Thread(target=one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status for r in results] == ["success"] * 4
    assert len({r.session_dir for r in results}) == 4
    assert len({r.run_id for r in results}) == 4
    for result in results:
        assert (result.session_dir / "data_plane.duckdb").exists()
        ids = {e["session_id"] for e in read_jsonl(result.session_dir / "events.jsonl")}
        assert ids == {result.run_id}


def test_parallel_steps_give_the_same_output(project: Path) -> None:
    shutil.copy(project / "orders.csv", project / "orders2.csv")
    second = EXTRACT.replace("id: orders", "id: orders2").replace("orders.csv", "orders2.csv")
    union = """  - id: both
    component: duckdb.processor
    mode: transform
    inputs: {a: "${orders.df}", b: "${orders2.df}"}
    config: {query: "SELECT * FROM a UNION ALL SELECT * FROM b ORDER BY id, status"}
  - id: write
    component: filesystem.csv_writer
    mode: write
    inputs: {df: "${both.df}"}
    config: {path: out/both.csv}
"""
    source = pipeline(EXTRACT, second, union)
    one = run(project, source, parallel=1)
    serial = (project / "out" / "both.csv").read_text()
    two = run(project, source, parallel=2)
    assert one.status == two.status == "success"
    assert (project / "out" / "both.csv").read_text() == serial
    assert serial.count("\n") == 7


def test_a_tampered_build_is_refused(project: Path) -> None:
    build_dir = build(project, pipeline(EXTRACT, PAID, WRITE))
    cfg = build_dir / "cfg" / "paid.json"
    cfg.write_text(cfg.read_text().replace("paid", "refunded"))
    with pytest.raises(PlanError, match="changed after compilation"):
        run_build(RunRequest(build_dir, project))


class WatchedCursor:
    """A step's data-plane cursor that lets the test see its CREATE ... AS query run."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor
        self._creating = threading.Event()

    def execute(self, sql: str, *args: Any) -> Any:
        if sql.startswith("CREATE OR REPLACE TABLE"):
            self._creating.set()
        return self._cursor.execute(sql, *args)

    def long_query_runs(self) -> bool:
        # The data plane's configuration is locked (no progress bar, so no
        # query_progress()): the call is the event. The runner interrupts on its next
        # 0.1 s tick, by when the step thread has long entered DuckDB.
        return self._creating.is_set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class Watched:
    """The real DuckDB processor, on a watched cursor."""

    cursors: ClassVar[list[WatchedCursor]] = []

    def run(self, ctx: Any, config: Mapping[str, Any], inputs: Mapping[str, str]) -> StepResult:
        ctx.data_plane = WatchedCursor(ctx.data_plane)
        Watched.cursors.append(ctx.data_plane)
        result: StepResult = real_driver("duckdb.processor").run(ctx, config, inputs)
        return result


def test_cancel_interrupts_a_running_query(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C / run_cancel stops a long DuckDB query at once, not when it ends."""
    slow = PAID.replace(
        "SELECT id, amount FROM orders WHERE status = 'paid' ORDER BY id",
        "SELECT count(*) AS n FROM range(3000000000) a, orders",
    )
    cancel = threading.Event()
    # DuckDB forgets an interrupt that comes before a query starts: cancel only once the
    # long query is called (nothing else runs after it starts, for minutes)
    with_driver(monkeypatch, "duckdb.processor", Watched)
    Watched.cursors.clear()

    def long_query_runs() -> bool:
        return any(cursor.long_query_runs() for cursor in Watched.cursors)

    def on_event(event: dict[str, Any]) -> None:
        if event["event_type"] == "execution.step.start" and event.get("step_id") == "paid":
            when(long_query_runs, cancel.set)

    # uninterrupted, this query would run for many minutes and end 'success'
    collected = run(project, pipeline(EXTRACT, slow), on_event=on_event, cancel=cancel)
    assert collected.status == "cancelled", collected.steps
    assert [s["status"] for s in collected.steps] == ["success", "cancelled"]


def test_the_data_plane_is_in_memory_unless_kept(project: Path) -> None:
    collected = run(project, pipeline(EXTRACT, PAID, WRITE))
    assert not list(collected.session_dir.glob("*.duckdb"))
    assert not (collected.session_dir / ".spill").exists()
    kept = run(project, pipeline(EXTRACT, PAID, WRITE), keep_data_plane=True)
    import duckdb

    with duckdb.connect(str(kept.session_dir / "data_plane.duckdb"), read_only=True) as con:
        assert con.execute('SELECT count(*) FROM "paid"').fetchone() == (2,)
