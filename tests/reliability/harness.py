"""Running `osiris run` as a user does, in its own process, and checking what a fault left.

Every fault test ends with the same four questions, answered here once: is the target
exactly as before or exactly as after, does status.json say what happened (the failed
step and a category), does a re-run succeed, and is anything left behind — staging
tables on the server, temporary files on disk.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.sessions import read_status

#: Longest a single run may take in these tests before it counts as hung.
RUN_TIMEOUT_S = 180


@dataclass
class Project:
    """A project folder, and the private temporary folder its runs write their scratch to."""

    root: Path
    tmp: Path

    @classmethod
    def make(
        cls,
        base: Path,
        mysql: Mapping[str, Any] | None = None,
        postgres: Mapping[str, Any] | None = None,
    ) -> Project:
        root, tmp = base / "project", base / "scratch"
        root.mkdir(parents=True)
        tmp.mkdir()
        lines = ["connections:", "  filesystem:", "    local: {default: true, base_dir: .}"]
        if mysql is not None:
            lines += ["  mysql:", "    db:", "      default: true"]
            lines += [f"      {k}: {json.dumps(v)}" for k, v in mysql.items() if v != ""]
        if postgres is not None:
            lines += ["  postgres:", "    db:", "      default: true"]
            lines += [f"      {k}: {json.dumps(v)}" for k, v in postgres.items() if v != ""]
        (root / "osiris_connections.yaml").write_text("\n".join(lines) + "\n", "utf-8")
        return cls(root, tmp)

    def pipeline(self, name: str, text: str) -> Path:
        path = self.root / f"{name}.yaml"
        path.write_text(text, "utf-8")
        return path

    def start(
        self, pipeline: Path, *extra: str, file_size_limit: int | None = None, **env: str
    ) -> subprocess.Popen[str]:
        """`osiris run PIPELINE --json` in its own process (scratch files in `self.tmp`),
        with `file_size_limit`, unable to write a file past that many bytes (EFBIG)."""
        return subprocess.Popen(
            [sys.executable, "-m", "osiris_mcp.cli", "run", pipeline.name, "--json", *extra],
            cwd=self.root,
            env={**os.environ, "TMPDIR": str(self.tmp), "OSIRIS_HOME": str(self.root), **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=None if file_size_limit is None else _file_size_limit(file_size_limit),
        )

    def run(
        self, pipeline: Path, *extra: str, file_size_limit: int | None = None, **env: str
    ) -> dict[str, Any]:
        """Run to the end; the `--json` result."""
        return finish(self.start(pipeline, *extra, file_size_limit=file_size_limit, **env))

    def sessions(self) -> list[Path]:
        return sorted(self.root.glob("run_logs/*/*/"))

    def wait_for(
        self, event_type: str, step: str | None = None, timeout: float = 90
    ) -> tuple[Path, dict[str, Any]]:
        """The session folder and the first event of this type (and step) of any run."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for session in self.sessions():
                for event in events(session):
                    if event["event_type"] == event_type and (
                        step is None or event.get("step_id") == step
                    ):
                        return session, event
            time.sleep(0.01)
        raise AssertionError(f"no {event_type} event for step {step} within {timeout} s")

    def leftover_files(self) -> list[str]:
        """Scratch a run should not leave: temporary files beside outputs, bulk-load
        folders, data planes and spill folders of finished or dead runs."""
        found = [str(p.relative_to(self.tmp)) for p in self.tmp.iterdir()]
        for path in self.root.rglob("*"):
            relative = str(path.relative_to(self.root))
            if path.name.endswith(".tmp") or path.name in ("data_plane.duckdb", ".spill"):
                found.append(relative)
        return sorted(found)


def numbered_rows_csv(path: Path, rows: int) -> None:
    """A CSV of `rows` rows: `id` 1..rows and `h`, the md5 of id - 1 (32 characters)."""
    import duckdb

    duckdb.sql(
        f"COPY (SELECT range + 1 AS id, md5(range::VARCHAR) AS h FROM range({rows})) "
        f"TO '{path}' (HEADER)"
    )


def _file_size_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:  # in the child, before exec: both survive it
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write fails (EFBIG), not the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def finish(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = process.communicate(timeout=RUN_TIMEOUT_S)
    try:
        result: dict[str, Any] = json.loads(out)
    except ValueError:
        raise AssertionError(
            f"osiris run printed no JSON (exit {process.returncode}): {err}"
        ) from None
    assert process.returncode == (0 if result.get("status") == "success" else 1), err
    return result


def events(session: Path) -> Iterator[dict[str, Any]]:
    path = session / "events.jsonl"
    if not path.exists():
        return
    for line in path.read_text("utf-8").splitlines():
        if line.endswith("}"):  # a line still being written is read next time
            yield json.loads(line)


def status_of(session: Path) -> dict[str, Any]:
    """status.json as `osiris logs` reads it (a dead run's is repaired first)."""
    return read_status(session)


def assert_failed_at(result: Mapping[str, Any], step: str, *categories: str) -> dict[str, Any]:
    """The run failed, at `step`, with one of `categories`; status.json says the same."""
    assert result["status"] == "failed", result
    session = Path(result["session_dir"])
    status = status_of(session)
    assert status["status"] == "failed" and status["finished_at"], status
    failed = [s for s in status["steps"] if s["status"] == "failed"]
    assert [s["id"] for s in failed] == [step], status["steps"]
    assert failed[0]["category"] in categories, failed[0]
    assert failed[0]["error"], failed[0]
    others = [s["status"] for s in status["steps"] if s["id"] != step]
    assert set(others) <= {"success", "skipped"}, status["steps"]
    kinds = [e["event_type"] for e in events(session)]
    assert kinds[-1] == "execution.error" and "execution.step.error" in kinds, kinds
    return failed[0]


def assert_succeeded(result: Mapping[str, Any]) -> dict[str, Any]:
    assert result["status"] == "success", json.dumps(result, indent=1)
    status = status_of(Path(result["session_dir"]))
    assert status["status"] == "success" and {s["status"] for s in status["steps"]} == {"success"}
    return status


def assert_complete_events(session: Path, steps: list[str]) -> None:
    """Every event of a successful run is there, in order, for this session only."""
    records = list(events(session))
    assert {r["session_id"] for r in records} == {session.name}, "events of another run"
    kinds = [r["event_type"] for r in records]
    assert kinds[:2] == ["compilation.start", "compilation.complete"], kinds
    assert kinds[-1] == "execution.complete", kinds
    assert kinds.count("execution.start") == 1, kinds
    for step in steps:
        mine = [
            r["event_type"]
            for r in records
            if r.get("step_id") == step and r["event_type"].startswith("execution.step.")
        ]
        assert mine[0] == "execution.step.start" and mine[-1] == "execution.step.complete", (
            step,
            mine,
        )


@dataclass
class Tmpfs:
    """A tiny tmpfs: a disk that fills up."""

    path: Path

    def mount(self, size: str) -> str | None:
        """Mount it; why it cannot be (None: mounted)."""
        self.path.mkdir(exist_ok=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0777", "tmpfs", str(self.path)],
            capture_output=True,
            text=True,
        )
        return None if done.returncode == 0 else done.stderr.strip() or f"exit {done.returncode}"

    def grow(self, size: str) -> None:
        """More room, as when someone cleaned the disk up."""
        subprocess.run(["mount", "-o", f"remount,size={size}", str(self.path)], check=True)

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True)


# ------------------------------------------------------------------------------- servers


def mysql_rows(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    with conn.cursor() as cursor:
        cursor.execute(sql)
        return list(cursor.fetchall())


def mysql_staging_tables(conn: Any, database: str) -> list[str]:
    """Tables of `database` named like the MySQL writer's staging tables."""
    rows = mysql_rows(
        conn,
        "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = "
        f"'{database}' AND TABLE_NAME LIKE '\\_osiris\\_%'",
    )
    return sorted(str(name) for (name,) in rows)


def postgres_staging_tables(conn: Any, schema: str, *, temporary: bool = True) -> list[str]:
    """Tables in `schema` named like staging tables, and with `temporary` any session's
    temporary ones (only where no one else uses the server)."""
    rows = conn.execute(
        "SELECT n.nspname || '.' || c.relname FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relname LIKE '\\_osiris\\_%%' AND c.relkind = 'r' "
        "AND (n.nspname = %s OR (%s AND n.nspname LIKE 'pg\\_temp%%'))",
        (schema, temporary),
    ).fetchall()
    return sorted(name for (name,) in rows)
