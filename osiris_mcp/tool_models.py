"""The tool contract: one pydantic argument model and one result model per tool.

Field descriptions are what the client's model reads in `inputSchema`/`outputSchema`,
so they say what a value is for and how to get it. Nothing here is read from the
project: the contract is the same for every project (a test checks).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase
from pydantic import BaseModel, ConfigDict, Field

ParamValue = str | int | float | bool

_OML: Any = Field(
    default=None,
    max_length=5 * 1024 * 1024,
    description="The OML pipeline text (YAML). Give this or `pipeline`, not both.",
)
_PIPELINE: Any = Field(
    default=None,
    description="The name of a pipeline saved with oml_save (the file under pipelines/). "
    "Give this or `oml`, not both.",
)
_PARAMS: Any = Field(
    default_factory=dict,
    description="Param values by name; they win over OSIRIS_PARAM_<NAME>, the profile and "
    "the declared default.",
)
_PROFILE: Any = Field(default=None, description="A profile defined in the pipeline's `profiles`.")
_CURSOR: Any = Field(
    default=None,
    description="The next_cursor of the previous page of this same call; leave out for the "
    "first page.",
)
_WAIT: Any = Field(
    default=0.0,
    ge=0,
    le=120,
    description="Seconds to wait for the run to finish before answering (progress "
    "notifications are sent meanwhile); 0 answers at once.",
)


class Args(ArgModelBase):
    """Base of the argument models: the SDK validates a call's arguments with them.

    Unknown arguments are refused. Built on first use, so start-up stays short.
    """

    model_config = ConfigDict(extra="forbid", defer_build=True)


class Result(BaseModel):
    """Base of the result models (built on first use, like the argument models)."""

    model_config = ConfigDict(defer_build=True)


class Row(BaseModel):
    """Base of the models nested in results (rows of a listing, parts of a result)."""

    model_config = ConfigDict(defer_build=True)


class Paged(Result):
    """The paging fields of every listing: the rows shown, how many there are, how to go on."""

    total: int = Field(description="How many rows the whole listing has.")
    returned: int = Field(description="How many rows this page holds.")
    truncated: bool = Field(
        description="True when more rows exist than fit the result cap; see next_cursor."
    )
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to the same call to get the next rows."
    )
    page_hint: str | None = Field(default=None, description="How to read the rest, in words.")


# -- connections ------------------------------------------------------------------------


class ConnectionsListArgs(Args):
    family: str | None = Field(
        default=None, description="Only this family (mysql, postgres, supabase, filesystem, …)."
    )
    cursor: str | None = _CURSOR


class ConnectionInfo(Row):
    ref: str = Field(description="How OML refers to it, e.g. @mysql.local.")
    family: str
    alias: str
    default: bool = Field(description="True for the family's default (what plain @family means).")
    fields: dict[str, Any] = Field(description="Its settings; secrets are masked as ***.")
    missing_variables: list[str] = Field(
        default_factory=list, description="Environment variables it uses that are not set."
    )


class ConnectionsListResult(Paged):
    connections_file: str | None = Field(
        description="The connections file in the project, or None when there is none yet."
    )
    connections: list[ConnectionInfo]


class ConnectionsDoctorArgs(Args):
    connection: str | None = Field(
        default=None,
        description="Check only this connection (@family.alias); leave out to check them all.",
    )
    timeout_s: float = Field(default=5.0, gt=0, le=60, description="Seconds allowed per check.")


class ConnectionCheck(Row):
    ref: str
    ok: bool
    latency_ms: float | None = None
    category: str | None = Field(
        default=None, description="auth, network, timeout, permission or config when not ok."
    )
    message: str
    hint: str | None = None


class ConnectionsDoctorResult(Result):
    ok: bool = Field(description="True when every checked connection answered.")
    checks: list[ConnectionCheck]


# -- components -------------------------------------------------------------------------


class ComponentsListArgs(Args):
    family: str | None = Field(default=None, description="Only components of this family.")
    mode: Literal["read", "write", "transform"] | None = Field(
        default=None, description="Only components that support this step mode."
    )
    cursor: str | None = _CURSOR


class ComponentSummary(Row):
    name: str = Field(description="The value of a step's `component`, e.g. mysql.extractor.")
    version: str
    title: str
    family: str | None
    modes: list[str]
    summary: str


class ComponentsListResult(Paged):
    components: list[ComponentSummary]


class ComponentDescribeArgs(Args):
    name: str = Field(description="A component name from components_list, e.g. mysql.writer.")


class ConnectionFieldInfo(Row):
    field: str
    override: Literal["allowed", "forbidden", "warning"] = Field(
        description="Whether a step may set the field itself instead of the connection."
    )


class SqlFieldInfo(Row):
    field: str
    dialect: str
    role: Literal["extract", "transform"]


class ComponentExample(Row):
    title: str
    config: dict[str, Any]


class ComponentDescribeResult(Result):
    name: str
    version: str
    title: str
    description: str
    family: str | None
    modes: list[str]
    config_schema: dict[str, Any] = Field(description="JSON Schema of the step's `config`.")
    required: list[str]
    secret_fields: list[str] = Field(
        description="Config keys that hold secrets: only the connection may supply them."
    )
    connection_fields: list[ConnectionFieldInfo]
    sql_fields: list[SqlFieldInfo]
    inputs_min: int
    inputs_max: int | None
    constraints: list[dict[str, Any]]
    examples: list[ComponentExample]
    hints: list[str]
    spec_uri: str = Field(description="The whole spec as a resource.")


# -- discovery --------------------------------------------------------------------------


class DiscoveryRequestArgs(Args):
    connection: str = Field(
        description="The connection to read, as @family.alias (or @family for its default)."
    )
    tables: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list,
        max_length=100,
        description="Table names or glob patterns (orders, sales_*, shop.*); empty: every table.",
    )
    schemas: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list,
        max_length=20,
        description="Schemas (databases in MySQL) to read; empty: the connection's own.",
    )
    samples: int = Field(
        default=0, ge=0, le=100, description="Sample rows per table (0 to 100; default 0)."
    )
    refresh: bool = Field(
        default=False, description="Read the source again even when a valid cached copy exists."
    )
    cursor: str | None = _CURSOR


class DiscoveredTable(Row):
    schema_name: str = Field(alias="schema")
    name: str
    kind: str
    row_estimate: int | None
    primary_key: list[str]
    columns: list[str] = Field(description="`name type` per column, `?` marking nullable ones.")
    artifact_uri: str = Field(description="The table's full description (and samples).")

    model_config = ConfigDict(populate_by_name=True, defer_build=True)


class DiscoveryRequestResult(Paged):
    discovery_id: str
    connection: str
    family: str
    cached: bool = Field(description="True when the catalog came from the cache, still valid.")
    discovered_at: str
    drift: dict[str, Any] | None = Field(
        description="What changed since the previous discovery of the same source, if any."
    )
    catalog_uri: str
    summary_uri: str
    tables: list[DiscoveredTable]


# -- OML --------------------------------------------------------------------------------


class OmlSchemaGetArgs(Args):
    pass


class OmlSchemaGetResult(Result):
    oml_version: str
    schema_: dict[str, Any] = Field(alias="schema", description="JSON Schema of an OML document.")
    components: list[str] = Field(description="Valid values of a step's `component`.")
    notes: list[str] = Field(description="Rules the schema cannot say (expressions, modes).")

    model_config = ConfigDict(populate_by_name=True, defer_build=True)


class DiagnosticInfo(Row):
    code: str = Field(description="Stable code (OML1xx structure, OML2xx references, …).")
    severity: Literal["error", "warning", "info"]
    message: str
    path: str = Field(description="JSON pointer into the document, e.g. /steps/1/config.")
    line: int = Field(description="1-based line in the OML text (0: not tied to a line).")
    column: int
    end_line: int
    end_column: int
    hint: str | None = None
    suggestions: list[str] = Field(default_factory=list)


class OmlValidateArgs(Args):
    oml: str | None = _OML
    pipeline: str | None = _PIPELINE
    params: dict[str, ParamValue] = _PARAMS
    profile: str | None = _PROFILE
    verify_sql: bool = Field(
        default=False,
        description="Also PREPARE each extract query on its database server (read-only, "
        "never executed): SQL413 when the server refuses it, SQL414 when it cannot be reached.",
    )
    cursor: str | None = _CURSOR


class OmlValidateResult(Paged):
    valid: bool = Field(description="True when there is no error (warnings may remain).")
    errors: int
    warnings: int
    diagnostics: list[DiagnosticInfo]


class OmlSaveArgs(Args):
    name: str = Field(
        description="File name under pipelines/: letters, digits, _ and - (optional .yaml).",
    )
    oml: str = Field(max_length=5 * 1024 * 1024, description="The OML pipeline text.")
    overwrite: bool = Field(default=False, description="Replace an existing pipeline of that name.")


class OmlSaveResult(Result):
    name: str = Field(description="Pass as `pipeline` to oml_validate or oml_compile.")
    path: str = Field(description="The saved file, relative to the project.")
    bytes: int
    sha256: str
    overwritten: bool
    warnings: list[DiagnosticInfo]


class OmlCompileArgs(Args):
    oml: str | None = _OML
    pipeline: str | None = _PIPELINE
    params: dict[str, ParamValue] = _PARAMS
    profile: str | None = _PROFILE
    optimize: bool = Field(default=True, description="Apply pushdown rewrites.")
    engine: Literal["duckdb", "spark"] = Field(
        default="duckdb",
        description="spark: also record each transform's Spark SQL, checked by Spark's own "
        "parser, so the plan runs on Spark too (every plan runs on DuckDB).",
    )
    cursor: str | None = _CURSOR


class WriteTarget(Row):
    step: str
    component: str
    kind: Literal["database_table", "file"]
    connection: str | None = Field(description="The connection reference the step writes with.")
    target: str = Field(description="schema.table for a database, the path for a file.")
    write_mode: str | None


class LineageSummary(Row):
    step: str
    columns: int
    sample: list[str] = Field(description="`column <- sources` for the first columns.")


class OmlCompileResult(Paged):
    ok: bool = Field(description="True when the plan compiled; false: see diagnostics.")
    cached: bool = Field(
        default=False, description="True when an identical earlier build was reused."
    )
    pipeline: str | None = None
    manifest_hash: str | None = Field(
        default=None, description="Names the plan: run_pipeline needs it."
    )
    fingerprints: dict[str, str] = Field(default_factory=dict)
    order: list[str] = Field(default_factory=list, description="The steps in run order.")
    rewrites: list[dict[str, Any]] = Field(default_factory=list)
    lineage: list[LineageSummary] = Field(default_factory=list)
    targets: list[WriteTarget] = Field(
        default_factory=list, description="What the plan modifies, with its write mode."
    )
    requires_confirmation: bool = Field(
        default=False,
        description="True when the plan writes database tables: run_pipeline then needs the "
        "user's confirmation.",
    )
    manifest_uri: str | None = None
    engines: list[str] = Field(
        default_factory=list, description="The engines the plan runs on (duckdb, spark)."
    )
    diagnostics: list[DiagnosticInfo] = Field(default_factory=list)


# -- runs -------------------------------------------------------------------------------


class RunPipelineArgs(Args):
    manifest_hash: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="The manifest_hash oml_compile returned."
    )
    params: dict[str, ParamValue] | None = Field(
        default=None,
        description="Optional: must equal the params the plan was compiled with (params are "
        "part of the plan; compile again to change them).",
    )
    confirm_writes: bool = Field(
        default=False,
        description="Set true only after the user agreed to the listed database writes. "
        "Counts only when the client cannot ask the user itself and the user started the "
        "server with --writes confirm; it never replaces the user's own answer.",
    )
    wait_s: float = Field(
        default=10.0,
        ge=0,
        le=120,
        description="Seconds to wait for the run to finish before answering (progress "
        "notifications are sent meanwhile); the run goes on in the background either way.",
    )
    parallel: int = Field(default=1, ge=1, le=16, description="Steps run at the same time.")
    keep_outputs: bool = Field(
        default=False,
        description="Keep each step's whole output for data_preview, not its first 100 rows.",
    )
    detach: bool = Field(
        default=False,
        description="Keep the run going when this client disconnects (default: a disconnect "
        "cancels it).",
    )
    engine: Literal["duckdb", "spark"] = Field(
        default="duckdb",
        description="What runs the steps: duckdb on the server's machine (default), or "
        "Apache Spark (database, file and duckdb.processor steps only).",
    )
    spark_master: str | None = Field(
        default=None,
        max_length=200,
        pattern=r"^(local(\[(\d+|\*)\])?|spark://[A-Za-z0-9.\-]+(:\d+)?(,[A-Za-z0-9.\-]+(:\d+)?)*)$",
        description="With engine spark: local[N] or spark://HOST:PORT (default local[2]).",
    )


class StepStatus(Row):
    id: str
    status: str
    rows_read: int = 0
    rows_written: int = 0
    duration_ms: int = 0
    error: str | None = None


class RunOutput(Row):
    step: str
    kind: Literal["table", "file", "step_table"] = Field(
        description="table: a database table the step wrote; file: a file it wrote; "
        "step_table: the step's table in the run's data plane (kept as a sample)."
    )
    target: str = Field(description="schema.table, the file's path, or the step id.")
    rows: int
    preview: str = Field(description="How to see its first rows.")


class RunStatusResult(Result):
    run_id: str
    pipeline: str | None = None
    manifest_hash: str | None = None
    status: str = Field(description="starting, running, success, failed or cancelled.")
    finished: bool
    started_at: str | None = None
    finished_at: str | None = None
    duration_ms: int | None = None
    steps: list[StepStatus] = Field(default_factory=list)
    outputs: list[RunOutput] = Field(
        default_factory=list,
        description="What each finished step made or wrote, with its rows; data_preview shows "
        "the first rows.",
    )
    error: str | None = Field(default=None, description="Why the run could not start, if so.")
    status_uri: str = Field(description="status.json of the run as a resource.")
    next: str = Field(description="What to do next.")


class RunStatusArgs(Args):
    run_id: str = Field(description="The run_id run_pipeline or runs_list returned.")
    wait_s: float = _WAIT


class RunCancelArgs(Args):
    run_id: str = Field(description="The run to cancel.")
    wait_s: float = Field(
        default=5.0, ge=0, le=60, description="Seconds to wait for the run to stop."
    )


class RunCancelResult(RunStatusResult):
    cancel_requested: bool = Field(description="False when the run had already finished.")


class RunLogsArgs(Args):
    run_id: str = Field(description="The run_id run_pipeline or runs_list returned.")
    kind: Literal["events", "metrics", "bundle"] = Field(
        default="events",
        description="events: the timeline; metrics: rows, times, memory; bundle: one text "
        "with the plan, configs, timeline and metrics for reading a run as a whole.",
    )
    step_id: str | None = Field(default=None, description="Only the lines of this step.")
    cursor: str | None = _CURSOR


class RunLogsResult(Paged):
    run_id: str
    kind: str
    items: list[dict[str, Any]] = Field(
        default_factory=list, description="Events or metrics, oldest first."
    )
    text: str | None = Field(default=None, description="The bundle's lines on this page.")


class RunsListArgs(Args):
    pipeline: str | None = Field(default=None, description="Only runs of this pipeline.")
    status: Literal["running", "success", "failed", "cancelled"] | None = Field(
        default=None, description="Only runs that ended (or are) in this status."
    )
    cursor: str | None = _CURSOR


class RunSummary(Row):
    run_id: str
    pipeline: str | None
    status: str | None
    started_at: str | None
    finished_at: str | None
    duration_ms: int | None
    manifest_hash: str | None


class RunsListResult(Paged):
    runs: list[RunSummary] = Field(description="Newest first.")


# -- guidance and memory ----------------------------------------------------------------


class GuideStartArgs(Args):
    intent: str = Field(
        min_length=1,
        max_length=2000,
        description="What the user wants, in their words (e.g. 'copy yesterday's orders "
        "from MySQL into Postgres every day').",
    )


class GuideStep(Row):
    tool: str
    why: str


class GuideComponent(Row):
    name: str
    why: str


class UsecaseRef(Row):
    name: str
    description: str
    uri: str


class ProjectState(Row):
    connections_file: bool
    connections: int
    saved_pipelines: int
    runs: int


class GuideStartResult(Result):
    goal: str = Field(description="How the intent was read: discover, author, run or debug.")
    next_steps: list[GuideStep]
    components: list[GuideComponent]
    examples: list[UsecaseRef]
    project: ProjectState
    notes: list[str]


class UsecasesListArgs(Args):
    include_oml: bool = Field(default=False, description="Also return each example's OML text.")
    cursor: str | None = _CURSOR


class Usecase(Row):
    name: str
    title: str
    description: str
    components: list[str]
    needs_database: bool
    uri: str
    oml: str | None = None


class UsecasesListResult(Paged):
    usecases: list[Usecase]


class MemoryCaptureArgs(Args):
    consent: bool = Field(
        description="Must be true: the user agreed that this note is stored in the project."
    )
    kind: Literal["decision", "lesson", "preference", "fact"] = Field(
        default="lesson", description="What sort of note it is."
    )
    text: str = Field(min_length=1, max_length=4000, description="The note, in plain words.")
    tags: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")]] = Field(
        default_factory=list, max_length=10, description="Up to 10 short labels to find it by."
    )


class MemoryCaptureResult(Result):
    id: str
    stored_in: str = Field(description="The memory file, relative to the project.")
    text: str = Field(description="The note as stored: secrets and personal data redacted.")
    redacted: dict[str, int] = Field(description="How many values of each kind were redacted.")


# -- data -------------------------------------------------------------------------------


class DataPreviewArgs(Args):
    run_id: str | None = Field(
        default=None, description="A run (runs_list); with step_id: that step's output."
    )
    step_id: str | None = Field(default=None, description="The step of run_id to show.")
    path: str | None = Field(
        default=None,
        description="Instead of a run: a CSV or Parquet file inside the project, e.g. "
        "output/revenue.csv.",
    )
    discovery_id: str | None = Field(
        default=None,
        description="Instead of a run: a discovery (discovery_request); with table: the "
        "sample rows it took of that table.",
    )
    table: str | None = Field(
        default=None, description="The table of discovery_id to show, e.g. orders or shop.orders."
    )
    limit: int = Field(default=20, ge=1, le=100, description="How many rows (1 to 100).")
    cursor: str | None = _CURSOR


class ColumnInfo(Row):
    name: str
    type: str


class DataPreviewResult(Paged):
    source: str = Field(
        description="What is shown: run_id/step_id, the file's path or discovery_id/table."
    )
    columns: list[ColumnInfo]
    rows: list[list[Any]] = Field(description="The first rows, one list of values per row.")
    rows_in_source: int | None = Field(
        default=None, description="How many rows the step's output has, when known."
    )
    note: str | None = Field(default=None, description="What the rows are, when not plain.")


class SqlQueryArgs(Args):
    connection: str = Field(description="A database connection, @family.alias (connections_list).")
    sql: str = Field(
        min_length=1,
        max_length=100_000,
        description="One read-only SELECT in the source's dialect.",
    )
    limit: int = Field(default=100, ge=1, le=1000, description="Most rows returned (1 to 1000).")
    timeout_s: float = Field(
        default=30, gt=0, le=300, description="Server-side time limit for the query, in seconds."
    )
    cursor: str | None = _CURSOR


class SqlQueryResult(Paged):
    run_id: str = Field(description="The query's run (run_logs has its events).")
    columns: list[ColumnInfo]
    rows: list[list[Any]]
    limited: bool = Field(description="True when the query may have more rows than `limit`.")
