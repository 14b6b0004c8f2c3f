"""Failures inside and around the sandbox: reported as a local run reports them, sandbox killed.

A step that fails inside arrives with its error and message exactly as a local run gives
them; Ctrl-C interrupts the run inside (it ends `cancelled`); the run's time limit, a
failed upload and a sandbox that cannot be created end the run `failed` with the reason.
Whatever happens, the sandbox is killed.
"""

from __future__ import annotations

import _thread
import time
from pathlib import Path
from typing import Any

import pytest

from runtime.adapters import RunRequest
from runtime.adapters.e2b import E2BOptions, run_in_sandbox
from runtime.adapters.sandbox import (
    LocalCommand,
    LocalProcessSandbox,
    LocalProcessTransport,
    SandboxError,
    SandboxSpec,
)
from tests.e2b.conftest import (
    assert_parity,
    build,
    events,
    run_local,
    run_sandboxed,
    status,
)

SLOW = """  - id: slow
    component: duckdb.processor
    mode: transform
    inputs: {orders: "${orders.df}"}
    config:
      query: "SELECT count(*) AS orders, (SELECT sum(hash(i)) FROM range({rows}) t(i)) AS h
        FROM orders"
"""
PIPELINE = """oml_version: "0.1.0"
name: slow
steps:
  - id: orders
    component: filesystem.csv_extractor
    mode: read
    config: {path: data/orders.csv}
{slow}  - id: write
    component: filesystem.csv_writer
    mode: write
    inputs: {df: "${slow.df}"}
    config: {path: output/slow.csv}
"""


def slow_pipeline(rows: int) -> str:
    """A step that hashes `rows` numbers: about a second per 500 million here."""
    return PIPELINE.replace("{slow}", SLOW.replace("{rows}", str(rows)))


def assert_killed(transport: LocalProcessTransport) -> None:
    (sandbox,) = transport.created
    assert sandbox.killed
    assert not Path(sandbox.root).exists()


def test_a_step_failure_inside_arrives_as_a_local_one(
    quickstart: Path, transport: LocalProcessTransport
) -> None:
    source = (quickstart / "pipelines" / "quickstart.yaml").read_text()
    broken = source.replace("o.status = 'paid'", "CAST(o.status AS INTEGER) > 0")
    build_dir = build(quickstart, broken)
    local = run_local(quickstart, build_dir)

    sandboxed = run_sandboxed(quickstart, build_dir, transport)

    assert sandboxed.status == local.status == "failed"
    assert status(sandboxed)["status"] == "failed"
    (failed,) = [s for s in sandboxed.steps if s["status"] == "failed"]
    (expected,) = [s for s in local.steps if s["status"] == "failed"]
    assert failed["id"] == "revenue"
    assert (failed["error"], failed["category"]) == (expected["error"], expected["category"])
    (error_event,) = [e for e in events(sandboxed) if e["event_type"] == "execution.step.error"]
    assert error_event["step_id"] == "revenue" and error_event["data"]["error"] == failed["error"]
    assert events(sandboxed)[-1]["event_type"] == "execution.error"
    assert sandboxed.error is None  # the sandbox did its part: the step failed, as locally
    assert_parity(local, sandboxed)
    assert_killed(transport)


def test_ctrl_c_interrupts_the_run_inside_and_kills_the_sandbox(
    quickstart: Path, transport: LocalProcessTransport
) -> None:
    build_dir = build(quickstart, slow_pipeline(500_000_000))

    def on_event(event: dict[str, Any]) -> None:
        if event["event_type"] == "execution.step.start" and event.get("step_id") == "slow":
            _thread.interrupt_main()  # as Ctrl-C does, while the slow step runs inside

    sandboxed = run_in_sandbox(
        RunRequest(build_dir, quickstart, on_event=on_event), E2BOptions(), transport
    )

    assert sandboxed.status == "cancelled"
    assert status(sandboxed)["status"] == "cancelled"
    # the slow query is interrupted, not waited for
    assert [s["status"] for s in sandboxed.steps] == ["success", "cancelled", "cancelled"]
    assert events(sandboxed)[-1]["event_type"] == "execution.cancelled"
    assert not (quickstart / "output" / "slow.csv").exists()
    assert_killed(transport)


class TimeLimitOnCue(LocalProcessTransport):
    """A sandbox whose time limit runs out on the test's cue rather than after seconds.

    The limit is the sandbox's own (E2B enforces it in the cloud; the local sandbox's
    command keeps a deadline). Here the run command starts with no deadline, and `expire()`
    sets it to now: the limit is reached while the slow step runs, however long the steps
    before it take on a loaded machine.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands: list[LocalCommand] = []

    def create(self, spec: SandboxSpec) -> LocalProcessSandbox:
        sandbox = super().create(spec)
        start = sandbox.start

        def start_without_deadline(command: str, **kwargs: Any) -> LocalCommand:
            started = start(command, **kwargs)
            started._deadline = None
            self.commands.append(started)
            return started

        sandbox.start = start_without_deadline  # type: ignore[method-assign]
        return sandbox

    def expire(self) -> None:
        self.commands[-1]._deadline = time.monotonic()


def test_the_time_limit_fails_the_run_and_kills_the_sandbox(
    quickstart: Path, sandbox_cache: Path, tmp_path: Path
) -> None:
    transport = TimeLimitOnCue(sandbox_cache, workdir=tmp_path / "sandboxes")
    build_dir = build(quickstart, slow_pipeline(50_000_000_000))  # killed long before the end

    def on_event(event: dict[str, Any]) -> None:
        if event["event_type"] == "execution.step.start" and event.get("step_id") == "slow":
            transport.expire()  # the time limit runs out while the slow step runs

    sandboxed = run_in_sandbox(
        RunRequest(build_dir, quickstart, on_event=on_event),
        E2BOptions(data=True, timeout_s=1),
        transport,
    )

    assert sandboxed.status == "failed"
    assert sandboxed.error is not None and sandboxed.error["category"] == "timeout"
    assert "--e2b-timeout 1 s" in sandboxed.error["message"]
    found = status(sandboxed)
    assert found["status"] == "failed" and found["error"]["category"] == "timeout"
    assert [(s["id"], s["status"]) for s in found["steps"]] == [
        ("orders", "success"),
        ("slow", "failed"),
        ("write", "skipped"),
    ]
    assert found["steps"][1]["category"] == "timeout"
    kinds = [(e["event_type"], e.get("step_id")) for e in events(sandboxed)]
    assert kinds[-2:] == [("execution.step.error", "slow"), ("execution.error", None)]
    assert_killed(transport)


class FailingUpload(LocalProcessTransport):
    """A sandbox whose upload fails (a dropped connection)."""

    def create(self, spec: SandboxSpec) -> LocalProcessSandbox:
        sandbox = super().create(spec)

        def refuse(path: str, data: bytes) -> None:
            raise SandboxError(f"cannot write {path} in the sandbox: connection reset")

        sandbox.write_file = refuse  # type: ignore[method-assign]
        return sandbox


def test_a_failed_upload_fails_the_run_and_kills_the_sandbox(
    quickstart: Path, sandbox_cache: Path, tmp_path: Path
) -> None:
    transport = FailingUpload(sandbox_cache, workdir=tmp_path / "sandboxes")
    build_dir = build(quickstart, (quickstart / "pipelines" / "quickstart.yaml").read_text())

    sandboxed = run_sandboxed(quickstart, build_dir, transport)

    assert sandboxed.status == "failed"
    assert sandboxed.error is not None
    assert "connection reset" in sandboxed.error["message"]
    found = status(sandboxed)
    assert found["error"]["category"] == "sandbox"
    assert {s["status"] for s in found["steps"]} == {"skipped"}
    assert [e["event_type"] for e in events(sandboxed)] == ["execution.error"]
    assert_killed(transport)


class Unavailable(LocalProcessTransport):
    def create(self, spec: SandboxSpec) -> LocalProcessSandbox:
        raise SandboxError("cannot create the E2B sandbox from template 'base': quota reached")


def test_a_sandbox_that_cannot_be_created_fails_the_run(
    quickstart: Path, sandbox_cache: Path
) -> None:
    build_dir = build(quickstart, (quickstart / "pipelines" / "quickstart.yaml").read_text())

    sandboxed = run_sandboxed(quickstart, build_dir, Unavailable(sandbox_cache))

    assert sandboxed.status == "failed"
    assert sandboxed.error == {
        "message": "cannot create the E2B sandbox from template 'base': quota reached",
        "category": "sandbox",
    }
    record = (sandboxed.session_dir / "e2b.json").read_text()
    assert "quota reached" in record


@pytest.mark.parametrize("text", ["lots", "-1MB", "1XB"])
def test_artifact_sizes_are_checked(text: str) -> None:
    from runtime.adapters.e2b import parse_size

    with pytest.raises(ValueError, match="not a size"):
        parse_size(text)
