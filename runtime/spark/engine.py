"""`osiris run --engine spark`: the Spark adapter — the local adapter's prepare and collect,
an execute that runs the same runner over Spark drivers and a plane of DataFrames.

The same manifest, the same session folder (events.jsonl, metrics.jsonl, status.json with
the runner's events and fields), the same write guarantees; plus `spark.log`, Spark's own
log of the run, redacted. A plan with a component Spark cannot run is refused before
anything starts (`unsupported_steps`), with the list of what it can, and so is a plan
compiled for DuckDB only (`without_spark_sql`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runtime.adapters import Collected, RunNotStarted, RunRequest, run_with
from runtime.adapters.local import LocalAdapter, Prepared, load_current
from runtime.builds import Build, PlanError

ENGINES = ("duckdb", "spark")


@dataclass
class SparkOptions:
    """Where and how to run: the master URL and `--spark-conf` settings."""

    master: str | None = None
    conf: Mapping[str, str] = field(default_factory=dict)


def parse_conf(pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
    """`k=v` strings as a mapping; raises ValueError naming the bad one.

    >>> parse_conf(["spark.executor.memory=2g", "osiris.jdbc.partitions=4"])
    {'spark.executor.memory': '2g', 'osiris.jdbc.partitions': '4'}
    """
    conf = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{pair!r} is not KEY=VALUE")
        conf[key.strip()] = value
    return conf


def unsupported_steps(plan: Build) -> list[tuple[str, str]]:
    """(step id, component) of each step the Spark engine cannot run."""
    from runtime.spark.steps import SUPPORTED

    return [(s.id, s.component) for s in plan.steps() if s.component not in SUPPORTED]


def without_spark_sql(plan: Build) -> list[str]:
    """The transforms of a plan compiled for DuckDB only: no Spark SQL of theirs in it."""
    return [s.id for s in plan.steps() if s.component == "duckdb.processor" and not s.spark_sql]


def check_plan(plan: Build) -> None:
    """Refuse a plan Spark cannot run, before anything starts (a PlanError: exit 2): a
    component Spark has no driver for, or a transform with no Spark SQL — the compiler
    writes it (`--engine spark`), so a query Spark cannot express is a diagnostic of the
    compile, never a surprise of the run."""
    from runtime.spark.steps import SUPPORTED

    refused = unsupported_steps(plan)
    if refused:
        listed = ", ".join(f"{step} ({component})" for step, component in refused)
        raise PlanError(
            f"the Spark engine cannot run step{'s' if len(refused) > 1 else ''} {listed}",
            hint="run this plan with --engine duckdb (the default), or move those steps to "
            "a pipeline of their own; Spark runs: " + ", ".join(sorted(SUPPORTED)),
        )
    missing = without_spark_sql(plan)
    if missing:
        many = len(missing) > 1
        raise PlanError(
            f"the plan was compiled for DuckDB only: its step{'s' if many else ''} "
            f"{', '.join(missing)} (duckdb.processor) {'have' if many else 'has'} no Spark SQL",
            hint="compile it for Spark: `osiris compile --engine spark FILE.yaml` (MCP: "
            "oml_compile with engine 'spark') and run that build, or `osiris run --engine "
            "spark FILE.yaml`, which compiles for Spark",
        )


class SparkAdapter(LocalAdapter):
    """prepare (checked for Spark, the SparkSession started) → execute → collect."""

    def __init__(self, options: SparkOptions) -> None:
        self.options = options
        self.spark: Any = None

    def prepare(self, request: RunRequest) -> Prepared:
        from runtime.spark.session import SparkUnavailable, spark_session

        plan = load_current(request.build_dir)
        check_plan(plan)
        if request.select:
            raise PlanError(
                "--select runs with the DuckDB engine only (it reuses outputs kept by a local run)",
                hint="drop --select, or run with --engine duckdb",
            )
        try:
            self.spark = spark_session(self.options.master, self.options.conf)
        except SparkUnavailable as err:
            raise RunNotStarted(str(err), hint=err.hint) from None
        return super().prepare(request)

    def execute(self, prepared: Prepared) -> str:
        from runtime.spark.plane import SparkPlane
        from runtime.spark.session import spark_log, split_conf
        from runtime.spark.steps import SparkDrivers

        log = spark_log()
        since = log.offset()
        _, settings = split_conf(self.options.conf)
        plane = SparkPlane(self.spark, prepared.session.run_id)
        try:
            prepared.run(plane, drivers=SparkDrivers(prepared.plan, settings).load)
            if prepared.status != "cancelled":
                keep_samples(plane, prepared.session, prepared.request.keep_outputs)
        finally:
            plane.close()
            log.copy_into(prepared.session.dir / "spark.log", since, prepared.session.redactor)
        return prepared.status


def keep_samples(plane: Any, session: Any, whole: bool = False) -> None:
    """Each step's table into artifacts/<step>/output.parquet (100 rows unless `whole`),
    with output.json, as a local run keeps them (runtime/outputs.py)."""
    import pyarrow.parquet as pq

    from runtime.outputs import OUTPUT_FILE, OUTPUT_INFO, SAMPLE_ROWS
    from runtime.spark.types import columns

    for name, frame in list(plane.tables.items()):
        step_id = name[1:-1].replace('""', '"') if name.startswith('"') else name
        try:
            rows = int(frame.count())
            table = (frame if whole else frame.limit(SAMPLE_ROWS)).toArrow()
            folder = session.artifacts_dir(step_id)
            staging = folder / f".{OUTPUT_FILE}.tmp"
            pq.write_table(table, staging)
            staging.replace(folder / OUTPUT_FILE)
        except Exception as err:  # keeping a sample must never fail the run
            session.event("artifact.error", step_id=step_id, error=str(err)[:500])
            continue
        info = {
            "rows": rows,
            "kept_rows": table.num_rows,
            "whole": table.num_rows == rows,
            "columns": [list(pair) for pair in columns(frame)],
            "file": OUTPUT_FILE,
        }
        (folder / OUTPUT_INFO).write_text(json.dumps(info, sort_keys=True) + "\n", "utf-8")


def run_build_on_spark(request: RunRequest, options: SparkOptions | None = None) -> Collected:
    """prepare → execute → collect with the Spark adapter: what the worker and the CLI call."""
    collected: Collected = run_with(SparkAdapter(options or SparkOptions()), request)
    return collected
