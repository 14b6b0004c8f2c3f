"""The run's tables on Spark: what the run-scoped DuckDB is to a local run.

Each step's output is a DataFrame kept under the name the runner gives it (the step id,
quoted); `put` persists it (memory, then disk) and counts it, so a source is read once
however many steps read its table, and every step has its row count as a local run has.
The runner gives each running step a cursor of its own (`SparkPlane.cursor`, made in the
step's thread): its Spark jobs run in a job group of their own, which a cancel or a
timeout (`interrupt`) stops.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

from components.protocol import DriverError

_groups = itertools.count(1)


class SparkPlane:
    """The DataFrames of one run, by table name."""

    def __init__(self, spark: Any, run_id: str) -> None:
        self.spark = spark
        self.run_id = run_id
        self.tables: dict[str, Any] = {}
        self._lock = threading.Lock()

    def cursor(self) -> SparkCursor:
        return SparkCursor(self)

    def close(self) -> None:
        """Free every cached table (the session itself may serve the next run)."""
        with self._lock:
            tables, self.tables = self.tables, {}
        for frame in tables.values():
            try:
                frame.unpersist(blocking=False)
            except Exception:  # the session already stopped: nothing is cached any more
                continue


class SparkCursor:
    """One running step's view of the plane; its jobs form one cancellable group."""

    def __init__(self, plane: SparkPlane) -> None:
        self.plane = plane
        self.spark = plane.spark
        self.group = f"osiris-{plane.run_id}-{next(_groups)}"
        # a job group belongs to the calling thread: the runner makes the cursor in the
        # thread that then runs the step's driver
        self.spark.sparkContext.setJobGroup(self.group, self.group, interruptOnCancel=True)

    def table(self, name: str) -> Any:
        """The DataFrame of an upstream table; a missing one is the runner's bug."""
        with self.plane._lock:
            frame = self.plane.tables.get(name)
        if frame is None:
            raise DriverError(f"no table {name} in this run", category="internal")
        return frame

    def put(self, name: str, frame: Any) -> int:
        """Keep `frame` as table `name`, materialized (read once); its row count."""
        from pyspark import StorageLevel

        frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
        rows = int(frame.count())
        with self.plane._lock:
            self.plane.tables[name] = frame
        return rows

    def drop_table(self, name: str) -> None:
        """A failed step leaves no table (the runner calls this)."""
        with self.plane._lock:
            frame = self.plane.tables.pop(name, None)
        if frame is not None:
            frame.unpersist(blocking=False)

    def interrupt(self) -> None:
        """Stop this step's running Spark jobs (a cancel, a timeout)."""
        try:
            self.spark.sparkContext.cancelJobGroup(self.group)
        except Exception:  # the session is going away: its jobs with it
            return

    def close(self) -> None:
        try:
            self.spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)
        except Exception:
            return
