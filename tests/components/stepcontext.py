"""A minimal StepContext for driver tests: a real DuckDB data plane, events kept in lists."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb


@dataclass
class RecordingContext:
    """What the runtime hands a driver, with every event and metric recorded for asserts.

    `cancel_after_events` makes `cancelled()` turn true once that many progress events
    were emitted, to test that drivers stop cleanly between batches.
    """

    data_plane: Any
    connection: Mapping[str, Any] | None
    artifacts_dir: Path
    project_dir: Path
    step_id: str = "step"
    output_table: str = '"step"'
    cancel_after_events: int | None = None
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)

    def emit(self, event: str, **data: Any) -> None:
        self.events.append((event, data))

    def metric(self, name: str, value: float, unit: str | None = None) -> None:
        self.metrics[name] = value

    def cancelled(self) -> bool:
        progress = [name for name, _ in self.events if name.endswith(".progress")]
        return self.cancel_after_events is not None and len(progress) >= self.cancel_after_events

    def rows(self, table: str | None = None, order_by: str = "1") -> list[tuple[Any, ...]]:
        """Every row of a data-plane table (the step's output by default), ordered."""
        return self.data_plane.execute(
            f"SELECT * FROM {table or self.output_table} ORDER BY {order_by}"
        ).fetchall()

    def types(self, table: str | None = None) -> list[tuple[str, str]]:
        """(column, DuckDB type) of a data-plane table, in order."""
        described = self.data_plane.execute(f"DESCRIBE {table or self.output_table}").fetchall()
        return [(row[0], row[1]) for row in described]

    def event_names(self) -> list[str]:
        return [name for name, _ in self.events]


def make_context(
    tmp_path: Path, connection: Mapping[str, Any] | None, step_id: str = "step"
) -> RecordingContext:
    """A context on a fresh file-backed DuckDB data plane under `tmp_path`."""
    plane = duckdb.connect(str(tmp_path / "plane.duckdb"))
    artifacts = tmp_path / "artifacts" / step_id
    artifacts.mkdir(parents=True, exist_ok=True)
    return RecordingContext(
        data_plane=plane.cursor(),
        connection=dict(connection) if connection is not None else None,
        artifacts_dir=artifacts,
        project_dir=tmp_path,
        step_id=step_id,
        output_table='"' + step_id.replace('"', '""') + '"',
    )
