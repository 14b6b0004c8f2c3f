"""Session logs: one folder per run with events, metrics, status, the plan and artifacts.

    run_logs/<pipeline>/<run_id>/
      events.jsonl  metrics.jsonl  status.json  manifest.yaml  cfg/  artifacts/<step_id>/

Every line goes through the run's redactor. `status.json` is rewritten atomically at
each change, so it is right whatever happens to the process.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from compiler import canonical
from compiler.model import pipeline_slug
from components.common.atomic import write_atomic
from runtime.redaction import Redactor

EventSink = Callable[[dict[str, Any]], None]

#: A file the session keeps until it ends: freed when the disk fills up, it leaves room
#: for the final status.json, so a run on a full disk still ends `failed`, not `running`.
RESERVE = ".reserve"
RESERVE_BYTES = 64 * 1024


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_run_id() -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"run_{stamp}_{secrets.token_hex(3)}"


def runs_root(project: Path) -> Path:
    return project / "run_logs"


class Session:
    """The log folder of one run. Thread-safe: steps running in parallel share it."""

    def __init__(
        self,
        project: Path,
        pipeline: str,
        run_id: str,
        redactor: Redactor,
        on_event: EventSink | None = None,
    ) -> None:
        self.run_id = run_id
        self.pipeline = pipeline
        self.dir = runs_root(project) / pipeline_slug(pipeline) / run_id
        self.dir.mkdir(parents=True, exist_ok=False)
        (self.dir / "artifacts").mkdir()
        self.redactor = redactor
        self.on_event = on_event
        self._lock = threading.Lock()
        self._events: TextIO | None = self._open("events.jsonl")
        self._metrics: TextIO | None = self._open("metrics.jsonl")
        #: the first log write the disk refused ("cannot write events.jsonl: No space left
        #: on device"); the run then ends `failed` with it, instead of a traceback
        self.disk_error: str | None = None
        #: the last status written (kept also when the disk refused the file)
        self.last_status: dict[str, Any] = {}
        self._reserve = self.dir / RESERVE
        with contextlib.suppress(OSError):  # best effort: a disk already full has no room
            self._reserve.write_bytes(b"\0" * RESERVE_BYTES)

    def _open(self, name: str) -> TextIO:
        return (self.dir / name).open("a", encoding="utf-8", buffering=1)

    def _refused(self, name: str, err: OSError) -> None:
        """A log write failed (disk full, file too large): remember the first, and free the
        reserve so that the final status.json still fits."""
        if self.disk_error is None:
            self.disk_error = f"cannot write {name} in {self.dir}: {err.strerror or err}"
        with contextlib.suppress(OSError):
            self._reserve.unlink(missing_ok=True)

    def copy_plan(self, build_dir: Path) -> None:
        shutil.copy2(build_dir / "manifest.yaml", self.dir / "manifest.yaml")
        for name in ("meta.json", "lineage.json"):
            if (build_dir / name).exists():
                shutil.copy2(build_dir / name, self.dir / name)
        shutil.copytree(build_dir / "cfg", self.dir / "cfg")

    def artifacts_dir(self, step_id: str) -> Path:
        path = self.dir / "artifacts" / step_id
        path.mkdir(parents=True, exist_ok=True)
        return path

    def event(self, event_type: str, step_id: str | None = None, **data: Any) -> None:
        record: dict[str, Any] = {
            "timestamp": utc_now(),
            "event_type": event_type,
            "session_id": self.run_id,
        }
        if step_id is not None:
            record["step_id"] = step_id
        record["data"] = data
        self.append_event(record)

    def append_event(self, record: dict[str, Any]) -> None:
        """Log a whole event record as it is, e.g. one streamed from a sandboxed run."""
        line = self.redactor.json_line(record)
        with self._lock:
            self._events = self._append(self._events, "events.jsonl", line)
        if self.on_event is not None:
            self.on_event(json.loads(line))

    def _append(self, stream: TextIO | None, name: str, line: str) -> TextIO | None:
        """Append a line; a stream the disk refused is closed and written no more."""
        if stream is None:
            return None
        try:
            stream.write(line + "\n")
            return stream
        except OSError as err:
            self._refused(name, err)
            with contextlib.suppress(OSError):
                stream.close()
            return None

    def metric(
        self,
        name: str,
        value: float,
        unit: str | None = None,
        step_id: str | None = None,
        component: str | None = None,
    ) -> None:
        record: dict[str, Any] = {"timestamp": utc_now(), "metric": name, "value": value}
        if unit is not None:
            record["unit"] = unit
        if step_id is not None:
            record["step_id"] = step_id
        record["tags"] = {"component": component} if component else {}
        self.append_metric(record)

    def append_metric(self, record: dict[str, Any]) -> None:
        """Log a whole metric record as it is, e.g. one collected from a sandboxed run."""
        line = self.redactor.json_line(record)
        with self._lock:
            self._metrics = self._append(self._metrics, "metrics.jsonl", line)

    def write_status(self, status: dict[str, Any]) -> None:
        data = self.redactor.data(status)
        text = canonical.json_file(data)
        with self._lock:
            self.last_status = data
            for _ in range(2):  # once more after the reserve is freed
                try:
                    write_atomic(self.dir / "status.json", text)
                    return
                except OSError as err:
                    self._refused("status.json", err)

    def not_started(self, message: str, hint: str, manifest_hash: str) -> None:
        """End a run that could not start: a failed status.json if there is any room."""
        with contextlib.suppress(OSError):
            self._reserve.unlink(missing_ok=True)
        self.write_status(
            {
                "session_id": self.run_id,
                "pipeline": self.pipeline,
                "manifest_hash": manifest_hash,
                "status": "failed",
                "started_at": utc_now(),
                "finished_at": utc_now(),
                "duration_ms": 0,
                "steps": [],
                "error": message,
                "hint": hint,
            }
        )
        self.close()

    def close(self) -> None:
        with self._lock:
            for stream in (self._events, self._metrics):
                if stream is not None:
                    with contextlib.suppress(OSError):  # a flush the full disk refuses
                        stream.close()
            self._events = self._metrics = None
        with contextlib.suppress(OSError):
            self._reserve.unlink(missing_ok=True)


def record_compile_failure(
    project: Path, pipeline: str, source: str, diagnostics: list[dict[str, Any]]
) -> Path:
    """A session for a run that never started because its OML did not compile.

    `osiris logs list` then shows the attempt, and its events say why
    (`compilation.start`, `compilation.error` with the diagnostics, already scrubbed of
    secrets by the compiler).
    """
    session = Session(project, pipeline, new_run_id(), Redactor())
    errors = [d for d in diagnostics if d.get("severity") == "error"]
    now = utc_now()
    session.event("compilation.start", pipeline=pipeline, source=source)
    session.event("compilation.error", source=source, errors=len(errors), diagnostics=errors[:20])
    session.write_status(
        {
            "session_id": session.run_id,
            "pipeline": pipeline,
            "manifest_hash": None,
            "status": "failed",
            "error": f"compilation failed with {len(errors)} error(s): see events.jsonl",
            "started_at": now,
            "finished_at": now,
            "duration_ms": 0,
            "steps": [],
        }
    )
    session.close()
    return session.dir


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def repair_if_dead(session_dir: Path, status: dict[str, Any]) -> dict[str, Any]:
    """A 'running' status whose process is gone is rewritten as failed, and says why.

    A SIGKILL or a power cut leaves no chance to write the final status; the next
    reader makes status.json tell the truth, and removes the dead run's data plane and
    what its DuckDB spilled to disk (as large as the data the run held).
    """
    pid = status.get("pid")
    if status.get("status") != "running" or not isinstance(pid, int) or _alive(pid):
        return status
    reason = "the run's process ended without finishing (killed or crashed)"
    steps = []
    for step in status.get("steps", []):
        if step.get("status") in ("running", "pending"):
            step = {**step, "status": "failed" if step["status"] == "running" else "cancelled"}
            if step["status"] == "failed":
                step.setdefault("error", reason)
                step.setdefault("category", "internal")
        steps.append(step)
    repaired = {k: v for k, v in status.items() if k != "pid"}
    repaired.update(status="failed", steps=steps, error=reason, finished_at=None)
    write_atomic(session_dir / "status.json", canonical.json_file(repaired))
    remove_quietly(session_dir / "data_plane.duckdb")
    shutil.rmtree(session_dir / ".spill", ignore_errors=True)
    return repaired


def read_status(session_dir: Path) -> dict[str, Any]:
    """A run's status.json, repaired first if its process died mid-run."""
    status: dict[str, Any] = json.loads((session_dir / "status.json").read_text("utf-8"))
    return repair_if_dead(session_dir, status)


def list_runs(project: Path, pipeline: str | None = None) -> list[dict[str, Any]]:
    """Every run's status, newest first (runs whose process died are reported failed)."""
    runs: list[dict[str, Any]] = []
    root = runs_root(project)
    if not root.is_dir():
        return runs
    for status_path in root.glob("*/*/status.json"):
        if pipeline and status_path.parent.parent.name != pipeline_slug(pipeline):
            continue
        try:
            status = json.loads(status_path.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        status = repair_if_dead(status_path.parent, status)
        status["session_dir"] = str(status_path.parent)
        runs.append(status)
    runs.sort(key=lambda s: (s.get("started_at") or "", s.get("session_id") or ""), reverse=True)
    return runs


def find_run(project: Path, run_id: str) -> Path | None:
    """The session folder of a run id, or None. Refuses anything but a plain run id."""
    if not run_id or "/" in run_id or "\\" in run_id or run_id.startswith("."):
        return None
    if any(char in run_id for char in "*?[]"):  # a glob pattern would name some other run
        return None
    root = runs_root(project)
    if not root.is_dir():
        return None
    for candidate in root.glob(f"*/{run_id}"):
        if candidate.is_dir() and (candidate / "status.json").exists():
            return candidate
    return None


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if line:
                try:
                    yield json.loads(line)
                except ValueError:
                    continue


def bundle(session_dir: Path) -> str:
    """One text file an AI (or a person) can read to understand a run."""
    out: list[str] = []
    status = read_status(session_dir)
    out.append(f"# Osiris run {status.get('session_id')} — {status.get('pipeline')}")
    out.append(
        f"status: {status.get('status')}   started: {status.get('started_at')}   "
        f"finished: {status.get('finished_at')}   duration_ms: {status.get('duration_ms')}"
    )
    out.append(f"manifest_hash: {status.get('manifest_hash')}")
    out.append("")
    out.append("## Steps")
    for step in status.get("steps", []):
        line = (
            f"- {step.get('id')}: {step.get('status')}  rows_read={step.get('rows_read')} "
            f"rows_written={step.get('rows_written')} duration_ms={step.get('duration_ms')}"
        )
        if step.get("error"):
            line += f"\n    error: {step['error']}"
        out.append(line)
    out.append("")
    out.append("## Manifest (the compiled plan, each step annotated with what happened to it)")
    manifest = session_dir / "manifest.yaml"
    if manifest.exists():
        outcomes = {step.get("id"): step for step in status.get("steps", [])}
        out.append("```yaml")
        for line in manifest.read_text("utf-8").rstrip().splitlines():
            out.append(line + _step_comment(line, outcomes))
        out.append("```")
    out.append("")
    out.append("## Resolved configs (connections as @references; secrets never stored)")
    for cfg in sorted((session_dir / "cfg").glob("*.json")):
        out.append(f"### {cfg.stem}")
        out.append("```json")
        out.append(cfg.read_text("utf-8").rstrip())
        out.append("```")
    out.append("")
    out.append("## Event timeline")
    for event in read_jsonl(session_dir / "events.jsonl"):
        step = f" [{event['step_id']}]" if event.get("step_id") else ""
        data = json.dumps(event.get("data", {}), ensure_ascii=False, sort_keys=True)
        out.append(f"{event.get('timestamp')} {event.get('event_type')}{step} {data}")
    out.append("")
    out.append("## Metrics summary")
    summary: dict[tuple[str, str], float] = {}
    units: dict[str, str] = {}
    for metric in read_jsonl(session_dir / "metrics.jsonl"):
        key = (str(metric.get("step_id") or "-"), str(metric.get("metric")))
        value = metric.get("value")
        if isinstance(value, int | float):
            summary[key] = (
                max(summary.get(key, value), value)
                if "memory" in key[1]
                else summary.get(key, 0) + value
            )
        if metric.get("unit"):
            units[str(metric.get("metric"))] = str(metric["unit"])
    for (step_id, name), value in sorted(summary.items()):
        unit = f" {units[name]}" if name in units else ""
        out.append(f"- {step_id}: {name} = {value:g}{unit}")
    out.append("")
    out.append("## Artifacts")
    artifacts = session_dir / "artifacts"
    files = sorted(p for p in artifacts.rglob("*") if p.is_file()) if artifacts.exists() else []
    if not files:
        out.append("(none)")
    for path in files:
        out.append(f"- {path.relative_to(session_dir)} ({path.stat().st_size} bytes)")
    return "\n".join(out) + "\n"


def _step_comment(line: str, outcomes: dict[str, dict[str, Any]]) -> str:
    """`  # success: 60 rows read, 60 written, 7 ms` after a manifest's `- id: step` line."""
    if not line.startswith("- id: "):
        return ""
    step = outcomes.get(line[len("- id: ") :].strip())
    if step is None:
        return ""
    comment = (
        f"  # {step.get('status')}: {step.get('rows_read', 0):,} rows read, "
        f"{step.get('rows_written', 0):,} written, {step.get('duration_ms', 0)} ms"
    )
    if step.get("reason"):
        comment += f" ({step['reason']})"
    if step.get("error"):
        comment += f" — {step.get('category')} error, see Steps"
    return comment


def peak_rss_mb() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(usage / 1024, 1)  # Linux reports KiB


def monotonic_ms() -> float:
    return time.monotonic() * 1000


def remove_quietly(path: Path) -> None:
    for suffix in ("", ".wal"):
        target = Path(str(path) + suffix)
        if target.exists():
            os.unlink(target)
