"""The catalog and authoring tools: connections, components, discovery, OML.

Each tool is a few lines over the functions the `osiris` CLI calls (`check`,
`compile_to_disk`, the connections file, the catalog store), so the CLI and the server
can never disagree. Heavy modules (the compiler, database drivers) are imported inside
the tools that need them: the server answers `tools/list` before loading any of them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
from mcp.server.mcpserver import Context

from osiris_mcp import tool_models as m
from osiris_mcp.errors import OsirisToolError
from osiris_mcp.paging import listing_key
from osiris_mcp.project import UnsafePath, pipeline_file
from osiris_mcp.tool_adapter import (
    OVERWRITES_PROJECT,
    READS_PROJECT,
    READS_SOURCE,
    WRITES_PROJECT,
    Reply,
    ServerState,
    page_of,
    paged_fields,
    tool,
)

if TYPE_CHECKING:
    from components.registry import ComponentSpec


def _digest(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()[:16]


def compile_context(
    state: ServerState,
    params: dict[str, Any],
    profile: str | None,
    optimize: bool = True,
    engine: str = "duckdb",
) -> Any:
    """The compile context `osiris validate|compile` builds for the same inputs
    (`runtime.app.compile_context`): never a connection to a source."""
    from runtime.app import compile_context as project_context

    return project_context(
        state.project.root, params, profile, optimize=optimize, engines=(engine,)
    )


def _source(state: ServerState, oml: str | None, pipeline: str | None) -> tuple[bytes, str]:
    """The OML bytes and the file name diagnostics use, from text or a saved pipeline."""
    if (oml is None) == (pipeline is None):
        raise OsirisToolError(
            "invalid_arguments",
            "Give either `oml` (the text) or `pipeline` (a saved name), exactly one of them.",
            "Pass the OML text as `oml`, or the name oml_save returned as `pipeline`.",
        )
    if oml is not None:
        return oml.encode("utf-8"), "<oml>"
    assert pipeline is not None
    path = _pipeline_path(state, pipeline)
    if not path.is_file():
        raise OsirisToolError(
            "not_found",
            f"No saved pipeline '{pipeline}' under pipelines/.",
            "oml_save stores one; the names are the files under pipelines/ without .yaml.",
        )
    from compiler.loader import MAX_BYTES

    with path.open("rb") as handle:
        return handle.read(MAX_BYTES + 1), path.relative_to(state.project.root).as_posix()


def _pipeline_path(state: ServerState, name: str) -> Path:
    try:
        return pipeline_file(state.project, name)
    except UnsafePath as err:
        raise OsirisToolError(
            "invalid_name",
            f"{err}.",
            "Use a plain name of letters, digits, _ and - (e.g. orders_daily); it is saved "
            "as pipelines/<name>.yaml.",
        ) from None


def _diagnostics(diagnostics: list[Any]) -> list[m.DiagnosticInfo]:
    return [m.DiagnosticInfo.model_validate(d.to_dict()) for d in diagnostics]


# -- connections --------------------------------------------------------------------------------


def connections_file(state: ServerState) -> Any:
    """The project's connections file (loaded again each call: edits show at once)."""
    from runtime.connections import ConnectionError, ConnectionsFile

    try:
        file = ConnectionsFile.load(state.project.root)
    except ConnectionError as err:
        raise OsirisToolError(
            "connections_file",
            _project_relative(state, state.secrets.text(err.message)),
            state.secrets.text(err.hint or "Fix osiris_connections.yaml in the project folder."),
        ) from None
    state.secrets.add(file.secret_values())  # a connection added since start-up is masked too
    return file


def _project_relative(state: ServerState, text: str) -> str:
    """Messages name files relative to the project, not by absolute path."""
    return text.replace(str(state.project.root) + os.sep, "")


def _require_file(state: ServerState, file: Any) -> None:
    if not file.exists:
        raise OsirisToolError(
            "connections_file",
            "The project has no osiris_connections.yaml.",
            "Ask the user to create it (`osiris init` writes an example); secrets go in "
            "${ENV_VARS} or .env, never in the file itself.",
        )


@tool("List connections", READS_PROJECT)
async def connections_list(
    state: ServerState, args: m.ConnectionsListArgs, ctx: Context
) -> m.ConnectionsListResult:
    """List the connections of osiris_connections.yaml, secrets masked.

    OML steps refer to a connection as @family.alias (e.g. @mysql.local), or @family for
    the family's default. Use the ref with discovery_request, connections_doctor and in
    a step's `connection`. missing_variables names environment variables still unset.
    """
    file = connections_file(state)
    rows = [
        m.ConnectionInfo.model_validate(
            {**info.to_dict(), "fields": state.secrets.data(dict(info.fields))}
        )
        for info in file.aliases()
        if args.family is None or info.family == args.family
    ]
    listing = listing_key("connections_list", args.family)
    page = page_of(state, rows, listing, args.cursor)
    return m.ConnectionsListResult(
        connections_file=file.path.name if file.exists else None,
        connections=page.rows,
        **paged_fields(page, "connections_list"),
    )


@tool("Check connections", READS_SOURCE)
async def connections_doctor(
    state: ServerState, args: m.ConnectionsDoctorArgs, ctx: Context
) -> m.ConnectionsDoctorResult:
    """Check that connections answer: connect, run a trivial read-only query, time it.

    Without `connection` every connection is checked. A failed check has a category
    (auth, network, timeout, permission, config) and a hint; secrets never appear.
    """
    from runtime.connections import doctor_all

    file = connections_file(state)
    _require_file(state, file)
    refs = None
    if args.connection is not None:
        refs = [_resolve(state, file, args.connection).ref]  # an unknown ref is an error
    results = await anyio.to_thread.run_sync(lambda: doctor_all(file, refs, args.timeout_s))
    mask = state.secrets.text
    checks = [
        m.ConnectionCheck(
            ref=ref,
            ok=result.ok,
            latency_ms=result.latency_ms,
            category=result.category,
            message=_project_relative(state, mask(result.message)),
            hint=mask(result.hint) if result.hint else None,
        )
        for ref, result in results
    ]
    return m.ConnectionsDoctorResult(ok=all(c.ok for c in checks), checks=checks)


def _resolve(state: ServerState, file: Any, ref: str) -> Any:
    """The resolved connection of `@family.alias` (or `@family`), or `unknown_connection`."""
    from runtime.connections import ConnectionError, parse_ref

    try:
        family, _ = parse_ref(ref)
        return file.resolve(ref, family)
    except ConnectionError as err:
        refs = ", ".join(sorted(file.refs())) or "none (the project has no connections yet)"
        raise OsirisToolError(
            "unknown_connection",
            _project_relative(state, state.secrets.text(err.message)),
            state.secrets.text(err.hint or "") + f" Connections: {refs}.",
        ) from None


# -- components --------------------------------------------------------------------------------


@tool("List components", READS_PROJECT)
async def components_list(
    state: ServerState, args: m.ComponentsListArgs, ctx: Context
) -> m.ComponentsListResult:
    """List the components a step can use (`component:`), with their families and modes.

    Extractors read (mode read), writers write (mode write), duckdb.processor transforms
    with SQL. component_describe gives one component's config keys, examples and hints.
    """
    from components.registry import default_registry

    rows = [
        m.ComponentSummary(
            **_component_identity(spec),
            summary=spec.description.split(". ")[0].rstrip(".") + ".",
        )
        for spec in default_registry()
        if (args.family is None or spec.family == args.family)
        and (args.mode is None or args.mode in spec.modes)
    ]
    listing = listing_key("components_list", args.family, args.mode)
    page = page_of(state, rows, listing, args.cursor)
    return m.ComponentsListResult(components=page.rows, **paged_fields(page, "components_list"))


@tool("Describe a component", READS_PROJECT)
async def component_describe(
    state: ServerState, args: m.ComponentDescribeArgs, ctx: Context
) -> m.ComponentDescribeResult:
    """Everything needed to write one step: config schema, required keys, which fields
    come from the connection, SQL fields, rules, examples and hints."""
    from components.registry import default_registry

    registry = default_registry()
    spec = registry.get(args.name)
    if spec is None:
        from compiler.diagnostics import did_you_mean, suggestion_hint

        suggestions = did_you_mean(args.name, registry.names())
        raise OsirisToolError(
            "unknown_component",
            f"No component is named '{args.name}'.",
            (suggestion_hint(suggestions) or "") + " components_list shows every component.",
        )
    return m.ComponentDescribeResult(
        **_component_identity(spec),
        description=spec.description,
        config_schema=dict(spec.config_schema),
        required=list(spec.required),
        secret_fields=sorted({pointer.split("/")[1] for pointer in spec.secrets}),
        connection_fields=[
            m.ConnectionFieldInfo(field=c.field, override=c.override)
            for c in spec.connection_fields
        ],
        sql_fields=[
            m.SqlFieldInfo(field=s.field, dialect=s.dialect, role=s.role) for s in spec.sql_fields
        ],
        inputs_min=spec.inputs_min,
        inputs_max=spec.inputs_max,
        constraints=[dict(c) for c in spec.constraints],
        examples=[
            m.ComponentExample(title=e["title"], config=dict(e["config"])) for e in spec.examples
        ],
        hints=list(spec.llm_hints),
        spec_uri=f"osiris://components/{spec.name}",
    )


def _component_identity(spec: ComponentSpec) -> dict[str, Any]:
    """What components_list and component_describe both say of a component first."""
    return {
        "name": spec.name,
        "version": spec.version,
        "title": spec.title,
        "family": spec.family,
        "modes": list(spec.modes),
    }


# -- discovery ---------------------------------------------------------------------------------


@tool("Discover a schema", READS_SOURCE, m.DiscoveryRequestResult)
async def discovery_request(
    state: ServerState, args: m.DiscoveryRequestArgs, ctx: Context
) -> Reply:
    """Read the real tables and columns of a connection (read-only), or reuse a valid cache.

    Returns a discovery_id, whether the catalog came from the cache, what drifted since
    the last discovery, and a summary per table (columns as `name type`, `?` = nullable,
    primary key, row estimate). The full catalog, per-table details and sample rows are
    resources (osiris://discovery/{id}/…). samples: 0-100 rows per table, default 0.
    """
    from runtime.catalog import CatalogStore
    from runtime.discovery import DiscoveryError, DiscoveryOptions

    file = connections_file(state)
    _require_file(state, file)
    connection = _resolve(state, file, args.connection)
    options = DiscoveryOptions(
        tables=tuple(args.tables), samples=args.samples, schemas=tuple(args.schemas)
    )

    def discover() -> Any:
        with CatalogStore(state.project.root) as store:
            return store.discover(connection, options, refresh=args.refresh)

    try:
        found = await anyio.to_thread.run_sync(discover)
    except DiscoveryError as err:
        raise OsirisToolError(
            f"discovery_{err.category}",
            state.secrets.text(err.message),
            state.secrets.text(err.hint),
        ) from None
    did = found.discovery_id
    artifacts = _artifact_names(found.artifacts_dir)
    import time

    tables = [
        m.DiscoveredTable(
            schema=t.schema_name,
            name=t.name,
            kind=t.kind,
            row_estimate=t.row_estimate,
            primary_key=list(t.primary_key),
            columns=[f"{c.name} {c.type}{'?' if c.nullable else ''}" for c in t.columns],
            artifact_uri=f"osiris://discovery/{did}/{artifacts.get((t.schema_name, t.name), '')}",
        )
        for t in found.catalog.tables
    ]
    listing = listing_key("discovery_request", did)
    page = page_of(state, tables, listing, args.cursor)
    result = m.DiscoveryRequestResult(
        discovery_id=did,
        connection=found.catalog.connection,
        family=found.catalog.family,
        cached=found.cached,
        discovered_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(found.discovered_at)),
        drift=found.drift.to_dict() if found.drift and found.drift.changed else None,
        catalog_uri=f"osiris://discovery/{did}/catalog.json",
        summary_uri=f"osiris://discovery/{did}/summary.json",
        tables=page.rows,
        **paged_fields(page, "discovery_request"),
    )
    links = [(result.summary_uri, "summary.json"), (result.catalog_uri, "catalog.json")]
    return Reply(result, links)


def _artifact_names(artifacts_dir: Path) -> dict[tuple[str, str], str]:
    """(schema, table) -> its artifact file, as the store's summary.json lists them."""
    try:
        summary = json.loads((artifacts_dir / "summary.json").read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return {(t["schema"] or "", t["name"]): t["artifact"] for t in summary.get("tables", [])}


# -- OML ---------------------------------------------------------------------------------------


@tool("Get the OML schema", READS_PROJECT)
async def oml_schema_get(
    state: ServerState, args: m.OmlSchemaGetArgs, ctx: Context
) -> m.OmlSchemaGetResult:
    """The JSON Schema of an OML v0.1.0 pipeline, the component names, and the rules a
    schema cannot express (expressions, connection references, modes)."""
    from compiler.model import OML_VERSION, oml_json_schema
    from components.registry import default_registry

    return m.OmlSchemaGetResult(
        oml_version=OML_VERSION,
        schema=oml_json_schema(),
        components=list(default_registry().names()),
        notes=OML_NOTES,
    )


OML_NOTES = [
    'Top level: oml_version: "0.1.0" (quoted), name, steps; optional description, '
    "metadata, params, profiles. version, connectors, tasks and outputs are refused.",
    "Step: id (unique), component, mode (read | write | transform), config; optional "
    "needs, inputs, when, retry {max_attempts, backoff_ms, max_backoff_ms, max_elapsed_s}, "
    "timeout_s, description.",
    "needs carries data: needs: [extract_orders] makes that step's table an input, read "
    "in a duckdb.processor query as df_extract_orders (or by step id); inputs: {orders: "
    "${extract_orders.df}} also names it (FROM orders). A writer writes its one upstream.",
    "Params: ${params.name} anywhere in a string, declared under params with a type.",
    "Connections: connection: '@family.alias' (or '@family' for the default); never write "
    "a password in OML.",
    "when: \"${steps.check.rows_written} > 0 and ${params.env} == 'prod'\" runs a step "
    "conditionally (comparisons, and/or/not only).",
    "Extract SQL must be one read-only SELECT; writers take exactly one input.",
]


@tool("Validate OML", READS_PROJECT)
async def oml_validate(
    state: ServerState, args: m.OmlValidateArgs, ctx: Context
) -> m.OmlValidateResult:
    """Check OML (text or a saved pipeline) with every compiler pass; write nothing.

    Each diagnostic has a stable code, the line and column in the text, a JSON pointer,
    a hint and, for misspellings, suggestions. valid is true when no error remains.
    """
    source, filename = _source(state, args.oml, args.pipeline)
    from compiler.compile import check
    from compiler.diagnostics import has_errors

    context = compile_context(state, args.params, args.profile)
    program = await anyio.to_thread.run_sync(lambda: check(source, context, filename))
    if args.verify_sql and not has_errors(program.diagnostics):
        from runtime.sql_verify import verify_sql

        root = state.project.root
        await anyio.to_thread.run_sync(lambda: verify_sql(program, context, root))
    found = _diagnostics(program.diagnostics)
    errors = sum(d.severity == "error" for d in found)
    listing = listing_key("oml_validate", filename, _digest(source), str(args.verify_sql))
    page = page_of(state, found, listing, args.cursor)
    return m.OmlValidateResult(
        valid=not has_errors(program.diagnostics),
        errors=errors,
        warnings=len(found) - errors,
        diagnostics=page.rows,
        **paged_fields(page, "oml_validate"),
    )


@tool("Save OML", OVERWRITES_PROJECT)
async def oml_save(state: ServerState, args: m.OmlSaveArgs, ctx: Context) -> m.OmlSaveResult:
    """Validate OML and save it as pipelines/<name>.yaml in the project.

    Refuses OML with errors, names that would leave pipelines/, and replacing an existing
    pipeline unless overwrite is true. Returns the name to pass as `pipeline` to
    oml_validate and oml_compile.
    """
    import hashlib

    from compiler.compile import check

    path = _pipeline_path(state, args.name)
    source = args.oml.encode("utf-8")
    relative = path.relative_to(state.project.root).as_posix()
    context = compile_context(state, {}, None)
    program = await anyio.to_thread.run_sync(lambda: check(source, context, relative))
    errors = [d for d in program.diagnostics if d.is_error]
    if errors:
        first = errors[0]
        raise OsirisToolError(
            "oml_invalid",
            f"Not saved: {len(errors)} error(s); the first is {first.code} at line "
            f"{first.line}, column {first.column}: {first.message}",
            "Run oml_validate to see every diagnostic, fix them, then save again.",
        )
    existed = path.exists()
    if existed and not args.overwrite:
        raise OsirisToolError(
            "already_exists",
            f"{relative} already exists.",
            "Pass overwrite: true to replace it (after the user agreed), or choose another name.",
        )
    _write_pipeline(path, source, exclusive=not args.overwrite)
    return m.OmlSaveResult(
        name=path.stem,
        path=relative,
        bytes=len(source),
        sha256=hashlib.sha256(source).hexdigest(),
        overwritten=existed,
        warnings=_diagnostics(program.diagnostics)[:50],
    )


def _write_pipeline(path: Path, data: bytes, *, exclusive: bool) -> None:
    """Write atomically; with `exclusive`, fail rather than replace a file that appeared."""
    from components.common.atomic import TargetExists, write_atomic

    try:
        write_atomic(path, data, mode=0o644, exclusive=exclusive)
    except TargetExists:
        raise OsirisToolError(
            "already_exists",
            f"{path.name} was created meanwhile.",
            "Pass overwrite: true to replace it, or choose another name.",
        ) from None


@tool("Compile OML", WRITES_PROJECT, m.OmlCompileResult)
async def oml_compile(state: ServerState, args: m.OmlCompileArgs, ctx: Context) -> Reply:
    """Compile OML (text or a saved pipeline) into a hashed, deterministic plan.

    Returns the manifest_hash (run_pipeline needs it), fingerprints, the step order,
    rewrites, a lineage summary and every table or file the plan will modify with its
    write mode. When the OML has errors, ok is false and diagnostics say why. An
    identical earlier compile is reused (cached: true). With engine spark, the plan also
    holds each transform's Spark SQL, checked by Spark's own parser (the first such
    compile starts a JVM: seconds, not milliseconds).
    """
    source, filename = _source(state, args.oml, args.pipeline)
    context = compile_context(
        state, args.params, args.profile, optimize=args.optimize, engine=args.engine
    )
    outcome, plan = await anyio.to_thread.run_sync(
        lambda: compile_plan(state, source, context, filename)
    )
    found = [m.DiagnosticInfo.model_validate(d) for d in outcome.diagnostics_dicts()]
    # a Spark compile lists other diagnostics than a DuckDB one of the same text
    engine = () if args.engine == "duckdb" else (args.engine,)
    listing = listing_key("oml_compile", filename, _digest(source), *engine)
    page = page_of(state, found, listing, args.cursor)
    if plan is None:
        return Reply(
            m.OmlCompileResult(ok=False, diagnostics=page.rows, **paged_fields(page, "oml_compile"))
        )
    result = m.OmlCompileResult(
        ok=True,
        cached=outcome.cached,
        pipeline=plan.pipeline,
        manifest_hash=plan.manifest_hash,
        fingerprints=plan.manifest.fingerprints.to_dict(),
        order=list(plan.manifest.order),
        rewrites=[dict(r) for r in plan.manifest.rewrites],
        lineage=_lineage_summary(plan.build_dir),
        targets=[m.WriteTarget.model_validate(t) for t in plan.write_targets()],
        requires_confirmation=plan.writes_tables,
        manifest_uri=f"osiris://manifests/{plan.manifest_hash}/manifest.yaml",
        engines=[e for e in ("duckdb", "spark") if plan.manifest.runs_on(e)],
        diagnostics=page.rows,
        **paged_fields(page, "oml_compile"),
    )
    return Reply(result, [(result.manifest_uri or "", "manifest.yaml")])


def compile_plan(state: ServerState, source: bytes, context: Any, filename: str) -> Any:
    """Compile into the project's build folder and load the plan verified: an
    (`runtime.app.CompileOutcome`, `runtime.builds.Build` or None) pair."""
    from runtime.app import compile_and_load
    from runtime.builds import PlanError

    with state.compile_lock:  # two compiles of one plan share a build folder
        try:
            return compile_and_load(source, context, filename, state.project.root, state.builds)
        except PlanError as err:  # written and at once changed: another process at work
            raise OsirisToolError(
                "stale_manifest",
                f"The plan was changed as it was written: {err.detail}.",
                "Compile the pipeline again with oml_compile.",
            ) from None


def _lineage_summary(build_dir: Path, per_step: int = 8) -> list[m.LineageSummary]:
    try:
        lineage = json.loads((build_dir / "lineage.json").read_text("utf-8"))
    except (OSError, ValueError):
        return []
    summary = []
    for step, columns in lineage.items():
        sample = [
            f"{column} <- {', '.join(info.get('sources', [])) or '(computed)'}"
            for column, info in list(columns.items())[:per_step]
        ]
        summary.append(m.LineageSummary(step=step, columns=len(columns), sample=sample))
    return summary
