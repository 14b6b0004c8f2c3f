"""`osiris run FILE|BUILD_DIR`: compile when given OML, then execute the plan."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from osiris_mcp.commands import options

HELP = "Run a pipeline (OML file or build folder); exit 0 success, 1 run failed, 2 compile errors."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target",
        nargs="?",
        metavar="FILE|BUILD_DIR",
        help="OML file, compiled build folder (or its manifest.yaml)",
    )
    parser.add_argument(
        "--last-compile",
        action="store_true",
        help="run the build the last `osiris compile` produced (instead of FILE)",
    )
    parser.add_argument(
        "--parallel", type=int, default=1, metavar="N", help="run up to N independent steps at once"
    )
    parser.add_argument("--json", action="store_true", help="print a machine-readable result")
    parser.add_argument(
        "--no-color", action="store_true", help="progress without colour (also: NO_COLOR=1)"
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="compile, then print the steps and the tables and files the run would change; "
        "reads no data, opens no connection, runs nothing",
    )
    parser.add_argument(
        "--select",
        action="append",
        metavar="STEP",
        help="run only STEP (STEP+: and what follows it, +STEP: and what it needs; "
        "repeatable); left-out inputs come from the last run of this plan with "
        "--keep-outputs, else they run too",
    )
    parser.add_argument(
        "--keep-outputs",
        action="store_true",
        help="keep each step's whole table in the run's artifacts/ (not only 100 rows), "
        "for --select to reuse",
    )
    parser.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="a sample run: at most N rows per source, no target written; what each writer "
        "would write goes to run_logs/samples/ as CSV",
    )
    options.add_no_optimize(parser)
    parser.add_argument("--keep-data-plane", action="store_true", help="keep the run's DuckDB file")
    parser.add_argument(
        "--memory-limit",
        metavar="SIZE",
        help="DuckDB memory for the data plane, e.g. 512MB or 2GB (default 128MB or "
        "$OSIRIS_MEMORY_LIMIT); beyond it, data spills to disk",
    )
    options.add_compile_inputs(parser)
    spark = parser.add_argument_group("Spark engine (docs/scale-out.md)")
    spark.add_argument(
        "--engine",
        choices=("duckdb", "spark"),
        default="duckdb",
        help="what runs the steps: duckdb on this machine (default), or Apache Spark "
        "(needs the spark extra and Java 17+)",
    )
    spark.add_argument(
        "--spark-master",
        metavar="URL",
        help="Spark master for --engine spark: local[N] or spark://HOST:PORT (default local[2])",
    )
    spark.add_argument(
        "--spark-conf",
        action="append",
        metavar="KEY=VALUE",
        help="a Spark setting for --engine spark (repeatable); osiris.jdbc.partitions=N "
        "splits database reads in N, osiris.jdbc.rows_per_partition=N sizes them",
    )
    e2b = parser.add_argument_group("E2B sandbox (docs/e2b.md)")
    e2b.add_argument(
        "--e2b",
        action="store_true",
        help="run the plan in an E2B cloud sandbox (needs E2B_API_KEY and the e2b extra)",
    )
    e2b.add_argument(
        "--e2b-cpu", type=int, metavar="N", help="vCPUs the sandbox must have (set by its template)"
    )
    e2b.add_argument(
        "--e2b-mem", type=int, metavar="MB", help="MiB of memory the sandbox must have (template)"
    )
    e2b.add_argument(
        "--e2b-timeout", type=int, default=900, metavar="S", help="the run's time limit (900)"
    )
    e2b.add_argument(
        "--e2b-template", metavar="NAME", help="E2B template (default $OSIRIS_E2B_TEMPLATE, base)"
    )
    e2b.add_argument(
        "--e2b-artifacts",
        default="100MB",
        metavar="SIZE",
        help="download at most SIZE of artifacts (100MB; 0: none)",
    )
    e2b.add_argument(
        "--e2b-data",
        action="store_true",
        help="also download data files: what file writers wrote, and a kept data plane",
    )


def run(args: argparse.Namespace) -> int:
    from compiler.diagnostics import render

    project = options.project_dir(args)
    if args.last_compile == bool(args.target):
        options.usage_error(
            "give a pipeline file or --last-compile, not both"
            if args.target
            else "give a pipeline file, a build folder, or --last-compile"
        )
        return 2
    if args.last_compile:
        from runtime.builds import last_build

        found = last_build(project)
        if found is None:
            options.usage_error(
                f"no recent compile in {project}\n  hint: run `osiris compile FILE` first"
            )
            return 2
        target = found
    else:
        target = Path(args.target)
    if target.name == "manifest.yaml" and target.is_file():
        target = target.parent  # 0.5.7's form: `osiris run build/.../manifest.yaml`
    if args.parallel < 1:
        options.usage_error("--parallel must be at least 1")
        return 2
    if args.e2b and args.select:
        options.usage_error("--select runs locally only: it reuses outputs kept in run_logs/")
        return 2
    spark = spark_from_args(args)
    if spark is False:
        return 2
    local_only = args.dry_run or args.limit is not None  # neither needs a sandbox
    sandbox = sandbox_from_args(args, project) if args.e2b and not local_only else None
    if args.e2b and not local_only and sandbox is None:
        return 2
    compilation: dict[str, Any] | None = None
    if target.is_dir():
        build_dir = target
    else:
        from runtime.app import compile_to_disk

        context = options.compile_context(args, optimize=not args.no_optimize)
        source = options.read_source(target)
        if context is None or source is None:
            return 2
        if spark and not local_only:
            _start_spark(spark, args)
        started = time.perf_counter()
        outcome = compile_to_disk(source, context, str(target), project, None)
        compile_ms = int((time.perf_counter() - started) * 1000)
        if not outcome.ok:
            from runtime.sessions import record_compile_failure

            program = outcome.program
            name = program.pipeline.name if program and program.pipeline else target.stem
            if not args.dry_run:  # a dry run leaves run_logs/ as it was
                record_compile_failure(
                    project, _safe_name(name), str(target), outcome.diagnostics_dicts()
                )
            if args.json:
                print(
                    json.dumps(
                        {
                            "status": "compile_error",
                            "diagnostics": outcome.diagnostics_dicts(),
                            **({"error": outcome.error} if outcome.error else {}),
                        },
                        indent=2,
                    )
                )
            else:
                for diagnostic in outcome.diagnostics:
                    print(render(diagnostic, str(target), outcome.source), file=sys.stderr)
                if outcome.error:
                    options.usage_error(outcome.error)
            return 2
        build_dir = outcome.build_dir
        compilation = {
            "manifest_hash": outcome.manifest_hash,
            "cached": outcome.cached,
            "duration_ms": compile_ms,
            "source": str(target),
        }
    if args.dry_run:
        from osiris_mcp.commands.preview import dry_run

        return dry_run(build_dir, args.json)
    if args.limit is not None:
        from osiris_mcp.commands.preview import sample_run

        return sample_run(build_dir, project, args.limit, args.json)
    return execute(build_dir, project, args, compilation, sandbox, spark or None)


def _start_spark(spark: Any, args: argparse.Namespace) -> None:
    """Start the run's Spark session before the compile, so that the compile's Spark check
    analyses on it — one JVM, not two (~10 s each on 2 cores)."""
    from runtime.spark.session import SparkUnavailable, spark_session

    _say_spark_starts(spark, args)
    with contextlib.suppress(SparkUnavailable):  # the run says why, with the hint
        spark_session(spark.master, spark.conf)


def _say_spark_starts(spark: Any, args: argparse.Namespace) -> None:
    """On a terminal, what the wait is when a JVM is about to start: not a silent screen."""
    from runtime.spark.session import DEFAULT_MASTER, active_session

    if active_session() is None and sys.stderr.isatty() and not args.json:
        print(f"osiris: starting Spark on {spark.master or DEFAULT_MASTER}", file=sys.stderr)


def spark_from_args(args: argparse.Namespace) -> Any:
    """SparkOptions for --engine spark, None for duckdb, False after a usage error."""
    engine = getattr(args, "engine", "duckdb")
    if engine != "spark":
        if args.spark_master or args.spark_conf:
            options.usage_error("--spark-master and --spark-conf go with --engine spark")
            return False
        return None
    from runtime.spark.engine import SparkOptions, parse_conf

    for clash, flag in ((args.e2b, "--e2b"), (args.select, "--select"), (args.limit, "--limit")):
        if clash:
            options.usage_error(
                f"{flag} runs with the DuckDB engine only\n  hint: drop {flag}, or drop "
                "--engine spark"
            )
            return False
    try:
        conf = parse_conf(args.spark_conf or [])
    except ValueError as err:
        options.usage_error(
            f"--spark-conf: {err}\n  hint: give KEY=VALUE, e.g. spark.executor.memory=2g"
        )
        return False
    return SparkOptions(args.spark_master, conf)


def sandbox_from_args(args: argparse.Namespace, project: Path) -> Any:
    """(E2BOptions, transport) from the --e2b-* options, checked before anything starts;
    None after a usage error (bad option, no E2B_API_KEY)."""
    from runtime.adapters.e2b import E2BOptions, parse_size, transport_from_env
    from runtime.adapters.sandbox import SandboxError

    try:
        artifacts_cap = parse_size(args.e2b_artifacts)
    except ValueError as err:
        options.usage_error(f"--e2b-artifacts: {err}")
        return None
    for name in ("e2b_cpu", "e2b_mem", "e2b_timeout"):
        value = getattr(args, name)
        if value is not None and value < 1:
            options.usage_error(f"--{name.replace('_', '-')} must be at least 1")
            return None
    sandbox_options = E2BOptions(
        template=args.e2b_template or os.environ.get("OSIRIS_E2B_TEMPLATE") or None,
        cpu=args.e2b_cpu,
        memory_mb=args.e2b_mem,
        timeout_s=args.e2b_timeout,
        artifacts_cap=artifacts_cap,
        data=args.e2b_data,
    )
    transport = transport_from_env(project)
    try:
        transport.check()
    except SandboxError as err:
        options.usage_error(err.message + (f"\n  hint: {err.hint}" if err.hint else ""))
        return None
    return sandbox_options, transport


def execute(
    build_dir: Path,
    project: Path,
    args: argparse.Namespace,
    compilation: dict[str, Any] | None,
    sandbox: Any = None,
    spark: Any = None,
) -> int:
    from runtime.adapters import RunNotStarted, RunRequest
    from runtime.app import run_locally
    from runtime.builds import PlanError

    color = not getattr(args, "no_color", False) and not os.environ.get("NO_COLOR")
    live = LiveReport(enabled=sys.stderr.isatty() and not args.json, color=color)
    request = RunRequest(
        build_dir=build_dir,
        project=project,
        parallel=args.parallel,
        on_event=live.on_event,
        keep_data_plane=args.keep_data_plane,
        memory_limit=args.memory_limit,
        compilation=compilation,
        select=tuple(args.select or ()),
        keep_outputs=args.keep_outputs,
    )
    if spark is not None:
        _say_spark_starts(spark, args)
    try:
        with live:
            if spark is not None:
                from runtime.spark.engine import run_build_on_spark

                # in this process: Spark's work is in its JVM, so Ctrl-C is heard here
                collected = run_build_on_spark(request, spark)
            elif sandbox is None:
                collected = run_locally(request)
            else:
                from runtime.adapters.e2b import run_in_sandbox

                collected = run_in_sandbox(request, *sandbox)
    except PlanError as err:
        options.usage_error(str(err) + (f"\n  hint: {err.hint}" if err.hint else ""))
        return 2
    except RunNotStarted as err:
        options.usage_error(str(err) + (f"\n  hint: {err.hint}" if err.hint else ""))
        return 1
    error = collected.error  # the disk refused the logs, or the sandbox itself failed
    if args.json:
        print(
            json.dumps(
                {
                    "run_id": collected.run_id,
                    "status": collected.status,
                    "session_dir": str(collected.session_dir),
                    "duration_ms": collected.duration_ms,
                    "steps": collected.steps,
                    **({"error": error} if error else {}),
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        print_summary(collected)
        written = [
            s
            for s in collected.steps
            if s.get("mode") == "write" and "path" in s.get("details", {})
        ]
        if sandbox is not None and not args.e2b_data and written:
            print("note: output files stayed in the sandbox; --e2b-data downloads them")
        if error:
            hint = f"\n  hint: {error['hint']}" if error.get("hint") else ""
            where = "sandbox: " if sandbox is not None else ""
            options.usage_error(f"{where}{error['message']}{hint}")
    if collected.status == "cancelled":
        return 130  # stopped by Ctrl-C (or a cancel): the shell's code for SIGINT
    return 0 if collected.status == "success" else 1


def _safe_name(name: str) -> str:
    """A folder name for run_logs/ even when the pipeline's own name is invalid."""
    import re

    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "_", name).strip(".") or "pipeline"
    return cleaned[:128]


def print_summary(collected: Any) -> None:
    rows = [("step", "status", "rows read", "rows written", "time")]
    for step in collected.steps:
        rows.append(
            (
                step["id"],
                "reused" if (step.get("details") or {}).get("reused_from") else step["status"],
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
    """Progress bars on a terminal while the run goes (osiris_mcp/progress.py); every
    event as a JSON line on stderr with OSIRIS_LOG_LEVEL=TRACE/DEBUG."""

    def __init__(self, enabled: bool, color: bool = True) -> None:
        self.trace = os.environ.get("OSIRIS_LOG_LEVEL", "").upper() in ("TRACE", "DEBUG")
        self.bars: Any = None
        if enabled and not self.trace:
            from osiris_mcp.progress import LiveProgress

            self.bars = LiveProgress(color=color)

    def __enter__(self) -> LiveReport:
        if self.bars is not None:
            self.bars.start()
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        if self.bars is not None:
            self.bars.stop()
            if kind is KeyboardInterrupt:
                self.bars.note("osiris: interrupted")

    def on_event(self, event: dict[str, Any]) -> None:
        if self.trace:
            print(json.dumps(event, ensure_ascii=False), file=sys.stderr)
        if self.bars is not None:
            self.bars.on_event(event)
