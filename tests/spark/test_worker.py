"""The way MCP `run_pipeline(engine="spark")` runs a plan: the run worker process
(runtime/worker.py), which starts its own Spark on local[2] and streams the runner's
events back — the quick start's revenue file, byte for byte what DuckDB writes."""

from __future__ import annotations

from pathlib import Path

from runtime.adapters import RunRequest
from runtime.worker import RunWorker
from tests.conftest import lay_out_quickstart


def test_the_run_worker_runs_a_plan_on_spark(tmp_path: Path) -> None:
    from runtime.adapters.local import run_build
    from runtime.app import compile_context, compile_to_disk

    project = lay_out_quickstart(tmp_path / "qs")
    pipeline = project / "pipelines" / "quickstart.yaml"
    context = compile_context(project, engines=("duckdb", "spark"))
    outcome = compile_to_disk(pipeline.read_bytes(), context, str(pipeline), project, None)
    assert outcome.ok
    output = project / "output" / "revenue_by_customer.csv"
    assert run_build(RunRequest(build_dir=outcome.build_dir, project=project)).status == "success"
    expected = output.read_bytes()
    output.unlink()
    events: list[dict[str, object]] = []
    request = RunRequest(
        build_dir=outcome.build_dir, project=project, engine="spark", on_event=events.append
    )
    collected = RunWorker(request).run()
    assert collected.status == "success", collected.steps
    assert output.read_bytes() == expected
    kinds = [event["event_type"] for event in events]
    assert "execution.start" in kinds
    assert kinds[-1] == "execution.complete"
    assert kinds.count("execution.step.complete") == 4
    assert (collected.session_dir / "status.json").is_file()
