"""Runs a plan in a worker process of its own, streaming its events back to the caller.

Why a process: connectorx's Arrow stream holds the GIL for the whole fetch (measured:
a 10 s pause of every other thread), and a long DuckDB query or a driver bug can do the
same. In a worker, none of it can stall the caller — the MCP server's event loop keeps
answering, progress keeps flowing, and a cancel is always heard.

The worker runs exactly what `osiris run` runs (`runtime.adapters.local.run_build`).
It is started as `python -m runtime.worker --events-fd N`: the request comes as one JSON
line on its stdin, each event goes back as one JSON line on fd N, and the last line is
either the collected result or why the run could not start.

A cancel must work even while the worker's own threads cannot run (the GIL held by a
read), so it does not rely on them: the caller creates the run's cancel file, which the
runner polls, and then stops the run's queries on the servers from a connection of its
own — every statement a database reader sends carries the run's tag
(`components.sql.io.query_tag`), so `KILL QUERY` / `pg_cancel_backend` find exactly them.
The read fails at once, the runner sees the cancel file and ends the run `cancelled`,
targets untouched (writers load into staging tables or one transaction).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from compiler.manifest import ManifestStep
from runtime.adapters import Collected, RunNotStarted, RunRequest

logger = logging.getLogger("osiris.worker")

#: How often a waiting runner looks at the cancel file (a stat call: cheap).
_POLL_S = 0.05
#: How often a cancelled run's queries are stopped again until the run has ended.
_RESTOP_S = 1.0


def cancel_file(project: Path, run_id: str) -> Path:
    """Where the cancel switch of a run lives (any process of the project may set it)."""
    return project / ".osiris" / "cancel" / run_id


class CancelFile(threading.Event):
    """A cancel switch another process can set: the run's cancel file exists.

    A subclass of `threading.Event`, so the runner uses it as it uses any event.
    """

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def is_set(self) -> bool:
        return super().is_set() or self.path.exists()

    def set(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch()
        super().set()

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            super().wait(_POLL_S if left is None else min(_POLL_S, left))
        return True


class RunWorker:
    """One run in a worker process: start it, follow its events, cancel it, wait for it."""

    def __init__(self, request: RunRequest, *, detached: bool = False) -> None:
        if request.run_id is None:
            from runtime.sessions import new_run_id

            request.run_id = new_run_id()
        self.request = request
        self.run_id: str = request.run_id
        self.detached = detached
        self.cancel_path = cancel_file(request.project, self.run_id)
        self._collected: Collected | None = None
        self._failure: RunNotStarted | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._cancelled = False
        #: (steps, resolved connections) of the plan, worked out while the run starts, so
        #: that a cancel only has to connect and stop the queries
        self._servers: tuple[Sequence[ManifestStep], Any] | None = None

    # -- the caller's side ----------------------------------------------------------------

    def run(self) -> Collected:
        """Start the worker and block until it ends; events go to `request.on_event`.

        Blocking here costs nothing but a thread waiting on a pipe (the GIL is released).
        """
        read_fd, write_fd = os.pipe()
        request = self.request
        payload = {
            "build_dir": str(request.build_dir),
            "project": str(request.project),
            "parallel": request.parallel,
            "run_id": self.run_id,
            "keep_data_plane": request.keep_data_plane,
            "keep_outputs": request.keep_outputs,
            "memory_limit": request.memory_limit,
            "compilation": request.compilation,
            "detached": self.detached,
            "select": list(request.select),
            "engine": request.engine,
            "spark_master": request.spark_master,
            "spark_conf": dict(request.spark_conf),
        }
        env = dict(os.environ if request.env is None else request.env)
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "runtime.worker", "--events-fd", str(write_fd)],
                stdin=subprocess.PIPE,
                stdout=_log_stream(),  # stray prints must never reach a protocol on stdout
                stderr=_log_stream(),
                pass_fds=(write_fd,),
                env=env,
                cwd=str(request.project),
                # Its own session: a client that kills its server's process group (the
                # SDK's stdio client does, 2 s after closing stdin) must not kill the run
                # before it ends `cancelled` — and a detached run outlives its server.
                start_new_session=True,
            )
        finally:
            os.close(write_fd)
        assert self._process.stdin is not None
        self._process.stdin.write((json.dumps(payload) + "\n").encode())
        self._process.stdin.flush()
        threading.Thread(target=self._find_servers, name="osiris-run-servers", daemon=True).start()
        with os.fdopen(read_fd, "rb") as events:
            for line in events:
                self._receive(line)
        self._process.wait()
        if self._process.stdin is not None:
            _close_quietly(self._process.stdin)
        if self._collected is not None:
            return self._collected
        if self._failure is not None:
            raise self._failure
        raise RunNotStarted(
            f"the run's worker process ended without a result (exit code "
            f"{self._process.returncode})",
            "the server log has the worker's output",
        )

    def _receive(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            return
        if "event" in message and self.request.on_event is not None:
            try:
                self.request.on_event(message["event"])
            except Exception:  # a broken listener must not lose the run
                logger.exception("event listener failed")
        elif "collected" in message:
            data = message["collected"]
            self._collected = Collected(
                run_id=data["run_id"],
                status=data["status"],
                session_dir=Path(data["session_dir"]),
                steps=data["steps"],
                duration_ms=data["duration_ms"],
                error=data.get("error"),
            )
        elif "error" in message:
            self._failure = RunNotStarted(message["error"]["message"], message["error"]["hint"])

    def _find_servers(self) -> None:
        try:
            self._servers = query_servers(
                self.request.project, self.request.build_dir, self.request.env
            )
        except Exception:  # the cancel then works them out itself
            logger.debug("servers of run %s not known in advance", self.run_id, exc_info=True)

    def cancel(self) -> None:
        """Stop the run: set its cancel file, then stop its queries on the servers.

        Returns once both are done; the run itself ends moments later (wait on `run`).
        Until it has, the queries are stopped again every second: a stop that lands
        between two queries of a reader (connectorx first asks the server for the
        result's shape) would otherwise stop only the first.
        """
        first = not self._cancelled
        self._stop_queries()
        if first:
            threading.Thread(
                target=self._stop_until_ended, name="osiris-restop", daemon=True
            ).start()

    def _stop_queries(self) -> None:
        self._cancelled = True
        if self._servers is None:
            request = self.request
            request_cancel(request.project, self.run_id, request.build_dir, request.env)
            return
        CancelFile(self.cancel_path).set()
        stop_step_queries(*self._servers, self.run_id)

    def _stop_until_ended(self) -> None:
        process = self._process
        while process is not None and process.poll() is None:
            try:
                process.wait(_RESTOP_S)
            except subprocess.TimeoutExpired:
                try:
                    self._stop_queries()
                except Exception:  # best effort, as the first stop
                    logger.debug("stopping the queries of run %s again failed", self.run_id)

    def detach(self) -> None:
        """Let the run go on after this caller ends: its worker stops listening to stdin."""
        if self._process is not None and self._process.stdin is not None:
            _close_quietly(self._process.stdin)


def run_interruptible(request: RunRequest) -> Collected:
    """Run in a worker and wait for it; Ctrl-C in this process cancels the run.

    For `osiris run` in a terminal: a read that holds the GIL would keep Python from ever
    seeing the SIGINT in-process, so the run goes to a worker (its own session: the
    terminal's SIGINT reaches only this process) and this thread waits for it, able to
    hear Ctrl-C. The first Ctrl-C cancels — cancel file, then `KILL QUERY` /
    `pg_cancel_backend` — and the run ends `cancelled`, targets untouched; a second one
    stops waiting (the worker still ends the run cancelled on its own).
    """
    worker = RunWorker(request)
    outcome: dict[str, Any] = {}

    done = threading.Event()  # not Thread.join: an interrupted join can misreport is_alive

    def follow() -> None:
        try:
            outcome["collected"] = worker.run()
        except BaseException as err:  # handed to the waiting thread as it is
            outcome["error"] = err
        finally:
            done.set()

    threading.Thread(target=follow, name="osiris-run-follower", daemon=True).start()
    cancelling = False
    while not done.is_set():
        try:
            done.wait(0.1)
        except KeyboardInterrupt:
            if cancelling:
                raise  # a second Ctrl-C: stop waiting
            cancelling = True
            print("osiris: cancelling: stopping the run's queries…", file=sys.stderr, flush=True)
            worker.cancel()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["collected"]  # type: ignore[no-any-return]


def holds_the_gil(steps: Sequence[ManifestStep]) -> bool:
    """Whether a step of the plan reads a database with connectorx, whose Arrow stream holds
    the GIL for the whole fetch (so the run belongs in a worker to stay cancellable)."""
    from components.registry import default_registry

    registry = default_registry()
    for step in steps:
        spec = registry.get(step.component)
        reads = step.mode == "read" or step.component.endswith(".extractor")
        if reads and spec is not None and spec.family in _STOPPERS:
            return True
    return False


def request_cancel(
    project: Path, run_id: str, build_dir: Path, env: Any = None
) -> list[tuple[str, str]]:
    """Cancel a run from any process: its cancel file, then its tagged queries.

    Returns (step id, family) for each server whose queries of this run were stopped.
    """
    CancelFile(cancel_file(project, run_id)).set()
    return stop_queries(project, run_id, build_dir, env)


def stop_queries(
    project: Path, run_id: str, build_dir: Path, env: Any = None
) -> list[tuple[str, str]]:
    """Stop the queries of `run_id` on every database server its plan reads from."""
    servers = query_servers(project, build_dir, env)
    return [] if servers is None else stop_step_queries(*servers, run_id)


def query_servers(
    project: Path, build_dir: Path, env: Any = None
) -> tuple[Sequence[ManifestStep], Any] | None:
    """The plan's steps and their resolved connections (None: the plan cannot run), with
    the modules that stop queries already imported."""
    from runtime.adapters.local import resolve_connections
    from runtime.builds import Build, PlanError

    try:
        plan = Build.load(build_dir)
        environ = dict(os.environ if env is None else env)
        connections, _, _ = resolve_connections(plan, project, environ)
    except (PlanError, OSError, ValueError):
        return None  # the plan never got far enough to open a connection
    from components.registry import default_registry

    registry = default_registry()
    for step in plan.steps():
        spec = registry.get(step.component)
        if spec is not None and spec.family in _STOPPERS:
            _STOPPER_MODULES[spec.family]()
    return plan.steps(), connections


def stop_step_queries(
    steps: Sequence[ManifestStep], connections: Any, run_id: str
) -> list[tuple[str, str]]:
    """Stop the queries of `run_id` on the servers of these steps' connections."""
    from components.registry import default_registry
    from components.sql.io import run_tag

    registry = default_registry()
    tag = run_tag(run_id)
    done: set[tuple[str, ...]] = set()
    stopped = []
    for step in steps:
        spec = registry.get(step.component)
        fields = connections.get(step.id)
        family = spec.family if spec is not None else None
        stop = _STOPPERS.get(family or "")
        if stop is None or fields is None:
            continue
        key = (str(family), *(str(fields.get(k)) for k in ("host", "port", "user", "database")))
        if key in done:
            continue
        done.add(key)
        try:
            stop(fields, family or "", tag)
            stopped.append((str(step.id), str(family)))
        except Exception:  # best effort: the cancel file still stops the run
            logger.warning("could not stop the queries of run %s on step %s", run_id, step.id)
    return stopped


def _stop_mysql(fields: dict[str, Any], family: str, tag: str) -> None:
    from components.mysql.io import MySQLServer, kill_tagged_query

    kill_tagged_query(MySQLServer(fields), tag)


def _stop_postgres(fields: dict[str, Any], family: str, tag: str) -> None:
    from components.postgres.io import PostgresServer, cancel_tagged_query, supabase_fields

    server = PostgresServer(supabase_fields(fields) if family == "supabase" else fields)
    cancel_tagged_query(server, tag)


def _import_mysql() -> None:
    import components.mysql.io  # noqa: F401


def _import_postgres() -> None:
    import components.postgres.io  # noqa: F401


_STOPPER_MODULES: dict[str, Callable[[], None]] = {
    "mysql": _import_mysql,
    "postgres": _import_postgres,
    "supabase": _import_postgres,
}
_STOPPERS: dict[str, Callable[[dict[str, Any], str, str], None]] = {
    "mysql": _stop_mysql,
    "postgres": _stop_postgres,
    "supabase": _stop_postgres,
}


def _log_stream() -> Any:
    """The worker's stdout and stderr: the caller's stderr (the server log), else nothing."""
    try:
        sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        return subprocess.DEVNULL
    return sys.stderr


def _close_quietly(stream: IO[bytes]) -> None:
    with contextlib.suppress(OSError):  # the worker already went away
        stream.close()


# -- the worker's side --------------------------------------------------------------------


def _send(out: IO[str], lock: threading.Lock, message: dict[str, Any]) -> None:
    """One line to the caller; a caller that went away (a detached run) is not an error."""
    line = json.dumps(message, ensure_ascii=False, default=str) + "\n"
    with lock:
        try:
            out.write(line)
            out.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass


def _watch_stdin(cancel: CancelFile, detached: bool, payload: dict[str, Any]) -> None:
    """On end of input — the caller died without cancelling — cancel the run unless it is
    detached: the cancel file, and the run's queries on the servers (as the caller would)."""
    for _ in sys.stdin:
        pass
    if not detached and not cancel.is_set():
        cancel.set()
        stop_queries(Path(payload["project"]), payload["run_id"], Path(payload["build_dir"]))


def _on_spark(request: RunRequest) -> Collected:
    from runtime.spark.engine import SparkOptions, run_build_on_spark

    options = SparkOptions(request.spark_master, request.spark_conf)
    return run_build_on_spark(request, options)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runtime.worker")
    parser.add_argument("--events-fd", type=int, required=True)
    args = parser.parse_args(argv)
    out = os.fdopen(args.events_fd, "w", encoding="utf-8")
    lock = threading.Lock()
    payload = json.loads(sys.stdin.readline())
    project = Path(payload["project"])
    cancel = CancelFile(cancel_file(project, payload["run_id"]))
    watcher = threading.Thread(
        target=_watch_stdin, args=(cancel, bool(payload["detached"]), payload), daemon=True
    )
    watcher.start()
    from runtime.adapters.local import run_build

    request = RunRequest(
        build_dir=Path(payload["build_dir"]),
        project=project,
        parallel=int(payload["parallel"]),
        on_event=lambda event: _send(out, lock, {"event": event}),
        cancel=cancel,
        run_id=payload["run_id"],
        keep_data_plane=bool(payload["keep_data_plane"]),
        keep_outputs=bool(payload.get("keep_outputs")),
        memory_limit=payload["memory_limit"],
        compilation=payload["compilation"],
        select=tuple(payload.get("select") or ()),
        engine=str(payload.get("engine") or "duckdb"),
        spark_master=payload.get("spark_master"),
        spark_conf=dict(payload.get("spark_conf") or {}),
    )
    try:
        collected = run_build(request) if request.engine != "spark" else _on_spark(request)
    except Exception as err:  # the run never started: say why, as the caller would
        hint = getattr(err, "hint", None)
        _send(out, lock, {"error": {"message": str(err) or type(err).__name__, "hint": hint}})
        return 1
    finally:
        cancel.path.unlink(missing_ok=True)
    result = {
        "run_id": collected.run_id,
        "status": collected.status,
        "session_dir": str(collected.session_dir),
        "steps": collected.steps,
        "duration_ms": collected.duration_ms,
        **({"error": collected.error} if collected.error else {}),
    }
    _send(out, lock, {"collected": result})
    out.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
