"""The local adapter: runs a plan in this process, on a DuckDB file in the session folder."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.adapters import Collected, RunNotStarted, RunRequest, run_with
from runtime.builds import Build, PlanError
from runtime.redaction import Redactor
from runtime.runner import Runner, RunOutcome
from runtime.sessions import Session, new_run_id, remove_quietly

_NO_ROOM = "free space on that disk (or move the project's run_logs), then run again"


def load_current(build_dir: Path) -> Build:
    """The build in `build_dir`, verified and compiled by the toolchain installed now."""
    return Build.load(build_dir).current()


def resolve_connections(
    plan: Build, project: Path, env: Any
) -> tuple[dict[str, dict[str, Any] | None], set[str], list[tuple[str, str, str]]]:
    """Each step's resolved connection fields, every secret value, and (step, family, alias)."""
    from components.registry import default_registry

    registry = default_registry()
    connections: dict[str, dict[str, Any] | None] = {}
    secrets: set[str] = set()
    resolved_names: list[tuple[str, str, str]] = []
    file: Any = None
    for step in plan.steps():
        spec = registry.get(step.component)
        family = spec.family if spec else None
        config = plan.configs[step.id]
        if spec is None or family is None or (family == "duckdb" and "connection" not in config):
            connections[step.id] = None
            continue
        inline = {f.field: config[f.field] for f in spec.connection_fields if f.field in config}
        ref = config.get("connection")
        if file is None:
            file = _connections_file(project, env)
        try:
            resolved = file.resolve(ref, family, inline or None)
        except Exception as err:
            if family == "filesystem" and ref is None:
                connections[step.id] = {"base_dir": str(project), **inline}
                continue
            raise PlanError(f"step '{step.id}': {err}", hint=getattr(err, "hint", None)) from err
        fields = dict(resolved.fields)
        base_dir = fields.get("base_dir")
        if isinstance(base_dir, str) and not os.path.isabs(base_dir):
            fields["base_dir"] = str((project / base_dir).resolve())
        connections[step.id] = fields
        secrets |= set(resolved.secret_values)
        resolved_names.append((step.id, resolved.family, resolved.alias))
    return connections, secrets, resolved_names


def _connections_file(project: Path, env: Any) -> Any:
    """The project's connections, or a PlanError that says which file and line is wrong."""
    from runtime.connections import ConnectionError, ConnectionsFile

    try:
        return ConnectionsFile.load(project, env=env)
    except ConnectionError as err:  # a malformed osiris_connections.yaml or .env
        raise PlanError(
            str(err),
            hint=getattr(err, "hint", None)
            or "fix the file at the line shown (`osiris connections list` reads it too)",
        ) from None


#: DuckDB's own default is 80% of the machine's memory; a pipeline tool on a laptop
#: should not take that. Past the limit, DuckDB spills to the session's .spill folder.
#: Measured (bench/run.py, 1M rows): 128MB keeps a MySQL → CSV run at 268 MB peak RSS
#: (256MB: 316 MB) and costs a CSV → DuckDB → CSV run 0.2 s; raise it for big joins.
DEFAULT_MEMORY_LIMIT = "128MB"


def open_data_plane(
    path: Path | None,
    spill: Path,
    memory_limit: str | None = None,
    files_read: Iterable[Path] = (),
) -> Any:
    """The run's DuckDB: in memory (spilling to `spill`) unless a file is asked for.

    Measured on 1M rows CSV → DuckDB → CSV: an in-memory data plane takes 0.6 s where a
    database file takes 1.0-1.5 s, most of it writing the tables out at checkpoint —
    work nobody reads unless the run keeps its data plane for inspection. Memory stays
    bounded either way: 5M rows ran in 270 MB RSS with a 200MB limit.
    """
    import duckdb

    limit = memory_limit or os.environ.get("OSIRIS_MEMORY_LIMIT") or DEFAULT_MEMORY_LIMIT
    config = {"memory_limit": limit, "temp_directory": str(spill)}
    try:
        plane = duckdb.connect(str(path) if path else ":memory:", config=config)
    except duckdb.Error as err:
        raise PlanError(
            f"cannot open the data plane: {err}",
            hint="check --memory-limit / OSIRIS_MEMORY_LIMIT (e.g. 512MB, 2GB)",
        ) from None
    lock_data_plane(plane, spill, files_read)
    return plane


def lock_data_plane(plane: Any, spill: Path, files_read: Iterable[Path] = ()) -> None:
    """No query on the data plane reads or writes a file, whatever the compiler let by.

    Transform SQL runs here, so the engine itself refuses files (`read_csv`, a quoted path,
    `ATTACH`, `COPY`), profiling and logging output, and any later change of these settings
    (`lock_configuration`: `SET`, `enable_profiling()`, `enable_logging()` all fail).
    What stays open is what the plan declares: the files its CSV extractors read
    (`files_read`, their real paths), the spill folder — DuckDB's own past the memory
    limit, where CSV writers stage a file before it is moved beside its target — and this
    process's bulk-load folder in the system's temporary folder, where database writers
    make their load files (there, a killed run's folder is found and removed by the next).
    Extractors hand rows over as Arrow relations, which need no file access; without
    external access DuckDB makes no replacement scan either (a Python variable is no table).
    """
    from components.sql.io import bulk_folder

    spill.mkdir(parents=True, exist_ok=True)
    folders = ", ".join(
        _sql_string(str(folder) + "/") for folder in (spill.resolve(), bulk_folder())
    )
    paths = ", ".join(_sql_string(str(path)) for path in sorted(set(files_read)))
    for setting in (
        f"SET allowed_directories = [{folders}]",
        f"SET allowed_paths = [{paths}]",
        "SET enable_external_access = false",
        "SET lock_configuration = true",
    ):
        plane.execute(setting)


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def declared_files(
    plan: Build, connections: Mapping[str, Mapping[str, Any] | None], project: Path
) -> list[Path]:
    """The files the plan's steps read, as each driver resolves them (`files_read`)."""
    return [path for paths in files_by_step(plan, connections, project).values() for path in paths]


def files_by_step(
    plan: Build, connections: Mapping[str, Mapping[str, Any] | None], project: Path
) -> dict[str, list[Path]]:
    """Step id -> the files it reads. A step whose path does not resolve is left out:
    its driver refuses it when it runs."""
    from runtime.runner import load_driver

    found: dict[str, list[Path]] = {}
    for step in plan.steps():
        try:
            driver = load_driver(step.component)
        except Exception:  # the step fails with its own error when it runs
            continue
        files_read = getattr(driver, "files_read", None)
        if files_read is None:
            continue
        try:
            found[step.id] = list(
                files_read(plan.configs[step.id], connections.get(step.id), project)
            )
        except Exception:  # a refused path: the driver says why when the step runs
            continue
    return found


@dataclass
class Prepared:
    request: RunRequest
    plan: Build
    session: Session
    connections: dict[str, dict[str, Any] | None]
    data_plane_path: Path
    selection: Any = None  # runtime.selection.Selection of `--select`
    status: str = "pending"
    outcome: RunOutcome | None = None  # what the runner returned

    def run(self, data_plane: Any, **options: Any) -> RunOutcome:
        """Run the plan on `data_plane` with the request's parallelism and cancel, and keep
        what the runner returned; `options` are the engine's own (`Runner`'s keywords)."""
        request = self.request
        runner = Runner(
            self.plan,
            self.session,
            self.connections,
            data_plane,
            request.project,
            parallel=request.parallel,
            cancel=request.cancel,
            **options,
        )
        self.outcome = runner.run()
        self.status = self.outcome.status
        return self.outcome


class LocalAdapter:
    def prepare(self, request: RunRequest) -> Prepared:
        plan = load_current(request.build_dir)
        env = dict(os.environ) if request.env is None else dict(request.env)
        connections, secrets, names = resolve_connections(plan, request.project, env)
        selection = None
        if request.select:
            from runtime.selection import SelectionError, select

            try:
                selection = select(
                    plan.steps(),
                    request.select,
                    request.project,
                    plan.pipeline,
                    plan.manifest_hash,
                    files=files_by_step(plan, connections, request.project),
                )
            except SelectionError as err:
                raise PlanError(str(err), hint=err.hint or None) from None
        redactor = Redactor(secrets)
        try:
            session = Session(
                request.project,
                plan.pipeline,
                request.run_id or new_run_id(),
                redactor,
                request.on_event,
            )
        except OSError as err:
            where = request.project / "run_logs"
            raise RunNotStarted(
                f"cannot create the run's log folder under {where}: {err.strerror or err}",
                hint=_NO_ROOM,
            ) from None
        try:
            session.copy_plan(request.build_dir)
        except OSError as err:
            message = f"cannot copy the plan into {session.dir}: {err.strerror or err}"
            session.not_started(message, _NO_ROOM, plan.manifest_hash)
            raise RunNotStarted(message, hint=_NO_ROOM) from None
        if request.compilation is not None:
            session.event("compilation.start", pipeline=plan.pipeline)
            session.event("compilation.complete", **request.compilation)
        for step_id, family, alias in names:
            session.event("connection.resolve", step_id=step_id, family=family, alias=alias)
        return Prepared(
            request, plan, session, connections, session.dir / "data_plane.duckdb", selection
        )

    def execute(self, prepared: Prepared) -> str:
        data_plane = open_data_plane(
            prepared.data_plane_path if prepared.request.keep_data_plane else None,
            spill=prepared.session.dir / ".spill",
            memory_limit=prepared.request.memory_limit,
            files_read=declared_files(
                prepared.plan, prepared.connections, prepared.request.project
            ),
        )
        try:
            outcome = prepared.run(
                data_plane,
                selection=prepared.selection,
                # a step's whole table is kept only when it was made
                streaming=not (prepared.request.keep_outputs or prepared.request.keep_data_plane),
            )
            if outcome.status != "cancelled":  # a cancel is asked to end now
                from runtime.outputs import keep_outputs

                step_ids = [step.id for step in prepared.plan.steps()]
                try:
                    keep_outputs(
                        data_plane,
                        prepared.session,
                        step_ids,
                        whole=prepared.request.keep_outputs,
                        rows=outcome.sample_rows(),
                    )
                except OSError as err:  # the targets are written: only the samples are lost
                    prepared.session.event(
                        "execution.warning",
                        message=f"step outputs not kept in artifacts/: {err.strerror or err}",
                    )
        finally:
            data_plane.close()
        return prepared.status

    def collect(self, prepared: Prepared) -> Collected:
        prepared.session.close()
        shutil.rmtree(prepared.session.dir / ".spill", ignore_errors=True)
        if not prepared.request.keep_data_plane:
            remove_quietly(prepared.data_plane_path)
        outcome = prepared.outcome
        if outcome is None:  # the run ended before the runner returned (an error raised)
            status = prepared.session.last_status
            error = (
                {"message": status["error"], "hint": status["hint"]} if "error" in status else None
            )
            return Collected(
                run_id=prepared.session.run_id,
                status=status.get("status", "failed"),
                session_dir=prepared.session.dir,
                steps=status.get("steps", []),
                duration_ms=status.get("duration_ms", 0),
                error=error,
            )
        return Collected(
            run_id=outcome.run_id,
            status=outcome.status,
            session_dir=prepared.session.dir,
            steps=[step.to_status() for step in outcome.steps],
            duration_ms=outcome.duration_ms,
            error={"message": outcome.error, "hint": outcome.hint or ""} if outcome.error else None,
        )


def run_build(request: RunRequest) -> Collected:
    """prepare → execute → collect with the local adapter."""
    collected: Collected = run_with(LocalAdapter(), request)
    return collected
