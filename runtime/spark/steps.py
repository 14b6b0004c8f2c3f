"""A Spark driver per supported component, with the runner's driver protocol.

`SparkDrivers(plan, settings).load` is what the runner calls for a step's driver
(`Runner(drivers=...)`): each driver's `run(ctx, config, inputs)` reads its upstream
tables from the run's `SparkPlane` (`ctx.data_plane`, a `SparkCursor`) and keeps its own
there, as the DuckDB drivers do on the local data plane. `SUPPORTED` is the whole list:
a plan with any other component is refused before it starts (runtime/spark/engine.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components.file_output import input_table
from components.protocol import DriverError, StepContext, StepResult
from runtime.spark import files, jdbc

#: component -> what the Spark engine does with it
SUPPORTED = {
    "mysql.extractor": "Spark JDBC read (partitioned on the primary key)",
    "postgres.extractor": "Spark JDBC read (partitioned on the primary key)",
    "supabase.extractor": "Spark JDBC read (partitioned on the primary key)",
    "filesystem.csv_extractor": "Spark's CSV reader, typed by DuckDB's sniffer",
    "filesystem.parquet_extractor": "Spark's Parquet reader",
    "filesystem.json_extractor": "the component's DuckDB reader, rows handed to Spark",
    "duckdb.processor": "Spark SQL (the plan's, transpiled from DuckDB by the compiler)",
    "filesystem.csv_writer": "one CSV file written by Spark",
    "filesystem.parquet_writer": "one Parquet file written by Spark",
    "filesystem.json_writer": "the component's DuckDB writer, rows from Spark",
    "mysql.writer": "Spark JDBC into a stage table, moved in one transaction",
    "postgres.writer": "Spark JDBC into a stage table, moved in one transaction",
    "supabase.writer": "Spark JDBC into a stage table, moved in one transaction",
}

_views = itertools.count(1)


@dataclass(frozen=True)
class _Extractor:
    component: str
    settings: Mapping[str, str]

    def run(
        self, ctx: StepContext, config: Mapping[str, Any], inputs: Mapping[str, str]
    ) -> StepResult:
        if ctx.cancelled():
            raise DriverError("cancelled before reading", category="cancelled")
        family = self.component.split(".")[0]
        if family in ("mysql", "postgres", "supabase"):
            frame = jdbc.read(ctx, config, family, self.settings)
            fields = ctx.connection or {}
        elif self.component == "filesystem.csv_extractor":
            frame, fields = files.read_csv(ctx, config), {}
        elif self.component == "filesystem.parquet_extractor":
            frame, fields = files.read_parquet(ctx, config), {}
        else:
            from runtime.spark import through_duckdb

            frame, fields = through_duckdb.read(ctx, config, self.component), {}
        with jdbc.spark_errors("read", fields):
            rows = ctx.data_plane.put(ctx.output_table, frame)
        partitions = frame.rdd.getNumPartitions() if family != "filesystem" else None
        details = {"engine": "spark", **({"partitions": partitions} if partitions else {})}
        return StepResult(rows_read=rows, rows_written=rows, details=details)


@dataclass(frozen=True)
class _Writer:
    component: str

    def run(
        self, ctx: StepContext, config: Mapping[str, Any], inputs: Mapping[str, str]
    ) -> StepResult:
        frame = ctx.data_plane.table(input_table(inputs, self.component))
        family = self.component.split(".")[0]
        fields = ctx.connection or {}
        with jdbc.spark_errors("write", fields):
            rows = int(frame.count())  # the input is cached: no second read of the source
            if ctx.cancelled():
                raise DriverError("cancelled before writing", category="cancelled")
            if family in ("mysql", "postgres", "supabase"):
                return jdbc.write(ctx, config, family, frame, rows)
            if self.component == "filesystem.csv_writer":
                return files.write_csv(ctx, config, frame, rows)
            if self.component == "filesystem.parquet_writer":
                return files.write_parquet(ctx, config, frame, rows)
            from runtime.spark import through_duckdb

            return through_duckdb.write(ctx, config, self.component, frame)


@dataclass(frozen=True)
class _Processor:
    """duckdb.processor as Spark SQL: the plan's `spark_sql`, each upstream table a view."""

    plan: Any

    def run(
        self, ctx: StepContext, config: Mapping[str, Any], inputs: Mapping[str, str]
    ) -> StepResult:
        step = self.plan.manifest.step(ctx.step_id)
        sql = step.spark_sql if step is not None else None
        if sql is None:  # a plan for DuckDB only: runtime/spark/engine.py refuses it first
            raise DriverError("the plan has no Spark SQL for this step", category="config")
        plane = ctx.data_plane
        views = {name: f"_osiris_v{next(_views)}" for name in inputs}
        for name, table in inputs.items():
            plane.table(table).createOrReplaceTempView(views[name])
        try:
            query = _with_views(sql, views)
            with jdbc.spark_errors("transform", {}):
                try:
                    frame = plane.spark.sql(query)
                except Exception as err:
                    if type(err).__name__ in ("AnalysisException", "ParseException"):
                        message = str(err).split("\n")[0]
                        for name, view in views.items():
                            message = message.replace(view, name)
                        raise DriverError(
                            f"Spark SQL refused the query: {message}", category="sql"
                        ) from None
                    raise
                rows = plane.put(ctx.output_table, frame)
        finally:
            for view in views.values():
                plane.spark.catalog.dropTempView(view)
        return StepResult(rows_read=rows, rows_written=rows, details={"engine": "spark"})


def _with_views(sql: str, views: Mapping[str, str]) -> str:
    """`sql` with each upstream table name read as its step's view (unique to this step,
    so steps running at the same time never see each other's); an unaliased table keeps
    its name as its alias, so `orders.amount` still resolves.

    >>> _with_views("SELECT orders.id FROM orders JOIN c ON c.id = orders.id",
    ...             {"orders": "v1", "c": "v2"})
    'SELECT orders.id FROM v1 AS orders JOIN v2 AS c ON c.id = orders.id'
    """
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="spark")
    ctes = {cte.alias for cte in tree.find_all(exp.CTE)}
    for table in list(tree.find_all(exp.Table)):
        name = table.name
        if table.db or name not in views or name in ctes:
            continue
        alias = table.alias or name
        table.replace(exp.alias_(exp.to_table(views[name]), alias, table=True))
    return tree.sql(dialect="spark")


class SparkDrivers:
    """The runner's driver loader for a Spark run."""

    def __init__(self, plan: Any, settings: Mapping[str, str]) -> None:
        self.plan = plan
        self.settings = dict(settings)

    def load(self, component: str) -> Any:
        if component not in SUPPORTED:
            raise DriverError(f"the Spark engine cannot run {component}", category="config")
        if component == "duckdb.processor":
            return _Processor(self.plan)
        if component.endswith("writer"):  # mysql.writer, filesystem.csv_writer
            return _Writer(component)
        return _Extractor(component, self.settings)
