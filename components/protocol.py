"""The driver protocol: how the runtime hands a step to a component's driver, and what it gets back.

A driver imports nothing of Osiris: every service reaches it through the `StepContext`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from components.common.errors import HintedError


class StepContext(Protocol):
    step_id: str
    #: The run's DuckDB data plane (a cursor private to this step). Each step's output is
    #: a table named after the step id: `ctx.output_table`, already quoted for SQL.
    data_plane: Any
    output_table: str
    #: The resolved connection fields (host, port, user, password, database, ...), or None
    #: for components without one. Secrets live here in memory only.
    connection: Mapping[str, Any] | None
    artifacts_dir: Path
    project_dir: Path

    def emit(self, event: str, **data: Any) -> None: ...

    def metric(self, name: str, value: float, unit: str | None = None) -> None: ...

    def cancelled(self) -> bool: ...


def no_python_tables(data_plane: Any) -> None:
    """Make sure no query resolves an unknown table name to a Python variable of the
    calling frames (a DataFrame, an Arrow table). The run's locked data plane has that off
    already, and refuses any change of setting; a plane of one's own (tests) gets it here."""
    (enabled, external) = data_plane.execute(
        "SELECT current_setting('python_enable_replacements'), "
        "current_setting('enable_external_access')"
    ).fetchone()
    if enabled and external:  # without external access DuckDB makes no replacement scan
        data_plane.execute("SET python_enable_replacements = false")


@dataclass
class StepResult:
    rows_read: int = 0
    rows_written: int = 0
    #: Anything else worth reporting (target table, file path, ...): JSON-safe values only.
    details: dict[str, Any] = field(default_factory=dict)


class Driver(Protocol):
    def run(
        self, ctx: StepContext, config: Mapping[str, Any], inputs: Mapping[str, str]
    ) -> StepResult:
        """Run one step. `inputs` maps input names to data-plane table names (quoted)."""
        ...


class RowStream(Protocol):
    """A read step's rows handed straight to the one writer that consumes them.

    When a read step's only consumer is a writer, the runner runs the two together: the
    reader's `stream(ctx, config)` gives this, the writer's `write_stream(ctx, config,
    stream)` consumes it, and no data-plane table holds the rows in between (it would
    spill past the memory limit and be read back: measured 1.7x slower at 5M rows).
    """

    #: The rows' columns as (name, DuckDB type), in order: what the table would have held.
    columns: list[tuple[str, str]]
    #: Rows delivered so far; all of them once `finished`.
    rows: int
    #: Every row was delivered (`relations` ran to its end).
    finished: bool
    #: What the reader reports (reader name, columns...), as a StepResult's details.
    details: dict[str, Any]

    def relations(self, plane: Any, restart: Callable[[], None]) -> Iterator[Any]:
        """The rows as DuckDB relations on `plane`, batch by batch, typed as `columns`:
        at least one (an empty one when there are no rows), so a consumer always sees the
        columns. `columns` is set once the first relation is given.

        A reader that meets a value it cannot read exactly starts again with the next one:
        `restart()` is called first, and the consumer drops what it has written so far.
        A failure of the read is raised as `ReadFailed`.
        """
        ...


@dataclass
class ReadRelation:
    """A read step's rows as one DuckDB SELECT, for a chain of DuckDB-only steps fused into
    one statement (runtime/fusion.py): the SELECT is what the step's table would hold.

    A file reader gives this from `relation(ctx, config)` (when `takes_fused(config)`),
    having done the work that types the columns (sniffing, the scan for exact decimals);
    the chain reads `sql` as a view and its writer's one COPY streams it into the file.
    `load(plane, table)` makes the step's table of it exactly as the reader's `run` does,
    errors worded alike: what the runner does when the chain cannot run as one statement.
    """

    #: `SELECT <columns> FROM <table function>[ LIMIT n]`, no trailing semicolon
    sql: str
    load: Callable[[Any, str], StepResult]
    #: what the reader reports besides its rows and columns (the file it read)
    details: dict[str, Any] = field(default_factory=dict)


class DriverError(HintedError):
    """A step failed for a reason the user can act on.

    `category` is one of: auth, network, timeout, permission, config, sql, data, io,
    cancelled. `retryable` marks failures worth retrying (connection drop, deadlock).
    """

    def __init__(
        self,
        message: str,
        *,
        category: str = "data",
        retryable: bool = False,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.category = category
        self.retryable = retryable


class ReadFailed(Exception):
    """Raised out of a `RowStream` when its reader failed: the read step failed (with
    `error`), not the writer that was consuming its rows."""

    def __init__(self, error: DriverError) -> None:
        super().__init__(str(error))
        self.error = error


def first_paragraph(err: Exception) -> str:
    """A DuckDB error's first paragraph: the message, without its long explanation."""
    return str(err).strip().split("\n\n")[0].strip()


def missing_input(err: Exception) -> DriverError:
    """The error for a step whose input table is not on the data plane."""
    return DriverError(
        f"an input table is missing from the data plane: {first_paragraph(err)}",
        category="config",
        hint="the upstream step did not produce its table",
    )
