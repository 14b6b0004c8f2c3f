"""Tables, columns and lineage: sqlglot's scopes resolved against what is known.

`analyze` resolves every column of a query to the relation it comes from (a catalog
table, an upstream step's output) and traces each output column to its sources.
`CatalogLookup` and `UpstreamLookup` say what a table is.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import sqlglot.expressions as exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.scope import Scope, traverse_scope

from compiler.diagnostics import did_you_mean
from compiler.sql.problem import Problem
from compiler.sql.safety import node_span

if TYPE_CHECKING:
    from compiler.catalog import Catalog


# ---- schemas, name resolution and lineage ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Relation:
    """A table a query reads: how lineage names it, and its columns when known."""

    display: str
    columns: tuple[tuple[str, str | None], ...] | None = None

    def find(self, name: str) -> tuple[str, str | None] | None:
        lowered = name.lower()
        return next((c for c in self.columns or () if c[0].lower() == lowered), None)


class Lookup(Protocol):
    """How a query's table maps to what is known of it: None means "no such table"."""

    known_tables: tuple[str, ...]

    def __call__(self, table: exp.Table) -> Relation | None: ...


class NoCatalog:
    """No catalog: every table exists, with columns unknown."""

    known_tables: tuple[str, ...] = ()

    def __call__(self, table: exp.Table) -> Relation | None:
        return Relation(".".join(p for p in (table.db, table.name) if p))


@dataclass
class Analysis:
    problems: list[Problem]
    #: Output columns in order with their types, when every one of them is known.
    outputs: list[tuple[str, str | None]] | None = None
    lineage: dict[str, list[str]] | None = None
    tables: tuple[str, ...] = ()


class _Output(NamedTuple):
    name: str
    type: str | None
    #: The projection it comes from, or (source key, column) for a `*` expansion.
    origin: exp.Expr | tuple[str, str]


class _Resolver:
    """Names in a parsed query resolved scope by scope against the known relations."""

    def __init__(self, scopes: list[Scope], lookup: Lookup, dialect: str) -> None:
        self.scopes = scopes
        self.dialect = dialect
        self.relations: dict[int, Relation | None] = {}
        self.missing: list[exp.Table] = []
        self._outputs: dict[int, list[_Output] | None] = {}
        for scope in scopes:
            for source in scope.sources.values():
                if isinstance(source, exp.Table) and id(source) not in self.relations:
                    if not isinstance(source.this, exp.Identifier):
                        self.relations[id(source)] = Relation("")  # a table function
                        continue
                    relation = lookup(source)
                    if relation is None:
                        self.missing.append(source)
                    self.relations[id(source)] = relation

    # sources -------------------------------------------------------------------------

    def selected(self, scope: Scope) -> list[tuple[str, exp.Table | Scope]]:
        try:
            return [(name, source) for name, (_, source) in scope.selected_sources.items()]
        except SqlglotError:
            return []

    def source(self, scope: Scope | None, name: str) -> tuple[Scope, exp.Table | Scope] | None:
        """The source `name` (an alias or table name) refers to, here or in an outer scope."""
        lowered = name.lower()
        while scope is not None:
            for key, source in scope.sources.items():
                if key.lower() == lowered:
                    return scope, source
            scope = scope.parent
        return None

    def columns(self, source: exp.Table | Scope) -> tuple[tuple[str, str | None], ...] | None:
        if isinstance(source, exp.Table):
            relation = self.relations.get(id(source))
            return relation.columns if relation is not None else None
        outputs = self.outputs(source)
        return tuple((o.name, o.type) for o in outputs) if outputs is not None else None

    def has(self, source: exp.Table | Scope, name: str) -> bool | None:
        columns = self.columns(source)
        if columns is None:
            return None
        lowered = name.lower()
        return any(c[0].lower() == lowered for c in columns)

    # outputs -------------------------------------------------------------------------

    def outputs(self, scope: Scope) -> list[_Output] | None:
        key = id(scope)
        if key not in self._outputs:
            self._outputs[key] = None  # a recursive CTE refers to itself: unknown
            self._outputs[key] = self._compute_outputs(scope)
        return self._outputs[key]

    def _compute_outputs(self, scope: Scope) -> list[_Output] | None:
        expression = scope.expression
        if isinstance(expression, exp.SetOperation) and scope.set_operation_scopes:
            return self.outputs(scope.set_operation_scopes[0])
        if not isinstance(expression, exp.Select):
            return None
        found: list[_Output] = []
        for projection in expression.expressions:
            if isinstance(projection, exp.Star) or (
                isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)
            ):
                qualifier = projection.table if isinstance(projection, exp.Column) else ""
                star = projection if isinstance(projection, exp.Star) else projection.this
                if star.args.get("replace") or star.args.get("rename"):
                    return None
                expanded = self._expand_star(scope, qualifier)
                if expanded is None:
                    return None
                excluded = {e.name.lower() for e in star.args.get("except_") or ()}
                found.extend(o for o in expanded if o.name.lower() not in excluded)
                continue
            # engines name an unaliased expression each their own way: only an alias or a
            # plain column gives a name every engine agrees on
            if not isinstance(projection, (exp.Alias, exp.Column)) or not projection.alias_or_name:
                return None
            name = projection.alias_or_name
            found.append(_Output(name, self.type_of(scope, projection), projection))
        if scope.outer_columns:
            if len(scope.outer_columns) != len(found):
                return None
            found = [o._replace(name=n) for o, n in zip(found, scope.outer_columns, strict=True)]
        return found

    def _expand_star(self, scope: Scope, qualifier: str) -> list[_Output] | None:
        found: list[_Output] = []
        for key, source in self.selected(scope):
            if qualifier and key.lower() != qualifier.lower():
                continue
            columns = self.columns(source)
            if columns is None:
                return None
            found.extend(_Output(name, kind, (key, name)) for name, kind in columns)
        return found or None

    def type_of(self, scope: Scope, expression: exp.Expr) -> str | None:
        node = expression.unalias()
        if isinstance(node, exp.Column):
            resolved = self.resolve(scope, node)
            if resolved is None:
                return None
            columns = self.columns(resolved[1])
            found = next((c for c in columns or () if c[0].lower() == node.name.lower()), None)
            return found[1] if found else None
        if isinstance(node, (exp.Cast, exp.TryCast)):
            return normalized_type(node.to)
        if isinstance(node, exp.Count):
            return "integer"
        if isinstance(node, (exp.Min, exp.Max, exp.Sum)) and isinstance(node.this, exp.Expr):
            inner = self.type_of(scope, node.this)
            if isinstance(node, exp.Sum):
                # MySQL sums exact numbers as DECIMAL; PostgreSQL and DuckDB keep integers
                if inner == "integer" and self.dialect == "mysql":
                    return "decimal"
                return inner if inner in ("integer", "decimal", "float") else None
            return inner
        if isinstance(node, exp.Literal):
            return "string" if node.is_string else ("integer" if node.is_int else "decimal")
        return None

    # columns -------------------------------------------------------------------------

    def resolve(self, scope: Scope, column: exp.Column) -> tuple[Scope, exp.Table | Scope] | None:
        """The source a column reads, when that can be told."""
        if column.table:
            return self.source(scope, column.table)
        current: Scope | None = scope
        while current is not None:
            selected = self.selected(current)
            having = [(current, s) for _, s in selected if self.has(s, column.name)]
            if len(having) == 1:
                return having[0]
            if len(selected) == 1 and not having and self.has(selected[0][1], column.name) is None:
                return current, selected[0][1]
            if having:
                return None
            current = current.parent
        return None

    def owners(self) -> dict[int, Scope]:
        """Each column's own scope: the innermost that lists it (scopes come inner first)."""
        owner: dict[int, Scope] = {}
        for scope in self.scopes:
            for column in scope.columns:
                owner.setdefault(id(column), scope)
        return owner

    # lineage -------------------------------------------------------------------------

    def trace(self, scope: Scope, origin: exp.Expr | tuple[str, str], depth: int = 0) -> set[str]:
        if depth > 50:
            return set()
        if isinstance(origin, tuple):
            key, name = origin
            found = self.source(scope, key)
            return self._trace_name(found[1], name, depth) if found else set()
        out: set[str] = set()
        for column in _columns_in(origin):
            resolved = self.resolve(scope, column)
            if resolved is not None:
                out |= self._trace_name(resolved[1], column.name, depth)
        return out

    def _trace_name(self, source: exp.Table | Scope, name: str, depth: int) -> set[str]:
        if isinstance(source, exp.Table):
            relation = self.relations.get(id(source))
            if relation is None or not relation.display:
                return set()  # a table function: no table to name
            found = relation.find(name)
            return {f"{relation.display}.{found[0] if found else name}"}
        return self._trace_scope(source, name, depth + 1)

    def _trace_scope(self, scope: Scope, name: str, depth: int) -> set[str]:
        if isinstance(scope.expression, exp.SetOperation) and scope.set_operation_scopes:
            out: set[str] = set()
            left = self.outputs(scope.set_operation_scopes[0]) or []
            index = next((i for i, o in enumerate(left) if o.name.lower() == name.lower()), None)
            if index is None:
                return out
            for branch in scope.set_operation_scopes:
                outputs = self.outputs(branch) or []
                if index < len(outputs):
                    out |= self._trace_output(branch, outputs[index], depth)
            return out
        outputs = self.outputs(scope) or []
        found = next((o for o in outputs if o.name.lower() == name.lower()), None)
        return self._trace_output(scope, found, depth) if found else set()

    def _trace_output(self, scope: Scope, output: _Output, depth: int) -> set[str]:
        if isinstance(scope.expression, exp.SetOperation):
            return self._trace_scope(scope, output.name, depth + 1)
        return self.trace(scope, output.origin, depth + 1)


def _columns_in(node: exp.Expr) -> Iterator[exp.Column]:
    """Columns of an expression in its own scope (not inside a nested query)."""
    for child in node.walk(prune=lambda n: n is not node and isinstance(n, exp.Query)):
        if isinstance(child, exp.Column) and not isinstance(child.this, exp.Star):
            yield child


def normalized_type(data_type: exp.DataType | None) -> str | None:
    """A sqlglot type in the catalog's normalized vocabulary."""
    if data_type is None:
        return None
    kind = data_type.this
    T = exp.DataType.Type
    groups: tuple[tuple[str, frozenset[Any]], ...] = (
        ("integer", frozenset({T.TINYINT, T.SMALLINT, T.MEDIUMINT, T.INT, T.BIGINT,
                               T.UTINYINT, T.USMALLINT, T.UINT, T.UBIGINT, T.INT128})),
        ("decimal", frozenset({T.DECIMAL, T.MONEY})),
        ("float", frozenset({T.FLOAT, T.DOUBLE})),
        ("boolean", frozenset({T.BOOLEAN})),
        ("string", frozenset({T.VARCHAR, T.CHAR, T.NVARCHAR, T.NCHAR})),
        ("text", frozenset({T.TEXT, T.MEDIUMTEXT, T.LONGTEXT, T.TINYTEXT})),
        ("date", frozenset({T.DATE})),
        ("datetime", frozenset({T.DATETIME, T.TIMESTAMP})),
        ("timestamptz", frozenset({T.TIMESTAMPTZ, T.TIMESTAMPLTZ})),
        ("time", frozenset({T.TIME})),
        ("json", frozenset({T.JSON, T.JSONB})),
        ("binary", frozenset({T.BINARY, T.VARBINARY, T.BLOB})),
        ("uuid", frozenset({T.UUID})),
    )  # fmt: skip
    return next((name for name, kinds in groups if kind in kinds), "other")


def analyze(
    tree: exp.Expr,
    lookup: Lookup,
    *,
    check_columns: bool,
    where: str,
    dialect: str,
) -> Analysis:
    """Resolve tables and columns; report unknown or ambiguous ones when `check_columns`.

    sqlglot's scope machinery can fail on constructs it does not model; then there is
    simply no analysis (no lineage, no schema check) — never a crash, never a false error.
    """
    try:
        scopes = traverse_scope(tree)
        resolver = _Resolver(scopes, lookup, dialect)
    except (SqlglotError, RecursionError, KeyError, ValueError, AttributeError):
        return Analysis([])
    if not scopes:
        return Analysis([])
    problems = [_unknown_table(table, lookup, where, dialect) for table in resolver.missing]
    if check_columns and not resolver.missing:
        # if sqlglot cannot classify the columns: no check rather than a wrong one
        with contextlib.suppress(SqlglotError, RecursionError):
            problems.extend(_check_columns(resolver))
    analysis = Analysis(problems, tables=_tables(resolver))
    try:
        root = scopes[-1]
        outputs = resolver.outputs(root)
        if outputs is not None:
            analysis.outputs = [(o.name, o.type) for o in outputs]
            lineage: dict[str, list[str]] = {}
            for output in outputs:
                traced = resolver._trace_output(root, output, 0)
                lineage.setdefault(output.name, [])
                lineage[output.name] = sorted({*lineage[output.name], *traced})
            analysis.lineage = lineage
    except (SqlglotError, RecursionError, KeyError, ValueError, AttributeError):
        analysis.outputs = analysis.lineage = None
    return analysis


def _tables(resolver: _Resolver) -> tuple[str, ...]:
    names = {r.display for r in resolver.relations.values() if r is not None and r.display}
    return tuple(sorted(names))


def _unknown_table(table: exp.Table, lookup: Lookup, where: str, dialect: str) -> Problem:
    known = lookup.known_tables
    suggestions = did_you_mean(table.name, known)
    shown = ".".join(p for p in (table.db, table.name) if p)
    return Problem(
        "SQL407",
        f"unknown table '{shown}' in {where}",
        node_span(table.this),
        suggestions=suggestions,
        hint=None
        if suggestions
        else ("tables: " + ", ".join(sorted(known)[:20]) if known else "run osiris discover"),
    )


def _check_columns(resolver: _Resolver) -> list[Problem]:
    problems: list[Problem] = []
    owners = resolver.owners()
    seen: set[int] = set()
    for scope in resolver.scopes:
        for column in scope.columns:
            if id(column) in seen or owners.get(id(column)) is not scope:
                continue
            seen.add(id(column))
            if column.find_ancestor(exp.Lambda, exp.Comprehension) is not None:
                continue
            problem = _check_column(resolver, scope, column)
            if problem is not None:
                problems.append(problem)
    return problems


def _check_column(resolver: _Resolver, scope: Scope, column: exp.Column) -> Problem | None:
    name = column.name
    if not name or isinstance(column, exp.Pseudocolumn):
        return None
    if column.table:
        found = resolver.source(scope, column.table)
        if found is None or column.db:
            return None  # not a source: a struct field, a record, an outer name
        source = found[1]
        if resolver.has(source, name) is not False:
            return None
        pool = [c[0] for c in resolver.columns(source) or ()]
        return Problem(
            "SQL408",
            f"{_describe(resolver, column.table, source)} has no column '{name}'",
            node_span(column.this),
            suggestions=did_you_mean(name, pool),
            hint=None if did_you_mean(name, pool) else "columns: " + ", ".join(pool[:30]),
        )
    current: Scope | None = scope
    candidates: list[str] = []
    while current is not None:
        selected = resolver.selected(current)
        answers = [(key, source, resolver.has(source, name)) for key, source in selected]
        if any(answer is None for _, _, answer in answers):
            return None  # a source with unknown columns could have it
        having = [(key, source) for key, source, answer in answers if answer]
        if len(having) > 1:
            return _ambiguous(resolver, current, column, having)
        if having or _is_alias(current, name):
            return None
        if current is scope:
            candidates = [c[0] for _, source in selected for c in resolver.columns(source) or ()]
        current = current.parent
    if not candidates and not resolver.selected(scope):
        return None
    suggestions = did_you_mean(name, candidates)
    return Problem(
        "SQL408",
        f"unknown column '{name}'",
        node_span(column.this),
        suggestions=suggestions,
        hint=None if suggestions else "columns: " + ", ".join(sorted(set(candidates))[:30]),
    )


def _ambiguous(
    resolver: _Resolver, scope: Scope, column: exp.Column, having: list[tuple[str, Any]]
) -> Problem | None:
    select = scope.expression
    for join in select.args.get("joins") or []:
        if join.args.get("kind") == "NATURAL" or join.args.get("method") == "NATURAL":
            return None
        if any(u.name.lower() == column.name.lower() for u in join.args.get("using") or []):
            return None
    options = tuple(sorted(f"{key}.{column.name}" for key, _ in having))
    return Problem(
        "SQL409",
        f"column '{column.name}' is ambiguous: "
        + " and ".join(_describe(resolver, key, source) for key, source in having)
        + " both have it",
        node_span(column.this),
        hint="qualify it: " + " or ".join(options),
        suggestions=options,
    )


def _describe(resolver: _Resolver, key: str, source: exp.Table | Scope) -> str:
    if isinstance(source, exp.Table):
        relation = resolver.relations.get(id(source))
        display = relation.display if relation is not None else source.name
        return f"table '{display}'" if key.lower() == display.lower() else f"'{key}' ({display})"
    return f"'{key}'"


def _is_alias(scope: Scope, name: str) -> bool:
    expression = scope.expression
    if not isinstance(expression, exp.Select):
        return False
    lowered = name.lower()
    return any(
        isinstance(p, exp.Alias) and p.alias.lower() == lowered for p in expression.expressions
    )


# ---- catalogs -------------------------------------------------------------------------

#: Tables a server has without the catalog listing them (system schemas, DUAL).
_SYSTEM_TABLES: Mapping[str, re.Pattern[str]] = {
    "mysql": re.compile(r"^(dual)$", re.I),
    "postgres": re.compile(r"^(pg_.*|information_schema)$", re.I),
}


class CatalogLookup:
    """Tables of an extract's query looked up in the source's catalog."""

    def __init__(self, catalog: Catalog, dialect: str, schema: str | None = None) -> None:
        self.catalog = catalog
        self.dialect = dialect
        self.schema = schema or catalog.default_schema
        self.known_tables = tuple(sorted({t.name for t in catalog.tables}))
        self._schemas = {t.schema_name.lower() for t in catalog.tables}

    def __call__(self, table: exp.Table) -> Relation | None:
        name, db = table.name, table.db
        display = f"{db}.{name}" if db else name
        if table.catalog or (db and db.lower() not in self._schemas):
            return Relation(display)  # another database or schema: not discovered
        matches = [t for t in self.catalog.tables if t.name.lower() == name.lower()]
        if db:
            matches = [t for t in matches if t.schema_name.lower() == db.lower()]
        elif self.schema and len(matches) > 1:
            preferred = [t for t in matches if t.schema_name.lower() == self.schema.lower()]
            matches = preferred or matches
        if not matches:
            system = _SYSTEM_TABLES.get(self.dialect)
            if system is not None and (system.match(name) or (db and system.match(db))):
                return Relation(display)
            return None
        found = matches[0]
        return Relation(display, tuple((c.name, c.normalized_type) for c in found.columns))


class UpstreamLookup:
    """A transform's tables: its inputs, with the upstream steps' schemas when known."""

    def __init__(self, available: Mapping[str, str], schemas: Mapping[str, Any]) -> None:
        self.available = {name.lower(): step for name, step in available.items()}
        self.schemas = schemas
        self.known_tables = tuple(sorted(available))

    def __call__(self, table: exp.Table) -> Relation | None:
        step = self.available.get(table.name.lower())
        if step is None:
            return Relation(table.name)  # SQL405 has been reported for it
        columns = self.schemas.get(step)
        return Relation(step, tuple(columns) if columns is not None else None)
