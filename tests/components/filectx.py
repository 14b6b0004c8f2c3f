"""A StepContext for driver tests of the file components: a real DuckDB data plane, no runner.

Each context gets its own cursor on the shared data plane, as the runner gives each step,
and records what the driver emits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class FileStepContext:
    """What a driver sees of a run (components/protocol.py `StepContext`)."""

    step_id: str
    data_plane: Any
    project_dir: Path
    artifacts_dir: Path
    connection: Mapping[str, Any] | None = None
    output_table: str = ""
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    metrics: list[tuple[str, float, str | None]] = field(default_factory=list)
    cancel: bool = False

    def __post_init__(self) -> None:
        self.output_table = self.output_table or quote(self.step_id)

    def emit(self, event: str, **data: Any) -> None:
        self.events.append((event, data))

    def metric(self, name: str, value: float, unit: str | None = None) -> None:
        self.metrics.append((name, value, unit))

    def cancelled(self) -> bool:
        return self.cancel


@dataclass
class FilePlane:
    """A run-scoped data plane (a DuckDB file) and a project folder, handing out contexts."""

    project_dir: Path
    connection: Any  # the duckdb connection to the data plane file

    def context(self, step_id: str, connection: Mapping[str, Any] | None = None) -> FileStepContext:
        artifacts = self.project_dir / "artifacts" / step_id
        artifacts.mkdir(parents=True, exist_ok=True)
        return FileStepContext(
            step_id=step_id,
            data_plane=self.connection.cursor(),
            project_dir=self.project_dir,
            artifacts_dir=artifacts,
            connection=connection,
        )

    def rows(self, table: str) -> list[tuple[Any, ...]]:
        return list(self.connection.execute(f"SELECT * FROM {quote(table)}").fetchall())

    def columns(self, table: str) -> list[tuple[str, str]]:
        described = self.connection.execute(f"DESCRIBE {quote(table)}").fetchall()
        return [(str(row[0]), str(row[1])) for row in described]
