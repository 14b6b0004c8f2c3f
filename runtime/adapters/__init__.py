"""Execution adapters: prepare → execute → collect, locally or in a sandbox.

Every adapter gives the same observable result for the same plan: the same session
folder (events, metrics, status, artifacts) and the same outputs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from components.common.errors import HintedError


@dataclass
class RunRequest:
    build_dir: Path
    project: Path
    parallel: int = 1
    env: Mapping[str, str] | None = None  # None: the process environment
    on_event: Callable[[dict[str, Any]], None] | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    run_id: str | None = None
    keep_data_plane: bool = False
    #: Keep each step's whole table in artifacts/<step>/output.parquet, not a sample.
    keep_outputs: bool = False
    #: DuckDB memory limit for the data plane ("512MB", "2GB"); None: OSIRIS_MEMORY_LIMIT
    #: or the default. Past it DuckDB spills to disk, so memory stays bounded.
    memory_limit: str | None = None
    #: How the plan was obtained ({"manifest_hash", "cached", "duration_ms", ...}),
    #: logged as the session's compilation events; None when given a build folder.
    compilation: dict[str, Any] | None = None
    #: `--select` selectors (STEP, STEP+, +STEP): run only part of the plan
    select: tuple[str, ...] = ()
    #: "duckdb" (this machine's data plane) or "spark" (runtime/spark/engine.py)
    engine: str = "duckdb"
    #: the Spark master URL (None: local[2]) and `--spark-conf` settings, for engine spark
    spark_master: str | None = None
    spark_conf: Mapping[str, str] = field(default_factory=dict)


class RunNotStarted(HintedError):
    """The run could not start: its plan or connections are unusable, or there is no room
    for its log folder. `hint` says what to do."""


@dataclass
class Collected:
    run_id: str
    status: str
    session_dir: Path
    steps: list[dict[str, Any]]
    duration_ms: int
    #: why the run failed outside any step ({"message", "hint"}): the disk refused its
    #: logs, or (E2B) the sandbox itself failed
    error: dict[str, str] | None = None


class ExecutionAdapter(Protocol):
    def prepare(self, request: RunRequest) -> Any: ...

    def execute(self, prepared: Any) -> str: ...

    def collect(self, prepared: Any) -> Collected: ...


def run_with(adapter: ExecutionAdapter, request: RunRequest) -> Any:
    """prepare → execute → collect: collect always runs once the run was prepared (it
    closes the session; the E2B adapter kills its sandbox there)."""
    prepared = adapter.prepare(request)
    try:
        adapter.execute(prepared)
    finally:
        collected = adapter.collect(prepared)
    return collected
