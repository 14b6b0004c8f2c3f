"""The exact path: a component's own DuckDB driver, run on the Spark driver's machine.

For what Spark's readers and writers cannot do the way a local run does (JSON files, a
CSV in another encoding or appended to, ...): the rows go between Spark and a private,
locked DuckDB (the local run's `open_data_plane`) as Arrow, and the component's own driver
reads or writes them there — the same types and the same bytes as a local run, at the cost
of the rows passing through this one machine.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from components.common.quoting import quote_identifier
from components.protocol import StepContext, StepResult

_INPUT = "_osiris_spark_input"


class _OnDuckDB:
    """The step's context with a DuckDB data plane of its own in place of Spark's."""

    def __init__(self, ctx: StepContext, plane: Any) -> None:
        self._ctx = ctx
        self.data_plane = plane
        self.output_table = ctx.output_table

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)


def _plane(ctx: StepContext, files_read: list[Path]) -> Any:
    from runtime.adapters.local import open_data_plane

    spill = Path(ctx.artifacts_dir).parent.parent / ".spill"
    return open_data_plane(None, spill, files_read=files_read)


def read(ctx: StepContext, config: Mapping[str, Any], component: str) -> Any:
    """The component's driver reads into DuckDB; its table becomes a DataFrame."""
    from runtime.runner import load_driver
    from runtime.spark.types import spark_type

    driver = load_driver(component)
    files = list(driver.files_read(config, ctx.connection, ctx.project_dir))
    plane = _plane(ctx, files)
    try:
        driver.run(_OnDuckDB(ctx, plane), config, {})
        described = plane.execute(f"DESCRIBE SELECT * FROM {ctx.output_table}").fetchall()
        table = plane.sql(f"SELECT * FROM {ctx.output_table}").to_arrow_table()
    finally:
        plane.close()
    from pyspark.sql import functions as F

    frame = ctx.data_plane.spark.createDataFrame(table)
    return frame.select(
        *(
            F.col(quote_identifier(str(name), "mysql")).cast(spark_type(str(kind))).alias(str(name))
            for name, kind, *_ in described
        )
    )


def write(ctx: StepContext, config: Mapping[str, Any], component: str, frame: Any) -> StepResult:
    """The DataFrame goes into DuckDB as Arrow; the component's driver writes it."""
    from runtime.runner import load_driver

    table = frame.toArrow()
    plane = _plane(ctx, [])
    try:
        plane.from_arrow(table).create(_INPUT)
        result: StepResult = load_driver(component).run(
            _OnDuckDB(ctx, plane), config, {"df": quote_identifier(_INPUT)}
        )
    finally:
        plane.close()
    return result
