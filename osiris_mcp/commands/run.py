"""`osiris run FILE|BUILD_DIR`: compile when given OML, then execute the plan."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from osiris_mcp.commands.options import (
    add_compile_inputs,
    compile_context,
    project_dir,
    read_source,
    usage_error,
)

HELP = "Run a pipeline (OML file or build folder); exit 0 success, 1 run failed, 2 compile errors."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target", metavar="FILE|BUILD_DIR", help="OML file or compiled build folder"
    )
    parser.add_argument(
        "--parallel", type=int, default=1, metavar="N", help="run up to N independent steps at once"
    )
    parser.add_argument("--json", action="store_true", help="print a machine-readable result")
    parser.add_argument(
        "--no-optimize", action="store_true", help="compile without pushdown rewrites"
    )
    parser.add_argument("--keep-data-plane", action="store_true", help="keep the run's DuckDB file")
    add_compile_inputs(parser)


def run(args: argparse.Namespace) -> int:
    from compiler.diagnostics import render

    project = project_dir(args)
    target = Path(args.target)
    if args.parallel < 1:
        usage_error("--parallel must be at least 1")
        return 2
    if target.is_dir():
        build_dir = target
    else:
        from osiris_mcp.commands.compile import compile_to_disk

        context = compile_context(args, optimize=not args.no_optimize)
        source = read_source(target)
        if context is None or source is None:
            return 2
        started = time.perf_counter()
        outcome = compile_to_disk(source, context, str(target), project, None)
        compile_ms = int((time.perf_counter() - started) * 1000)
        if not outcome["ok"]:
            if args.json:
                print(
                    json.dumps(
                        {"status": "compile_error", "diagnostics": outcome["diagnostics"]}, indent=2
                    )
                )
            else:
                for diagnostic in outcome["diagnostics_objects"]:
                    print(render(diagnostic, str(target), outcome["source"]), file=sys.stderr)
            return 2
        build_dir = Path(outcome["build_dir"])
        compilation = {
            "manifest_hash": outcome["manifest_hash"],
            "cached": outcome["cached"],
            "duration_ms": compile_ms,
            "source": str(target),
        }
        return execute(build_dir, project, args, compilation)
    return execute(build_dir, project, args, None)


def execute(
    build_dir: Path, project: Path, args: argparse.Namespace, compilation: dict[str, Any] | None
) -> int:
    from runtime.adapters import RunRequest
    from runtime.adapters.local import PlanError, run_build

    live = LiveReport(enabled=sys.stderr.isatty() and not args.json)
    request = RunRequest(
        build_dir=build_dir,
        project=project,
        parallel=args.parallel,
        on_event=live.on_event,
        keep_data_plane=args.keep_data_plane,
        compilation=compilation,
    )
    try:
        collected = run_build(request)
    except PlanError as err:
        usage_error(str(err) + (f"\n  hint: {err.hint}" if err.hint else ""))
        return 2
    if args.json:
        print(
            json.dumps(
                {
                    "run_id": collected.run_id,
                    "status": collected.status,
                    "session_dir": str(collected.session_dir),
                    "duration_ms": collected.duration_ms,
                    "steps": collected.steps,
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        print_summary(collected)
    return 0 if collected.status == "success" else 1


def print_summary(collected: Any) -> None:
    rows = [("step", "status", "rows read", "rows written", "time")]
    for step in collected.steps:
        rows.append(
            (
                step["id"],
                step["status"],
                f"{step.get('rows_read', 0):,}",
                f"{step.get('rows_written', 0):,}",
                f"{step.get('duration_ms', 0) / 1000:.2f}s",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for index, row in enumerate(rows):
        print(
            "  ".join(
                cell.ljust(widths[i]) if i < 2 else cell.rjust(widths[i])
                for i, cell in enumerate(row)
            )
        )
        if index == 0:
            print("  ".join("-" * w for w in widths))
    for step in collected.steps:
        if step.get("error"):
            print(f"\nstep '{step['id']}' failed ({step.get('category')}): {step['error']}")
    outputs = [
        s["details"]["path"]
        for s in collected.steps
        if s.get("mode") == "write" and s.get("details", {}).get("path")
    ]
    print(f"\nrun {collected.run_id}: {collected.status} in {collected.duration_ms / 1000:.2f}s")
    for path in outputs:
        print(f"output: {path}")
    print(f"logs: {collected.session_dir}")


class LiveReport:
    """A line per step on a terminal while the run goes; all events on TRACE/DEBUG."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.trace = os.environ.get("OSIRIS_LOG_LEVEL", "").upper() in ("TRACE", "DEBUG")
        self.started: dict[str, float] = {}

    def on_event(self, event: dict[str, Any]) -> None:
        if self.trace:
            print(json.dumps(event, ensure_ascii=False), file=sys.stderr)
        if not self.enabled:
            return
        kind = event["event_type"]
        step = event.get("step_id")
        data = event.get("data", {})
        if kind == "execution.step.start" and step:
            self.started[step] = time.monotonic()
            print(f"  ▸ {step} ({data.get('component')}) …", file=sys.stderr)
        elif kind == "write.progress" and step:
            elapsed = time.monotonic() - self.started.get(step, time.monotonic())
            rows = int(data.get("rows", 0))
            rate = rows / elapsed if elapsed > 0 else 0
            print(
                f"\r    {step}: {rows:,} rows  {rate:,.0f} rows/s  {elapsed:.1f}s",
                end="",
                file=sys.stderr,
            )
        elif kind == "execution.step.complete" and step:
            elapsed = time.monotonic() - self.started.get(step, time.monotonic())
            written = data.get("rows_written", 0)
            line = f"\r  ✓ {step}: {written:,} rows written in {elapsed:.2f}s"
            print(line.ljust(60), file=sys.stderr)
        elif kind == "execution.step.error" and step:
            print(f"\r  ✗ {step}: {data.get('error')}", file=sys.stderr)
        elif kind == "execution.step.skipped" and step:
            print(f"  - {step}: skipped", file=sys.stderr)
