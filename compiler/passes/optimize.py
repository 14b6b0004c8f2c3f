"""optimize — a DuckDB transform's filters and column choice pushed into its one SQL extract.

When a `duckdb.processor` reads a single SQL extract that feeds nothing else, the extract
need not ship rows and columns the transform throws away:

- **predicate pushdown**: a conjunct of the transform's WHERE that tests only the
  extract's columns against literals, in a way every engine evaluates alike, is added to
  the extract's query (transpiled to MySQL/PostgreSQL);
- **projection pruning**: when the transform names every column it uses (no `*`), the
  extract stops selecting the others.

The transform's own query is left exactly as written, its WHERE included. So the rows
reaching DuckDB are a superset-or-equal of the ones it keeps, and the transform still
decides: a source whose string comparison ignores case (MySQL's default collation) only
sends a few more rows, never fewer. Only predicates that are provably "the same or
weaker" at the source are pushed; that needs the columns' types, so pushdown happens
only when a discovered catalog vouches for them. Pruning needs only the column names.
An extract with `limit` or `offset` is never touched (filtering after a limit is not
filtering before it). Every rewrite is recorded in `program.rewrites`.

>>> from compiler.compile import check, default_context
>>> src = '''oml_version: "0.1.0"
... name: demo
... steps:
...   - id: orders
...     component: mysql.extractor
...     mode: read
...     config: {query: "SELECT id, total, note FROM orders"}
...   - id: big
...     component: duckdb.processor
...     mode: transform
...     inputs: {src: "${orders.df}"}
...     config: {query: "SELECT id FROM src WHERE total > 100"}
... '''
>>> program = check(src, default_context())
>>> [(r["kind"], r["after"]) for r in program.rewrites]
[('projection_pruning', 'SELECT id, total FROM orders')]
"""

from __future__ import annotations

import sqlglot.expressions as exp

from compiler.loader import pointer
from compiler.program import CompileContext, Program, SqlUnit
from compiler.sql.canonical import render_canonical
from compiler.sql.positions import offset_map
from compiler.sql.pruning import prune_projection
from compiler.sql.pushdown import push_predicates
from compiler.sql.rewrite import (
    PLAIN,
    Extract,
    Rewrite,
    identifier,
    masked_form,
    plain_column,
    render,
    tables_of,
)
from compiler.sql.safety import check_sql


def optimize(program: Program, context: CompileContext) -> Program:
    """Push filters and column choices from single-upstream transforms into their extract."""
    if not context.optimize or program.pipeline is None or context.registry is None:
        return program
    readers: dict[str, list[str]] = {}  # step -> the steps depending on it
    for reader, deps in program.dependencies.items():
        for dep in dict.fromkeys(deps):
            readers.setdefault(dep, []).append(reader)
    for transform_id in program.order:
        found = _candidate(program, context, transform_id, readers)
        if found is None:
            continue
        extract, transform, regions, alias = found
        pushed = push_predicates(extract, transform, regions, alias)
        if pushed is not None:
            _record(extract, pushed, transform_id)
        pruned = prune_projection(extract, transform, alias)
        if pruned is not None:
            _record(extract, pruned, transform_id)
            extract.outputs = pruned.detail["columns"]
        if extract.rewrites:
            _commit(program, extract)
    return program


# ---- which transforms qualify ---------------------------------------------------------


def _candidate(
    program: Program, context: CompileContext, transform_id: str, readers: dict[str, list[str]]
) -> tuple[Extract, exp.Select, list[tuple[int, int, str]], str] | None:
    assert program.pipeline is not None and context.registry is not None
    step = program.pipeline.step(transform_id)
    upstream = program.upstreams.get(transform_id, ())
    if step is None or transform_id in program.broken or len(upstream) != 1:
        return None
    spec = context.registry.get(step.component)
    unit = next(
        (u for u in program.sql.get(transform_id, {}).values() if u.role == "transform"), None
    )
    if spec is None or unit is None:
        return None
    (extract_id,) = upstream  # named in inputs or needs, or the step before it
    path = program.step_path(transform_id)
    if readers.get(extract_id) != [transform_id] or not _feeds_only(
        program, extract_id, transform_id
    ):
        return None
    extract = _extract(program, context, extract_id)
    if extract is None:
        return None
    tree = check_sql(unit.text, unit.dialect, "transform").tree
    if not isinstance(tree, exp.Select):
        return None
    source = tree.args.get("from_")
    table = source.this if isinstance(source, exp.From) else None
    names = {name.lower() for name in program.tables.get(transform_id, {})}
    if (
        not isinstance(table, exp.Table)
        or not isinstance(table.this, exp.Identifier)
        or table.db
        or table.name.lower() not in names
        or tree.args.get("joins")
        or tree.args.get("laterals")
        or tree.args.get("with_")
    ):
        return None
    regions = offset_map(program, pointer(f"{path}/config", unit.field), unit.text).regions
    return extract, tree, regions, table.alias_or_name


def _feeds_only(program: Program, extract_id: str, transform_id: str) -> bool:
    """The extract's table (and its run-time results) go to this transform and nowhere else
    (the caller checked that no other step depends on it)."""
    if extract_id in program.broken:
        return False
    path = program.step_path(transform_id)
    # a `when` on the transform reading the extract's rows_read would see fewer rows
    for where, condition in program.conditions.items():
        if where.startswith(path + "/") and any(
            getattr(r, "step", None) == extract_id for r in condition.references
        ):
            return False
    return all(
        not where.startswith(path + "/config")
        or not any(getattr(r, "step", None) == extract_id for r in template.references)
        for where, template in program.step_templates(transform_id)
    )


def _extract(program: Program, context: CompileContext, extract_id: str) -> Extract | None:
    assert program.pipeline is not None and context.registry is not None
    step = program.pipeline.step(extract_id)
    spec = context.registry.get(step.component) if step is not None else None
    if spec is None or not spec.capabilities.get("pushdown", False):
        return None
    sql_field = next((f for f in spec.sql_fields if f.role == "extract"), None)
    config = program.configs.get(extract_id)
    if sql_field is None or config is None or sql_field.field != "query":
        return None
    if config.get("limit") is not None or config.get("offset") is not None:
        return None
    outputs = list(program.lineage[extract_id]) if extract_id in program.lineage else None
    types = program.column_types.get(extract_id, {})
    unit = program.sql.get(extract_id, {}).get("query")
    if unit is not None:
        tree = check_sql(unit.text, unit.dialect, "extract").tree
        if tree is None:
            return None
        path = pointer(f"{program.step_path(extract_id)}/config", "query")
        regions = offset_map(program, path, unit.text).regions
        return Extract(extract_id, unit.dialect, dict(config), tree,
                        None, regions, outputs, types, False,
                        unit.text.strip())  # fmt: skip
    table, schema, columns = config.get("table"), config.get("schema"), config.get("columns")
    if not isinstance(table, str) or "query" in config:
        return None
    if not PLAIN.match(table) or (isinstance(schema, str) and not PLAIN.match(schema)):
        return None  # how the driver reads an odd table name is its business, not ours
    select = exp.select(
        *(
            [plain_column(c, sql_field.dialect) for c in columns]
            if isinstance(columns, list)
            else ["*"]
        )
    ).from_(
        exp.Table(
            this=identifier(table, sql_field.dialect),
            db=identifier(schema, sql_field.dialect) if isinstance(schema, str) else None,
        )
    )
    return Extract(extract_id, sql_field.dialect, dict(config), select, None,
                    [], outputs, types, True, render(select, sql_field.dialect))  # fmt: skip


# ---- recording ------------------------------------------------------------------------


def _record(extract: Extract, rewrite: Rewrite, transform_id: str) -> None:
    """Apply a rule's rewrite to the extract, unless the sql pass would refuse its SQL."""
    kind, tree, masked, detail = rewrite
    before = extract.text
    after = render(tree, extract.dialect)
    if check_sql(after, extract.dialect, "extract").problems:
        return  # never ship a rewrite that the sql pass itself would refuse
    extract.rewrites.append(
        {
            "kind": kind,
            "step": extract.step,
            "from_step": transform_id,
            "before": before,
            "after": after,
            "detail": detail,
        }
    )
    extract.tree, extract.masked, extract.text = tree, masked, after


def _commit(program: Program, extract: Extract) -> None:
    text = extract.text  # the last rewrite's SQL
    config = extract.config
    if extract.from_table:
        for key in ("table", "columns", "schema"):
            config.pop(key, None)
    config["query"] = text
    program.configs[extract.step] = config
    previous = program.sql.get(extract.step, {}).get("query")
    program.sql.setdefault(extract.step, {})["query"] = SqlUnit(
        field="query",
        dialect=extract.dialect,
        role="extract",
        text=text,
        canonical=render_canonical(masked_form(extract), extract.dialect),
        tables=previous.tables if previous is not None else tables_of(extract.tree),
        written=previous.written if previous is not None else "",
    )
    if extract.outputs is not None:
        keep = {name.lower() for name in extract.outputs}
        lineage = program.lineage.get(extract.step)
        if lineage is not None:
            program.lineage[extract.step] = {k: v for k, v in lineage.items() if k.lower() in keep}
        types = program.column_types.get(extract.step)
        if types is not None:
            program.column_types[extract.step] = {
                k: v for k, v in types.items() if k.lower() in keep
            }
    program.rewrites.extend(extract.rewrites)
