"""The program the passes fold over, and the context they read.

A pass is `(program, context) -> program`: it reads what earlier passes established,
adds diagnostics, and fills in its own part. The compiler itself opens no files and no
connections and reads no clock: everything from outside arrives in `CompileContext`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from compiler.diagnostics import Diagnostic, did_you_mean, suggestion_hint
from compiler.loader import Mapping as MappingNode
from compiler.loader import Node, Scalar, find
from compiler.model import Pipeline

if TYPE_CHECKING:
    from compiler.catalog import Catalog
    from components.registry import Registry
    from grammar import Condition, ConnectionRef, Template


@dataclass(frozen=True)
class CompileContext:
    registry: Registry | None = None
    #: Param values from the command line / MCP call (strings are converted to the declared type).
    params: Mapping[str, Any] = field(default_factory=dict)
    #: The environment, for OSIRIS_PARAM_<NAME>; the caller decides what to pass.
    env: Mapping[str, str] = field(default_factory=dict)
    profile: str | None = None
    #: Discovered catalogs by connection reference ("@mysql.main"); empty = no schema checks.
    catalogs: Mapping[str, Catalog] = field(default_factory=dict)
    #: Known connection references ("@mysql.main", "@mysql" for a default); None = don't check.
    connections: frozenset[str] | None = None
    #: What each connection reference resolves to, without secrets (see
    #: `compiler.connections`); the manifest records it per step. None = record nothing.
    connection_facts: Mapping[str, Mapping[str, Any]] | None = None
    optimize: bool = True
    #: Filesystem connection reference ("@filesystem.exports", "@filesystem" for the
    #: default) -> its absolute base_dir: where an absolute CSV path may point.
    filesystem_bases: Mapping[str, str] = field(default_factory=dict)
    #: The engines the plan is compiled for (`plan_engines`): DuckDB always; with "spark",
    #: each transform's Spark SQL is checked and recorded too (compiler/passes/spark.py).
    engines: tuple[str, ...] = ("duckdb",)


#: Every engine a plan can be compiled for, in the order a plan lists them.
ENGINES = ("duckdb", "spark")


def plan_engines(names: Iterable[str]) -> tuple[str, ...]:
    """The engines a plan compiled for `names` runs on, in `ENGINES` order: DuckDB always
    (a plan for Spark keeps its DuckDB query, so it runs on both). Raises ValueError for
    a name that is not an engine.

    >>> plan_engines(["spark"]), plan_engines(["spark", "duckdb"]), plan_engines([])
    (('duckdb', 'spark'), ('duckdb', 'spark'), ('duckdb',))
    """
    wanted = {name.strip().lower() for name in names if name.strip()}
    unknown = sorted(wanted - set(ENGINES))
    if unknown:
        raise ValueError(unknown[0])
    return tuple(e for e in ENGINES if e == "duckdb" or e in wanted)


def default_context(**overrides: Any) -> CompileContext:
    """A context with the installed components' specs; `overrides` set any other field.
    Here, not in `compiler.compile`, so that making one imports no pass (a reused build
    needs the context for its cache key, not the compiler)."""
    from dataclasses import replace

    from components.registry import default_registry

    return replace(CompileContext(registry=default_registry()), **overrides)


@dataclass(frozen=True)
class SqlUnit:
    """One SQL field of one step, after the sql pass."""

    field: str
    dialect: str
    role: str
    text: str  # the SQL as bound (params substituted)
    canonical: str  # normalized by sqlglot, params shown as ${params.x}
    tables: tuple[str, ...] = ()
    #: `canonical` as the author wrote it, before any optimize rewrite: what `oml_fp` hashes.
    written: str = ""


@dataclass
class Program:
    filename: str
    source: str
    document: MappingNode | None = None
    pipeline: Pipeline | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    #: Steps an earlier pass found broken: later passes skip them.
    broken: set[str] = field(default_factory=set)
    #: step id -> JSON pointer of the step in the document (every step with a string id,
    #: also the ones too broken to type-check, so references to them are not misreported).
    step_paths: dict[str, str] = field(default_factory=dict)
    #: Parsed expressions by JSON pointer of the string that holds them.
    templates: dict[str, Template] = field(default_factory=dict)
    conditions: dict[str, Condition] = field(default_factory=dict)
    connection_refs: dict[str, ConnectionRef] = field(default_factory=dict)
    #: step id -> ids it depends on (needs ∪ inputs ∪ when ∪ other references)
    dependencies: dict[str, tuple[str, ...]] = field(default_factory=dict)
    order: tuple[str, ...] = ()
    #: step id -> the steps whose tables it reads (inputs ∪ needs, or the previous step)
    upstreams: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: step id -> every table name its query may use -> the upstream step it stands for
    tables: dict[str, dict[str, str]] = field(default_factory=dict)
    #: Effective params after binding, and where each value came from.
    params: dict[str, Any] = field(default_factory=dict)
    param_sources: dict[str, str] = field(default_factory=dict)
    #: step id -> config with params substituted, aliases renamed, defaults filled.
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    sql: dict[str, dict[str, SqlUnit]] = field(default_factory=dict)
    #: step id -> output column -> list of "source.column" it derives from
    lineage: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    #: step id -> output column -> type, when known
    column_types: dict[str, dict[str, str]] = field(default_factory=dict)
    #: step id -> its output columns (name, type or None) in order, when every name is
    #: known: as DuckDB binds a transform, as the catalog or the SELECT list says otherwise
    outputs: dict[str, list[tuple[str, str | None]]] = field(default_factory=dict)
    #: step id -> its transform's query as Spark SQL (plans compiled for engine spark)
    spark_sql: dict[str, str] = field(default_factory=dict)
    rewrites: list[dict[str, Any]] = field(default_factory=list)
    #: Literal credentials found in the file: scrubbed from every diagnostic and output.
    secret_values: set[str] = field(default_factory=set)
    _templates_by_step: dict[str, list[tuple[str, Template]]] = field(
        default_factory=dict, repr=False, compare=False
    )
    _templates_indexed: int = field(default=-1, repr=False, compare=False)

    # -- reporting --------------------------------------------------------------------

    def node(self, path: str) -> Node | None:
        return find(self.document, path) if self.document is not None else None

    def report(
        self,
        code: str,
        message: str,
        path: str,
        *,
        hint: str | None = None,
        suggestions: tuple[str, ...] = (),
        severity: str = "error",
        at_key: bool = False,
        offset: tuple[int, int] | None = None,
        step: str | None = None,
    ) -> None:
        """Add a diagnostic positioned at the node `path` points to.

        `at_key` points at the key rather than its value; `offset` (start, end) points
        inside a string value, at the characters of an expression or SQL token.
        """
        line = column = end_line = end_column = 0
        node = self.node(path)
        if at_key and path:
            parent_path, _, key = path.rpartition("/")
            parent = self.node(parent_path)
            key = key.replace("~1", "/").replace("~0", "~")
            if isinstance(parent, MappingNode) and key in parent:
                node = parent.key_node(key)
        if node is None:  # the key is missing: point at the nearest ancestor that exists
            parent_path = path
            while node is None and parent_path:
                parent_path = parent_path.rpartition("/")[0]
                node = self.node(parent_path)
        if node is not None:
            line, column, end_line, end_column = (
                node.line,
                node.column,
                node.end_line,
                node.end_column,
            )
            if offset is not None and isinstance(node, Scalar):
                line, column = node.position_of(offset[0])
                end_line, end_column = node.position_of(max(offset[1] - 1, offset[0]))
                end_column += 1
        if hint is None and suggestions:
            hint = suggestion_hint(suggestions)
        self.diagnostics.append(
            Diagnostic(
                code,
                message,
                severity=severity,  # type: ignore[arg-type]
                path=path,
                line=line,
                column=column,
                end_line=end_line,
                end_column=end_column,
                hint=hint,
                suggestions=suggestions,
            )
        )
        if step is not None and severity == "error":
            self.broken.add(step)

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.diagnostics)

    def step_path(self, step_id: str) -> str:
        return self.step_paths.get(step_id, "/steps")

    def step_templates(self, step_id: str) -> list[tuple[str, Template]]:
        """The (path, template) pairs inside one step, in document order.

        Indexed once rather than scanned per step: passes ask this for every step, and a
        scan over every template of the pipeline made compiling N steps O(N²).
        """
        if self._templates_indexed != len(self.templates):
            index: dict[str, list[tuple[str, Template]]] = {}
            for path, template in self.templates.items():
                head = "/".join(path.split("/", 3)[:3])  # "/steps/<n>"
                index.setdefault(head, []).append((path, template))
            self._templates_by_step = index
            self._templates_indexed = len(self.templates)
        return self._templates_by_step.get(self.step_path(step_id), [])

    def step_ids(self) -> tuple[str, ...]:
        return tuple(self.step_paths)

    def suggest_step(self, name: str) -> tuple[str, ...]:
        return did_you_mean(name, self.step_ids())


def param_text(value: Any) -> str:
    """How a param value reads inside a longer string (SQL, paths)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)
