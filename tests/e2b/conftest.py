"""Shared plumbing for the E2B adapter tests: projects, builds, and the local process sandbox.

This machine cannot reach E2B's cloud, so the adapter runs through the local process
sandbox (a fresh directory, a scrubbed environment, a fresh virtual environment holding
the wheel of this checkout). The virtual environment is built once per test session.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from compiler.compile import default_context
from compiler.emit import compile_source
from runtime.adapters import Collected, RunRequest
from runtime.adapters.e2b import E2BOptions, SandboxCollected, run_in_sandbox
from runtime.adapters.local import run_build
from runtime.adapters.sandbox import LocalProcessTransport
from runtime.builds import write_build
from runtime.sessions import read_jsonl
from tests.conftest import lay_out_quickstart

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="session")
def sandbox_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the local sandbox keeps its virtual environment: one build per test session."""
    return tmp_path_factory.mktemp("sandbox-cache")


@pytest.fixture
def transport(sandbox_cache: Path, tmp_path: Path) -> LocalProcessTransport:
    """A local process sandbox transport; its sandbox directories are removed when killed."""
    return LocalProcessTransport(sandbox_cache, workdir=tmp_path / "sandboxes")


@pytest.fixture
def keeping_transport(sandbox_cache: Path, tmp_path: Path) -> LocalProcessTransport:
    """Like `transport`, but each sandbox directory stays behind to be inspected."""
    return LocalProcessTransport(sandbox_cache, workdir=tmp_path / "sandboxes", keep=True)


@pytest.fixture
def quickstart(tmp_path: Path) -> Iterator[Path]:
    """A project with the quick-start pipeline, its data and the example connections."""
    yield lay_out_quickstart(tmp_path / "project", "params_and_profiles.yaml")


def build(project: Path, source: str, **context: Any) -> Path:
    """Compile OML text into a build folder of `project`."""
    result = compile_source(source, default_context(**context))
    assert result.ok, result.diagnostics
    return write_build(result.files, project / "build" / result.manifest_short)


def run_local(project: Path, build_dir: Path, **request: Any) -> Collected:
    return run_build(RunRequest(build_dir, project, **request))


def run_sandboxed(
    project: Path,
    build_dir: Path,
    transport: LocalProcessTransport,
    options: E2BOptions | None = None,
    **request: Any,
) -> SandboxCollected:
    return run_in_sandbox(
        RunRequest(build_dir, project, **request), options or E2BOptions(data=True), transport
    )


def events(collected: Collected) -> list[dict[str, Any]]:
    return list(read_jsonl(collected.session_dir / "events.jsonl"))


def metrics(collected: Collected) -> list[dict[str, Any]]:
    return list(read_jsonl(collected.session_dir / "metrics.jsonl"))


def status(collected: Collected) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((collected.session_dir / "status.json").read_text())
    return found


def comparable_status(collected: Collected) -> dict[str, Any]:
    """status.json without what differs between any two runs: ids and times."""
    found = status(collected)
    for key in ("session_id", "started_at", "finished_at", "duration_ms"):
        found.pop(key)
    for step in found["steps"]:
        step.pop("duration_ms")
    return found


def step_metrics(collected: Collected) -> dict[str, dict[str, Any]]:
    """Per step: every metric's name, and the values that must not differ (row counts)."""
    found: dict[str, dict[str, Any]] = {}
    for metric in metrics(collected):
        if metric.get("step_id"):
            counted = metric["metric"] in ("rows_read", "rows_written")
            value = metric["value"] if counted else metric.get("unit")
            found.setdefault(metric["step_id"], {})[metric["metric"]] = value
    return found


def comparable_event(event: dict[str, Any]) -> tuple[Any, ...]:
    """An event without its time and the durations in its data."""
    data = {k: v for k, v in event["data"].items() if k != "duration_ms"}
    return event["event_type"], event.get("step_id"), data


def assert_parity(local: Collected, sandboxed: Collected) -> None:
    """The issue's parity: same status apart from ids and times, the same sequence of event
    types, the same metrics per step."""
    assert sandboxed.status == local.status
    assert comparable_status(sandboxed) == comparable_status(local)
    assert [e["event_type"] for e in events(sandboxed)] == [e["event_type"] for e in events(local)]
    assert [comparable_event(e) for e in events(sandboxed)] == [
        comparable_event(e) for e in events(local)
    ]
    assert step_metrics(sandboxed) == step_metrics(local)
    assert {e["session_id"] for e in events(sandboxed)} == {sandboxed.run_id}
