"""sql — every SQL field parsed in its dialect: extracts only read, transforms read only inputs.

Each field a component declares (`x-sql: {field, dialect, role}`) is parsed once with
sqlglot. An `extract` is one statement whose whole tree passes a read-only allow-list; a
`transform` (DuckDB) is the same, and may read only its inputs — never a file, a URL or
another database. With a catalog of the source, tables and columns must exist. The pass
leaves canonical SQL (`program.sql`), column lineage and column types behind.

>>> from compiler.compile import validate_text
>>> src = '''oml_version: "0.1.0"
... name: demo
... steps:
...   - id: a
...     component: mysql.extractor
...     mode: read
...     config:
...       query: |
...         SELECT id,
...                LOAD_FILE('/etc/passwd') AS p
...         FROM orders
... '''
>>> [(d.code, d.line, d.column, d.message) for d in validate_text(src)]
[('SQL403', 10, 16, 'LOAD_FILE() is not allowed: it reads files on the database server')]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlglot.expressions as exp

from compiler.diagnostics import did_you_mean
from compiler.loader import pointer
from compiler.program import CompileContext, Program, SqlUnit
from compiler.sql.canonical import canonical_text, render_canonical
from compiler.sql.engine import Bound, bind_transform
from compiler.sql.policy import fold_name
from compiler.sql.positions import offset_map
from compiler.sql.problem import Problem
from compiler.sql.safety import check_param_values, check_sql, check_transform_tables
from compiler.sql.scope import CatalogLookup, Lookup, NoCatalog, UpstreamLookup, analyze

if TYPE_CHECKING:
    from compiler.catalog import Catalog
    from components.registry import ComponentSpec, SqlField


def catalog_for(
    context: CompileContext, spec: ComponentSpec, config: Mapping[str, Any]
) -> tuple[str, Catalog] | None:
    """The catalog of the connection an extract reads, when discovery has one."""
    connection = config.get("connection")
    key = connection if isinstance(connection, str) else f"@{spec.family}"
    catalog = context.catalogs.get(key)
    if catalog is None and spec.family and key == f"@{spec.family}":
        catalog = context.catalogs.get(f"@{spec.family}")
    return (key, catalog) if catalog is not None else None


# ---- the pass -------------------------------------------------------------------------


def sql(program: Program, context: CompileContext) -> Program:
    """Check every SQL field; fill `program.sql`, `program.lineage`, `program.column_types`."""
    pipeline = program.pipeline
    registry = context.registry
    if pipeline is None or registry is None:
        return program
    by_id = {step.id: step for step in pipeline.steps}
    ordered = [*program.order, *(s.id for s in pipeline.steps if s.id not in program.order)]
    schemas = _Schemas()
    for step_id in ordered:
        step = by_id.get(step_id)
        if step is None or step_id in program.broken:
            continue
        spec = registry.get(step.component)
        if spec is None:
            continue
        config = program.configs.get(step_id, {})
        path = program.step_path(step_id)
        for sql_field in spec.sql_fields:
            text = config.get(sql_field.field)
            if not isinstance(text, str):
                continue
            field_path = pointer(f"{path}/config", sql_field.field)
            _check_field(program, context, step_id, spec, sql_field, text, field_path, schemas)
        extract = any(f.role == "extract" for f in spec.sql_fields)
        if extract and not any(isinstance(config.get(f.field), str) for f in spec.sql_fields):
            _table_extract(program, context, step_id, spec, config, path, schemas)
    program.outputs = {step: list(columns) for step, columns in schemas.outputs.items()}
    return program


@dataclass
class _Schemas:
    """What the pass learned of each step's output, in step order."""

    #: step id -> output columns (name, type), when every name is known
    outputs: dict[str, list[tuple[str, str | None]]] = field(default_factory=dict)
    #: steps whose output a catalog vouches for: only these make downstream checks strict
    vouched: set[str] = field(default_factory=set)


def _check_field(
    program: Program,
    context: CompileContext,
    step_id: str,
    spec: ComponentSpec,
    sql_field: SqlField,
    text: str,
    path: str,
    schemas: _Schemas,
) -> None:
    role, dialect = sql_field.role, sql_field.dialect
    config = program.configs.get(step_id, {})
    offsets = offset_map(program, path, text)

    def report(problem: Problem) -> None:
        offset = offsets.span(problem.span) if problem.span is not None else None
        program.report(
            problem.code,
            problem.message,
            path,
            offset=offset,
            hint=problem.hint,
            suggestions=problem.suggestions,
            step=step_id,
        )

    checked = check_sql(text, dialect, role, trusted_functions(program))
    problems = list(checked.problems)
    if checked.parsed is not None:
        problems += check_param_values(text, dialect, offsets.regions)
    available = program.tables.get(step_id, {}) if role == "transform" else {}
    if checked.parsed is not None and role == "transform":
        reported = {(p.code, p.span) for p in problems}
        problems += [
            p
            for p in check_transform_tables(checked.parsed, available)
            if (p.code, p.span) not in reported
        ]
    for problem in sorted(problems, key=lambda p: p.span or (0, 0)):
        report(problem)
    tree = checked.parsed
    if tree is None or problems:
        return
    if role == "transform":
        upstream = set(available.values())
        vouched = upstream <= schemas.vouched
        lookup: Lookup = UpstreamLookup(available, schemas.outputs)
        analysis = analyze(tree, lookup, check_columns=vouched,
                           where="the transform's inputs", dialect=dialect)  # fmt: skip
    else:
        found = catalog_for(context, spec, config)
        if found is not None:
            schema = config.get("schema")
            lookup = CatalogLookup(found[1], dialect, schema if isinstance(schema, str) else None)
        else:
            lookup = NoCatalog()
        analysis = analyze(tree, lookup, check_columns=found is not None,
                           where=found[0] if found else "the source", dialect=dialect)  # fmt: skip
        vouched = found is not None
    for problem in analysis.problems:
        report(problem)
    if analysis.problems:
        return
    engine_outputs = None
    if role == "transform" and dialect == "duckdb":
        bound = _bind_in_duckdb(text, tree, available, schemas)
        for problem in bound.problems:
            report(problem)
        if bound.problems:
            return
        engine_outputs = bound.outputs
    canonical = canonical_text(
        text, dialect, role, tuple(offsets.regions), trusted_functions(program)
    )
    program.sql.setdefault(step_id, {})[sql_field.field] = SqlUnit(
        field=sql_field.field,
        dialect=dialect,
        role=role,
        text=text,
        canonical=canonical,
        tables=analysis.tables,
        written=canonical,
    )
    _record_outputs(program, step_id, analysis.outputs, analysis.lineage, schemas, vouched)
    if role == "transform" and dialect == "duckdb":
        # What downstream transforms bind against: DuckDB's own columns, since DuckDB runs
        # the query (a PIVOT whose columns depend on the data is refused above: MULTI).
        if engine_outputs is None:
            schemas.outputs.pop(step_id, None)
        else:
            schemas.outputs[step_id] = list(engine_outputs)


def _bind_in_duckdb(
    text: str, tree: exp.Expr, available: Mapping[str, str], schemas: _Schemas
) -> Bound:
    """The transform bound by DuckDB over its inputs' columns: as written, then as run.

    The second bind is of the text the runtime sends (sqlglot's rendering): if only that
    one fails, the rendering changed the query, which is Osiris's bug, not the author's.
    """
    tables: dict[str, list[tuple[str, str | None]] | None] = {}
    for name, step in available.items():
        columns = schemas.outputs.get(step)
        distinct = columns is not None and len({c.lower() for c, _ in columns}) == len(columns)
        tables[name] = list(columns) if columns is not None and distinct else None
    bound = bind_transform(text, tables)
    if bound.problems:
        return bound
    rendered = render_canonical(tree, "duckdb")
    again = bind_transform(rendered, tables)
    if again.problems:
        problem = again.problems[0]
        return Bound(
            (
                Problem(
                    "SQL412",
                    f"DuckDB refuses the query as Osiris would run it: {problem.message}",
                    hint="this is a bug in Osiris's SQL rendering: please report it with "
                    "the query; rewriting the expression differently avoids it",
                ),
            )
        )
    return bound


def _record_outputs(
    program: Program,
    step_id: str,
    outputs: list[tuple[str, str | None]] | None,
    lineage: dict[str, list[str]] | None,
    schemas: _Schemas,
    vouched: bool,
) -> None:
    if outputs is None:
        return
    if lineage is not None:
        program.lineage[step_id] = lineage
    types = {name: kind for name, kind in outputs if kind is not None}
    if types:
        program.column_types[step_id] = types
    schemas.outputs[step_id] = outputs
    if vouched:
        schemas.vouched.add(step_id)


def trusted_functions(program: Program) -> frozenset[str]:
    """The function names the pipeline vouches for (`trusted_functions:`), folded."""
    pipeline = program.pipeline
    names = pipeline.trusted_functions if pipeline is not None else []
    return frozenset(fold_name(name) for name in names)


def _table_extract(
    program: Program,
    context: CompileContext,
    step_id: str,
    spec: ComponentSpec,
    config: Mapping[str, Any],
    path: str,
    schemas: _Schemas,
) -> None:
    """A `table:` (+ `columns:`) extract: check both against the catalog; record lineage."""
    table = config.get("table")
    if not isinstance(table, str) or spec.family is None:
        return
    columns = config.get("columns")
    wanted = [c for c in columns if isinstance(c, str)] if isinstance(columns, list) else None
    schema = config.get("schema")
    display = f"{schema}.{table}" if isinstance(schema, str) else table
    found = catalog_for(context, spec, config)
    if found is None:
        if wanted is not None:
            traced = {c: [f"{display}.{c}"] for c in wanted}
            _record_outputs(program, step_id, [(c, None) for c in wanted], traced, schemas, False)
        return
    where, catalog = found
    lookup = CatalogLookup(
        catalog, _family_dialect(spec), schema if isinstance(schema, str) else None
    )
    node = exp.Table(
        this=exp.to_identifier(table),
        db=exp.to_identifier(schema) if isinstance(schema, str) else None,
    )
    relation = lookup(node)
    if relation is None:
        suggestions = did_you_mean(table, lookup.known_tables)
        program.report(
            "SQL407",
            f"unknown table '{display}' in {where}",
            f"{path}/config/table",
            suggestions=suggestions,
            hint=None if suggestions else "tables: " + ", ".join(lookup.known_tables[:20]),
            step=step_id,
        )
        return
    if relation.columns is None:
        return
    outputs: list[tuple[str, str | None]] = []
    lineage: dict[str, list[str]] = {}
    for index, name in enumerate(
        wanted if wanted is not None else [c[0] for c in relation.columns]
    ):
        column = relation.find(name)
        if column is None:
            pool = [c[0] for c in relation.columns]
            program.report(
                "SQL408",
                f"table '{display}' has no column '{name}'",
                f"{path}/config/columns/{index}",
                suggestions=did_you_mean(name, pool),
                hint=None if did_you_mean(name, pool) else "columns: " + ", ".join(pool[:30]),
                step=step_id,
            )
            continue
        outputs.append((name, column[1]))
        lineage[name] = [f"{display}.{column[0]}"]
    if step_id in program.broken:
        return
    _record_outputs(program, step_id, outputs, lineage, schemas, vouched=True)


def _family_dialect(spec: ComponentSpec) -> str:
    extract = [f.dialect for f in spec.sql_fields if f.role == "extract"]
    return extract[0] if extract else "postgres"
