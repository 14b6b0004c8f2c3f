"""Log retention: which run folders under `run_logs/` to delete, and deleting them safely.

A run folder goes when it is older than `days`, then, oldest first, while the folders
together exceed `max_bytes`. Never deleted: a running run (its process is alive), a folder
that is not a run's (no readable `status.json`), anything reached through a symlink, and
anything outside `run_logs/`. Build folders are never touched (they are the plans).

>>> import json, tempfile
>>> project = Path(tempfile.mkdtemp())
>>> old = project / "run_logs" / "orders" / "run_1"
>>> old.mkdir(parents=True)
>>> _ = (old / "status.json").write_text(json.dumps(
...     {"status": "success", "finished_at": "2026-01-01T00:00:00.000Z"}))
>>> now = dt.datetime(2026, 1, 31, tzinfo=dt.UTC)
>>> plan = plan_gc(project, days=7, max_bytes=None, now=now)
>>> [(c.run_id, c.reason) for c in plan.delete]
[('run_1', 'older than 7 days')]
>>> apply_gc(project, plan).deleted, old.exists()
(1, False)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.sessions import repair_if_dead, runs_root


@dataclass(frozen=True)
class RunFolder:
    pipeline: str
    run_id: str
    path: Path
    size_bytes: int
    #: when the run finished (else started, else when its status was last written)
    ended: dt.datetime
    status: str
    reason: str = ""

    def to_dict(self, project: Path) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "run_id": self.run_id,
            "path": str(self.path.relative_to(project)),
            "size_bytes": self.size_bytes,
            "ended": self.ended.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "status": self.status,
            **({"reason": self.reason} if self.reason else {}),
        }


@dataclass
class GcPlan:
    delete: list[RunFolder] = field(default_factory=list)
    keep: list[RunFolder] = field(default_factory=list)
    #: folders left alone whatever the limits, and why (running, not a run, symlink)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def bytes_to_free(self) -> int:
        return sum(run.size_bytes for run in self.delete)


@dataclass
class GcResult:
    deleted: int = 0
    freed_bytes: int = 0
    errors: list[str] = field(default_factory=list)


def plan_gc(
    project: Path, days: float | None, max_bytes: int | None, now: dt.datetime | None = None
) -> GcPlan:
    """Which run folders to delete for the limits (None: no such limit); nothing is deleted."""
    now = now or dt.datetime.now(dt.UTC)
    root = runs_root(project)
    plan = GcPlan()
    if not root.is_dir() or root.is_symlink():
        return plan
    runs: list[RunFolder] = []
    for pipeline_dir in sorted(root.iterdir()):
        where = pipeline_dir.name
        if pipeline_dir.is_symlink():
            plan.skipped.append((where, "a symlink: never followed"))
            continue
        if not pipeline_dir.is_dir():
            continue
        for run_dir in sorted(pipeline_dir.iterdir()):
            name = f"{where}/{run_dir.name}"
            if run_dir.is_symlink():
                plan.skipped.append((name, "a symlink: never followed"))
            elif run_dir.is_dir():
                found = _run_folder(run_dir, now)
                if isinstance(found, str):
                    plan.skipped.append((name, found))
                else:
                    runs.append(found)
    runs.sort(key=lambda run: (run.ended, run.pipeline, run.run_id))
    cutoff = now - dt.timedelta(days=days) if days is not None else None
    remaining = sum(run.size_bytes for run in runs)
    for run in runs:
        reason = ""
        if cutoff is not None and run.ended < cutoff:
            reason = f"older than {days:g} days"
        elif max_bytes is not None and remaining > max_bytes:
            reason = f"run_logs over {max_bytes / 1024**3:g} GB"
        if reason:
            plan.delete.append(_with_reason(run, reason))
            remaining -= run.size_bytes
        else:
            plan.keep.append(run)
    return plan


def apply_gc(project: Path, plan: GcPlan) -> GcResult:
    """Delete the planned folders; each is checked again (inside run_logs, not running)."""
    root = runs_root(project).resolve()
    result = GcResult()
    for run in plan.delete:
        target = run.path
        try:
            inside = target.resolve().is_relative_to(root) and not target.is_symlink()
        except OSError:
            inside = False
        if not inside:
            result.errors.append(f"{run.pipeline}/{run.run_id}: not inside {root}, left alone")
            continue
        again = _run_folder(target, dt.datetime.now(dt.UTC))
        if isinstance(again, str):  # started again or changed since it was planned
            result.errors.append(f"{run.pipeline}/{run.run_id}: {again}, left alone")
            continue
        try:
            shutil.rmtree(target)
        except OSError as err:
            result.errors.append(f"{run.pipeline}/{run.run_id}: {err.strerror or err}")
            continue
        result.deleted += 1
        result.freed_bytes += run.size_bytes
        with contextlib.suppress(OSError):  # the pipeline's folder, once its last run is gone
            target.parent.rmdir()
    return result


def _run_folder(run_dir: Path, now: dt.datetime) -> RunFolder | str:
    """The run in `run_dir`, or why it must be left alone."""
    status_path = run_dir / "status.json"
    try:
        status = json.loads(status_path.read_text("utf-8"))
        if not isinstance(status, dict):
            raise ValueError("not an object")
        status = repair_if_dead(run_dir, status)
        stamp = status_path.stat().st_mtime
    except (OSError, ValueError):
        return "no readable status.json: not a run folder"
    if status.get("status") == "running":
        return "running"
    ended = _timestamp(status.get("finished_at")) or _timestamp(status.get("started_at"))
    return RunFolder(
        pipeline=run_dir.parent.name,
        run_id=run_dir.name,
        path=run_dir,
        size_bytes=_size(run_dir),
        ended=ended or dt.datetime.fromtimestamp(stamp, dt.UTC),
        status=str(status.get("status")),
    )


def _with_reason(run: RunFolder, reason: str) -> RunFolder:
    return RunFolder(
        run.pipeline, run.run_id, run.path, run.size_bytes, run.ended, run.status, reason
    )


def _timestamp(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        stamp = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)


def _size(folder: Path) -> int:
    """Bytes of the files under `folder`, symlinks counted as links (never followed)."""
    total = 0
    for base, _dirs, files in os.walk(folder, followlinks=False):
        for name in files:
            try:
                total += os.lstat(os.path.join(base, name)).st_size
            except OSError:
                continue
    return total


def retention_days(project: Path, default: float) -> float | None:
    """`maintenance clean`'s limit: 0.5.7's `osiris.yaml` filesystem.retention.run_logs_days
    when the project has one (0 turns it off, as there), else `default`."""
    from components.common import strict_yaml

    try:
        data = strict_yaml.load((project / "osiris.yaml").read_text("utf-8"))
        days = data["filesystem"]["retention"]["run_logs_days"]
    except (OSError, ValueError, TypeError, KeyError):  # a YamlError is a ValueError
        return default
    if isinstance(days, bool) or not isinstance(days, int | float) or days < 0:
        return default
    return float(days) or None
