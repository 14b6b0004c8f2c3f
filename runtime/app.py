"""The application layer: what `osiris` on the command line and the MCP tools both do.

The shells parse their input, call these, and word the result; nothing here prints.

- `project_root`: which folder a command or the server works in (the one rule).
- `compile_context`: the compile inputs of a project — params, `OSIRIS_PARAM_<NAME>`,
  the profile, its connection references and facts, the catalogs discovery cached.
- `compile_to_disk`: compile with the cache and write the build folder; a `CompileOutcome`.
- `compile_and_load`: the same, then the verified `Build` (what the MCP tools run).
- `runtime.builds.BuildIndex` finds a build by its hash; `runtime.adapters.local.run_build`
  runs one and returns what the runner returned.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: `osiris --help` needs none of them
    from compiler.diagnostics import Diagnostic
    from compiler.program import CompileContext, Program
    from runtime.builds import Build, BuildIndex

#: The file that marks a project folder: the command line looks for it from the working
#: directory up, as git finds `.git`.
PROJECT_MARKER = "osiris_connections.yaml"


# ---- the project ---------------------------------------------------------------------------


def project_root(
    flag: str | None, environ: Mapping[str, str] | None = None, *, walk_up: bool = True
) -> Path:
    """`--project DIR`, else `$OSIRIS_HOME`, else (`walk_up`) the nearest folder from the
    working directory up that holds osiris_connections.yaml, else the working directory.

    The server passes `walk_up=False`: a client starts it where its configuration says,
    and a silent walk up could serve a parent folder the user never named.
    """
    env = os.environ if environ is None else environ
    chosen = flag or env.get("OSIRIS_HOME")
    if chosen:
        return Path(chosen).resolve()
    here = Path.cwd().resolve()
    return (find_project(here) or here) if walk_up else here


def find_project(start: Path) -> Path | None:
    """The nearest folder from `start` up that holds osiris_connections.yaml, or None."""
    for folder in (start, *start.parents):
        if (folder / PROJECT_MARKER).is_file():
            return folder
    return None


# ---- the compile context -------------------------------------------------------------------


def compile_context(
    project: Path,
    params: Mapping[str, Any] | None = None,
    profile: str | None = None,
    *,
    optimize: bool = True,
    catalogs: bool = True,
    environ: Mapping[str, str] | None = None,
    engines: Iterable[str] = ("duckdb",),
) -> CompileContext:
    """The compile context of a project: the same for `osiris compile` and `oml_compile`.

    Params given win over `OSIRIS_PARAM_<NAME>` from the environment, which wins over the
    profile and the defaults. `catalogs=False` turns the schema checks off (`--catalog off`).
    `engines` are the engines the plan is for (`compiler.program.plan_engines`: DuckDB
    always; a name that is not an engine is a ValueError).
    """
    from compiler.program import default_context, plan_engines

    env = os.environ if environ is None else environ
    return default_context(
        params=dict(params or {}),
        env={k: v for k, v in env.items() if k.startswith("OSIRIS_PARAM_")},
        profile=profile,
        optimize=optimize,
        connections=known_connections(project),
        connection_facts=connection_facts(project),
        catalogs=project_catalogs(project) if catalogs else {},
        filesystem_bases=filesystem_bases(project),
        engines=plan_engines(engines),
    )


def _connections(project: Path) -> Any:
    """The project's connections file, or None when there is none or it is broken (a
    broken file is reported when a run resolves it, and by `connections_problem`)."""
    if not (project / PROJECT_MARKER).is_file():
        return None
    from runtime.connections import ConnectionError as ConnectionProblem
    from runtime.connections import ConnectionsFile

    try:
        return ConnectionsFile.load(project)
    except ConnectionProblem:
        return None


def connections_problem(project: Path) -> str | None:
    """Why the project's osiris_connections.yaml cannot be read (None: it can, or there is
    none): `validate` says so, since it then cannot check the connection references."""
    from runtime.connections import ConnectionError as ConnectionProblem
    from runtime.connections import ConnectionsFile

    try:
        ConnectionsFile.load(project)
    except ConnectionProblem as err:
        return err.message + (f"\n  hint: {err.hint}" if err.hint else "")
    return None


def known_connections(project: Path) -> frozenset[str] | None:
    """Every `@family.alias` (and `@family` with a default) the project defines.

    None when there is no osiris_connections.yaml: then references are not checked.
    """
    file = _connections(project)
    return None if file is None else file.refs()


def connection_facts(project: Path) -> dict[str, Any] | None:
    """What each connection reference resolves to, without secrets, for the manifest
    (`ConnectionsFile.facts`); None when the connections file is broken."""
    from runtime.connections import ConnectionError as ConnectionProblem
    from runtime.connections import ConnectionsFile

    try:
        return ConnectionsFile.load(project).facts()
    except ConnectionProblem:
        return None


def filesystem_bases(project: Path) -> dict[str, str]:
    """Each filesystem connection's absolute base_dir, where an absolute CSV path may point."""
    file = _connections(project)
    if file is None:
        return {}
    bases: dict[str, str] = {}
    for info in file.aliases():
        base = info.fields.get("base_dir", ".")
        if info.family != "filesystem" or not isinstance(base, str) or info.missing_variables:
            continue
        folder = Path(base).expanduser()
        resolved = str((folder if folder.is_absolute() else project / folder).resolve())
        bases[info.ref] = resolved
        if info.is_default:
            bases["@filesystem"] = resolved
    return bases


def project_catalogs(project: Path) -> Any:
    """Cached catalogs for schema checks (looked up lazily; never connects)."""
    from runtime.project_catalogs import ProjectCatalogs

    return ProjectCatalogs(project)


# ---- compiling to a build folder -----------------------------------------------------------


@dataclass
class CompileOutcome:
    """What a compile came to: a build folder (`ok`), or diagnostics, or an error."""

    ok: bool
    cached: bool = False
    diagnostics: list[Diagnostic] = field(default_factory=list)
    #: the source as the loader read it (for rendering diagnostics); "" when cached
    source: str = ""
    program: Program | None = None
    #: why no build was written although the OML is fine (a full disk, --compile never)
    error: str | None = None
    #: what the compile cache records of the build: pipeline, manifest_hash,
    #: manifest_short, build_dir, order, rewrites, fingerprints, catalogs
    entry: dict[str, Any] = field(default_factory=dict)

    @property
    def build_dir(self) -> Path:
        return Path(self.entry["build_dir"])

    @property
    def manifest_hash(self) -> str:
        return str(self.entry["manifest_hash"])

    @property
    def pipeline(self) -> str:
        program = self.program
        if "pipeline" in self.entry:
            return str(self.entry["pipeline"])
        return program.pipeline.name if program is not None and program.pipeline else ""

    def diagnostics_dicts(self) -> list[dict[str, Any]]:
        return [d.to_dict() for d in self.diagnostics]

    def summary(self) -> dict[str, Any]:
        """The outcome as JSON keeps it (`osiris compile --json`)."""
        return {
            **self.entry,
            "ok": self.ok,
            "cached": self.cached,
            "diagnostics": self.diagnostics_dicts(),
            **({"error": self.error} if self.error else {}),
        }


def compile_to_disk(
    source: bytes,
    context: Any,
    filename: str,
    project: Path,
    out: str | None = None,
    mode: str = "auto",
    *,
    verify_sql: bool = False,
) -> CompileOutcome:
    """Compile (or reuse a cached build of the same inputs) and write the build folder.

    `mode`: auto reuses an identical earlier build, force always compiles, never only
    reuses. `verify_sql` PREPAREs each extract query on its server first
    (runtime/sql_verify.py): it asks the servers about now, so it never reuses a build.
    A plan for engine spark has each transform's Spark SQL read by Spark's own parser
    and analyzer (runtime/spark/check.py) before the build is written; the Spark
    version keys the cache, so another Spark checks the plan again.
    """
    from compiler.toolchain import compiler_fingerprint
    from runtime.builds import (
        BuildDirError,
        CompileCache,
        cache_key,
        default_build_dir,
        write_build,
    )

    inputs = {
        "compiler_fp": compiler_fingerprint(),
        "params": {k: str(v) for k, v in sorted(context.params.items())},
        "env": dict(sorted(context.env.items())),
        "profile": context.profile,
        "optimize": context.optimize,
        "registry": sorted(s.fingerprint for s in context.registry),
        "out": str(Path(out).resolve()) if out else None,
        # schema checks on or off give different builds; which catalogs were seen is
        # checked at lookup (a discovery since the build makes it stale)
        "catalogs": "project" if hasattr(context.catalogs, "observed") else "off",
        # the manifest records what the connections resolve to, so they key the build too
        "connections": sorted(context.connections) if context.connections is not None else None,
        "connection_facts": context.connection_facts,
        # only for a plan for more than DuckDB, so the DuckDB builds keep their keys
        **(_engine_inputs(context.engines) if tuple(context.engines) != ("duckdb",) else {}),
    }
    key = cache_key(source, inputs)
    cache = CompileCache(project)
    if mode != "force" and not verify_sql:
        entry = cache.lookup(key)
        if entry is not None and not _same_catalogs(entry.get("catalogs") or {}, project):
            entry = None
        if entry is not None:
            return CompileOutcome(ok=True, cached=True, entry=entry)
        if mode == "never":
            return CompileOutcome(
                ok=False, error="--compile never: no earlier build of these inputs"
            )
    from compiler.emit import compile_source  # the passes and sqlglot: not for a reused build

    result = compile_source(source, context, filename)
    program = result.program
    refused = False
    if verify_sql and result.ok:
        from compiler.diagnostics import has_errors
        from runtime.sql_verify import verify_sql as verify

        refused = has_errors(verify(program, context, project))
    if "spark" in context.engines and result.ok and result.manifest is not None:
        from compiler.diagnostics import has_errors
        from runtime.spark.check import check_plan

        refused = has_errors(check_plan(program, result.manifest)) or refused
    failed = CompileOutcome(
        ok=False, diagnostics=program.diagnostics, source=program.source, program=program
    )
    if not result.ok or refused:
        return failed
    target = (
        Path(out)
        if out
        else default_build_dir(project, result.pipeline_name, result.manifest_short)
    )
    try:
        build_dir = write_build(result.files, target)
    except BuildDirError as err:
        failed.error = str(err)
        return failed
    except OSError as err:  # a full disk, a read-only folder: say which, not "a bug"
        failed.error = f"cannot write the build to {target}: {err.strerror or err}"
        return failed
    entry = {
        "pipeline": result.pipeline_name,
        "manifest_hash": result.manifest_hash,
        "manifest_short": result.manifest_short,
        "build_dir": str(build_dir),
        "order": list(program.order),
        "rewrites": program.rewrites,
        "fingerprints": result.fingerprints,
        "catalogs": context.catalogs.observed() if hasattr(context.catalogs, "observed") else {},
        # a plan for more than DuckDB says so (the others keep the entry they had)
        **({"engines": list(context.engines)} if tuple(context.engines) != ("duckdb",) else {}),
    }
    with contextlib.suppress(OSError):  # a cache that cannot be written only costs time
        cache.store(key, entry)
    return CompileOutcome(
        ok=True,
        diagnostics=program.diagnostics,
        source=program.source,
        program=program,
        entry=entry,
    )


def _engine_inputs(engines: Iterable[str]) -> dict[str, Any]:
    """What a plan for `engines` depends on beyond the compiler: the Spark that checked it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        spark = version("pyspark")
    except PackageNotFoundError:
        spark = None
    return {"engines": list(engines), "pyspark": spark}


def compile_and_load(
    source: bytes, context: Any, filename: str, project: Path, index: BuildIndex
) -> tuple[CompileOutcome, Build | None]:
    """Compile to the project's build folder, remember the build in `index`, and load it
    verified (None when the OML has errors)."""
    from runtime.builds import Build

    outcome = compile_to_disk(source, context, filename, project)
    if not outcome.ok:
        return outcome, None
    index.remember(outcome.manifest_hash, outcome.build_dir)
    return outcome, Build.load(outcome.build_dir, outcome.manifest_hash)


def _same_catalogs(seen: dict[str, str | None], project: Path) -> bool:
    """Whether every catalog a cached build was checked against is still the same."""
    if not seen:
        return True
    from runtime.project_catalogs import ProjectCatalogs

    return ProjectCatalogs(project).observed_now(seen) == seen


# ---- running a build -----------------------------------------------------------------------


def run_locally(request: Any) -> Any:
    """Run a build on this machine and return what the run came to (`Collected`).

    In this process — or, for a plan that reads a database, in a worker process, so that
    Ctrl-C is heard while a read holds the GIL (runtime/worker.py). Whatever would stop
    the run from starting (a stale or edited build, a selector naming no step, a bad
    connections file) is a `PlanError` raised here, before any worker starts.
    """
    from runtime.adapters.local import load_current, resolve_connections, run_build
    from runtime.builds import PlanError
    from runtime.worker import holds_the_gil, run_interruptible

    plan = load_current(request.build_dir)
    if request.select:
        from runtime.selection import SelectionError, select

        try:
            select(plan.steps(), request.select, request.project, plan.pipeline, plan.manifest_hash)
        except SelectionError as err:
            raise PlanError(str(err), hint=err.hint or None) from None
    if not holds_the_gil(plan.steps()):
        return run_build(request)
    env = dict(os.environ) if request.env is None else dict(request.env)
    resolve_connections(plan, request.project, env)
    return run_interruptible(request)
