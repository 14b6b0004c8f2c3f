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

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlglot.expressions as exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ErrorLevel

from compiler.loader import pointer
from compiler.program import CompileContext, Program, SqlUnit
from compiler.sql.canonical import mask_params, render_canonical
from compiler.sql.positions import offset_map
from compiler.sql.safety import check_sql

Verdict = Literal["exact", "superset"]

_NUMERIC = frozenset({"integer", "decimal"})
_STRING = frozenset({"string", "text"})
_DATE_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?$")
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
_FLIPPED: Mapping[type[exp.Expr], type[exp.Expr]] = {  # a < column  ⇔  column > a
    exp.GT: exp.LT,
    exp.LT: exp.GT,
    exp.GTE: exp.LTE,
    exp.LTE: exp.GTE,
    exp.EQ: exp.EQ,
    exp.NEQ: exp.NEQ,
}
#: The wrapper alias when a filter has to go around the extract's query.
WRAP_ALIAS = "_osiris_pushdown"


@dataclass
class _Extract:
    """The extract side of a rewrite, as it stands before and after each step."""

    step: str
    dialect: str
    config: dict[str, Any]
    #: the query as bound, and (made when first needed) with params shown as `${params.x}`
    tree: exp.Expr
    masked: exp.Expr | None
    regions: list[tuple[int, int, str]]
    outputs: list[str] | None
    types: Mapping[str, str]
    from_table: bool
    #: the SQL the next rewrite starts from: the query as written, then each rewrite's result
    text: str = ""
    rewrites: list[dict[str, Any]] = field(default_factory=list)


def optimize(program: Program, context: CompileContext) -> Program:
    """Push filters and column choices from single-upstream transforms into their extract."""
    if not context.optimize or program.pipeline is None or context.registry is None:
        return program
    for transform_id in program.order:
        found = _candidate(program, context, transform_id)
        if found is None:
            continue
        extract, transform, regions, alias = found
        _push_predicates(program, extract, transform, regions, alias, transform_id)
        _prune_projection(program, extract, transform, alias, transform_id)
        if extract.rewrites:
            _commit(program, extract)
    return program


# ---- which transforms qualify ---------------------------------------------------------


def _candidate(
    program: Program, context: CompileContext, transform_id: str
) -> tuple[_Extract, exp.Select, list[tuple[int, int, str]], str] | None:
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
    if not _feeds_only(program, extract_id, transform_id):
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
    """The extract's table (and its run-time results) go to this transform and nowhere else."""
    if extract_id in program.broken:
        return False
    readers = [s for s, deps in program.dependencies.items() if extract_id in deps]
    if readers != [transform_id]:
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
        for where, template in program.templates.items()
    )


def _extract(program: Program, context: CompileContext, extract_id: str) -> _Extract | None:
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
        return _Extract(extract_id, unit.dialect, dict(config), tree,
                        None, regions, outputs, types, False,
                        unit.text.strip())  # fmt: skip
    table, schema, columns = config.get("table"), config.get("schema"), config.get("columns")
    if not isinstance(table, str) or "query" in config:
        return None
    if not _PLAIN.match(table) or (isinstance(schema, str) and not _PLAIN.match(schema)):
        return None  # how the driver reads an odd table name is its business, not ours
    select = exp.select(
        *([_column(c, sql_field.dialect) for c in columns] if isinstance(columns, list) else ["*"])
    ).from_(
        exp.Table(
            this=_identifier(table, sql_field.dialect),
            db=_identifier(schema, sql_field.dialect) if isinstance(schema, str) else None,
        )
    )
    return _Extract(extract_id, sql_field.dialect, dict(config), select, None,
                    [], outputs, types, True, _render(select, sql_field.dialect))  # fmt: skip


# ---- predicate pushdown ---------------------------------------------------------------


def _push_predicates(
    program: Program,
    extract: _Extract,
    transform: exp.Select,
    regions: list[tuple[int, int, str]],
    alias: str,
    transform_id: str,
) -> None:
    where = transform.args.get("where")
    strategy = _pushdown_strategy(extract)
    if not isinstance(where, exp.Where) or not extract.types or strategy is None:
        return
    outputs = {name.lower(): name for name in extract.outputs or ()}
    # merging into the extract's WHERE needs each column to be a plain column there
    reachable = (
        set(_projection_columns(extract.tree, extract)) if strategy == "merge" else set(outputs)
    )
    aliases = _projection_aliases(transform)
    chosen: list[int] = []
    conjuncts = _conjuncts(where.this)
    for index, conjunct in enumerate(conjuncts):
        columns = list(conjunct.find_all(exp.Column))
        if not columns or any(
            (c.table and c.table.lower() != alias.lower())
            or c.name.lower() not in outputs
            or c.name.lower() not in reachable
            or c.name.lower() in aliases
            for c in columns
        ):
            continue
        if _verdict(conjunct, lambda name: extract.types.get(outputs[name.lower()])):
            chosen.append(index)
    if not chosen:
        return
    masked_where = mask_params(transform, regions).args.get("where") if regions else where
    assert isinstance(masked_where, exp.Where)
    masked_conjuncts = _conjuncts(masked_where.this)

    def rename(node: exp.Expr) -> exp.Expr:
        copy = node.copy()
        _strip_positions(copy)
        for column in list(copy.find_all(exp.Column)):
            column.replace(_column(outputs[column.name.lower()], extract.dialect))
        return copy

    predicates = [rename(conjuncts[i]) for i in chosen]
    tree = _apply_pushdown(extract.tree, predicates, strategy, extract)
    if regions or not _masks_nothing(extract):
        masked_predicates = [rename(masked_conjuncts[i]) for i in chosen]
        masked = _apply_pushdown(_masked(extract), masked_predicates, strategy, extract)
    else:
        masked = tree  # no params on either side: the canonical form is the tree itself
    if tree is None or masked is None:
        return
    _record(
        program,
        extract,
        "predicate_pushdown",
        transform_id,
        tree,
        masked,
        {
            "predicates": [p.sql(dialect=extract.dialect) for p in predicates],
            "strategy": strategy,
        },
    )


def _masked(extract: _Extract) -> exp.Expr:
    """The extract's query with params shown as `${params.x}`: the tree itself when the
    query has no params (rewrites never change a tree in place)."""
    if extract.masked is None:
        extract.masked = (
            mask_params(extract.tree, extract.regions) if extract.regions else extract.tree
        )
    return extract.masked


def _masks_nothing(extract: _Extract) -> bool:
    """The extract's canonical tree is its executed tree (no param shows in it)."""
    return (extract.masked is None and not extract.regions) or extract.masked is extract.tree


def _conjuncts(node: exp.Expr) -> list[exp.Expr]:
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.And):
        return _conjuncts(node.this) + _conjuncts(node.expression)
    return [node]


def _projection_aliases(select: exp.Select) -> set[str]:
    """Names the transform's SELECT gives to something other than the same-named column:
    DuckDB lets WHERE use them, so a WHERE name may not be an upstream column at all."""
    names: set[str] = set()
    for projection in select.expressions:
        if isinstance(projection, exp.Alias):
            inner, name = projection.this, projection.alias.lower()
            if not (isinstance(inner, exp.Column) and inner.name.lower() == name):
                names.add(name)
    return names


def _verdict(node: exp.Expr, type_of: Callable[[str], str | None]) -> Verdict | None:
    """Whether the source evaluates `node` alike ("exact") or keeps at least the same rows
    ("superset"); None when neither can be promised."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, (exp.And, exp.Or)):
        left, right = _verdict(node.this, type_of), _verdict(node.expression, type_of)
        if left is None or right is None:
            return None
        return "superset" if "superset" in (left, right) else "exact"
    if isinstance(node, exp.Not):
        return "exact" if _verdict(node.this, type_of) == "exact" else None
    if isinstance(node, exp.Is):
        is_null = isinstance(node.this, exp.Column) and isinstance(node.expression, exp.Null)
        return "exact" if is_null else None
    if isinstance(node, _COMPARISONS):
        column, literal = node.this, node.expression
        op: type[exp.Expr] = type(node)
        if isinstance(literal, exp.Column) and not isinstance(column, exp.Column):
            column, literal, op = literal, column, _FLIPPED[op]
        if not isinstance(column, exp.Column):
            return None
        return _compare(op, type_of(column.name), literal)
    if isinstance(node, exp.Between) and isinstance(node.this, exp.Column):
        column_type = type_of(node.this.name)
        low = _compare(exp.GTE, column_type, node.args.get("low"))
        high = _compare(exp.LTE, column_type, node.args.get("high"))
        return "exact" if low == high == "exact" else None
    if isinstance(node, exp.In) and isinstance(node.this, exp.Column) and node.expressions:
        if node.args.get("query") or node.args.get("unnest") or node.args.get("field"):
            return None
        column_type = type_of(node.this.name)
        verdicts = {_compare(exp.EQ, column_type, value) for value in node.expressions}
        if None in verdicts:
            return None
        return "superset" if "superset" in verdicts else "exact"
    return None


def _compare(op: type[exp.Expr], kind: str | None, literal: exp.Expr | None) -> Verdict | None:
    """A column of normalized type `kind` compared with a literal, as the source sees it."""
    if kind in _NUMERIC and _is_number(literal):
        return "exact"
    text = _string_value(literal)
    if text is None:
        return None
    if kind in _STRING:
        # MySQL's default collations ignore case and trailing spaces: equality keeps more
        # rows there, never fewer; an ordering comparison can keep fewer, so it stays put.
        return "superset" if op is exp.EQ else None
    if kind == "date" and _DATE_TEXT.match(text):
        return "exact"
    if kind == "datetime" and _DATETIME_TEXT.match(text):
        return "exact"
    return None


def _is_number(node: exp.Expr | None) -> bool:
    if isinstance(node, exp.Neg):
        node = node.this
    return isinstance(node, exp.Literal) and not node.is_string


def _string_value(node: exp.Expr | None) -> str | None:
    if isinstance(node, exp.Cast) and node.to.this in (exp.DataType.Type.DATE,):
        node = node.this
    if isinstance(node, exp.Literal) and node.is_string:
        return str(node.this)
    return None


def _pushdown_strategy(extract: _Extract) -> str | None:
    """How the filter goes in: into the table read, merged into the query's WHERE, or
    around the query as a derived table."""
    if extract.from_table:
        return "table"
    tree = extract.tree
    if isinstance(tree, exp.Select) and _mergeable(tree):
        return "merge"
    if extract.outputs is None or len({o.lower() for o in extract.outputs}) != len(extract.outputs):
        return None
    if tree.args.get("order"):
        return None  # a derived table may drop the ORDER BY: the rows' order would change
    return "wrap"


_NOT_MERGEABLE = ("group", "having", "distinct", "limit", "offset", "fetch", "qualify",
                  "windows", "laterals", "pivots")  # fmt: skip


def _mergeable(select: exp.Select) -> bool:
    if any(select.args.get(key) for key in _NOT_MERGEABLE):
        return False
    for projection in select.expressions:
        for node in projection.walk(prune=lambda n: isinstance(n, exp.Query)):
            if isinstance(node, (exp.AggFunc, exp.Window)):
                return False
    return True


def _apply_pushdown(
    tree: exp.Expr, predicates: list[exp.Expr], strategy: str, extract: _Extract
) -> exp.Expr | None:
    conditions = [_parenthesize(p.copy()) for p in predicates]
    if strategy in ("table", "merge"):
        select = tree.copy()
        assert isinstance(select, exp.Select)
        if strategy == "merge":
            mapping = _projection_columns(select, extract)
            for column in [c for condition in conditions for c in condition.find_all(exp.Column)]:
                source = mapping.get(column.name.lower())
                if source is None:
                    return None
                column.replace(source.copy())
        return select.where(*conditions, append=True, copy=False)
    condition = exp.and_(*conditions, copy=False)
    inner = tree.copy()
    if not isinstance(inner, exp.Query):
        return None
    return (
        exp.select("*")
        .from_(exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier(WRAP_ALIAS))))
        .where(condition, copy=False)
    )


def _parenthesize(node: exp.Expr) -> exp.Expr:
    return exp.Paren(this=node) if isinstance(node, exp.Or) else node


def _projection_columns(select: exp.Expr, extract: _Extract) -> dict[str, exp.Expr]:
    """Output name → the plain column it passes through (`*` over one table counts)."""
    mapping: dict[str, exp.Expr] = {}
    if not isinstance(select, exp.Select):
        return mapping
    for projection in select.expressions:
        inner = projection.unalias()
        if isinstance(inner, exp.Column) and not isinstance(inner.this, exp.Star):
            mapping.setdefault(projection.alias_or_name.lower(), inner)
    star = [p for p in select.expressions if isinstance(p, exp.Star)]
    if star and not select.args.get("joins") and extract.outputs is not None:
        for name in extract.outputs:
            mapping.setdefault(name.lower(), _column(name, extract.dialect))
    return mapping


# ---- projection pruning ---------------------------------------------------------------


def _prune_projection(
    program: Program, extract: _Extract, transform: exp.Select, alias: str, transform_id: str
) -> None:
    if extract.outputs is None:
        return
    used = _used_names(transform, {alias.lower()})
    if used is None:
        return
    keep = [name for name in extract.outputs if name.lower() in used] or extract.outputs[:1]
    if len(keep) == len(extract.outputs):
        return
    tree = _apply_pruning(extract.tree, extract, keep)
    masked = tree if _masks_nothing(extract) else _apply_pruning(_masked(extract), extract, keep)
    if tree is None or masked is None:
        return
    dropped = [name for name in extract.outputs if name not in keep]
    _record(program, extract, "projection_pruning", transform_id, tree, masked,
            {"columns": keep, "dropped": dropped})  # fmt: skip
    extract.outputs = keep


def _used_names(transform: exp.Select, tables: set[str]) -> set[str] | None:
    """Every name the transform could mean as a column of its input; None when that is
    not fully known (`*`, COLUMNS(), positional or whole-row references, USING)."""
    used: set[str] = set()
    for node in transform.walk():
        if isinstance(node, exp.Star) and not isinstance(node.parent, exp.Count):
            return None
        if isinstance(node, (exp.PositionalColumn, exp.Columns)):
            return None
        if isinstance(node, exp.Join) and (node.args.get("using") or node.args.get("method")):
            return None
        if isinstance(node, exp.Column):
            if isinstance(node.this, exp.Star):
                return None
            name = node.name.lower()
            if not node.table and name in tables:
                return None  # the whole row as a struct
            used.add(name)
            used.update(p.name.lower() for p in node.parts[:-1])
    return used


def _apply_pruning(tree: exp.Expr, extract: _Extract, keep: list[str]) -> exp.Expr | None:
    select = tree.copy()
    if not isinstance(select, exp.Select) or select.args.get("distinct"):
        return None
    wanted = {name.lower() for name in keep}
    projections = select.expressions
    if len(projections) == 1 and isinstance(projections[0], exp.Star):
        select.set("expressions", [_column(name, extract.dialect) for name in keep])
        return select
    if any(_is_star(p) for p in projections):
        return None
    names = [p.alias_or_name.lower() for p in projections]
    if len(set(names)) != len(names) or any(not n for n in names):
        return None
    for clause in ("group", "order"):
        node = select.args.get(clause)
        if node is not None and any(
            isinstance(e.unalias() if not isinstance(e, exp.Ordered) else e.this, exp.Literal)
            for e in node.expressions
        ):
            return None  # GROUP BY 1 / ORDER BY 2 count projections
    referenced = _alias_references(select)
    kept = [p for p, n in zip(projections, names, strict=True) if n in wanted or n in referenced]
    if len(kept) == len(projections):
        return None
    select.set("expressions", kept)
    return select


def _is_star(node: exp.Expr) -> bool:
    return isinstance(node, exp.Star) or (
        isinstance(node, exp.Column) and isinstance(node.this, exp.Star)
    )


def _alias_references(select: exp.Select) -> set[str]:
    """Projection aliases the query itself uses elsewhere (ORDER BY total, HAVING n > 1)."""
    aliases = {p.alias.lower() for p in select.expressions if isinstance(p, exp.Alias)}
    found: set[str] = set()
    for key in ("where", "group", "having", "order", "qualify"):
        node = select.args.get(key)
        if node is not None:
            found.update(
                c.name.lower()
                for c in node.find_all(exp.Column)
                if not c.table and c.name.lower() in aliases
            )
    return found


# ---- recording ------------------------------------------------------------------------


def _record(
    program: Program,
    extract: _Extract,
    kind: str,
    transform_id: str,
    tree: exp.Expr,
    masked: exp.Expr,
    detail: dict[str, Any],
) -> None:
    before = extract.text
    after = _render(tree, extract.dialect)
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


def _commit(program: Program, extract: _Extract) -> None:
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
        canonical=render_canonical(_masked(extract), extract.dialect),
        tables=previous.tables if previous is not None else _tables(extract.tree),
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


def _tables(tree: exp.Expr) -> tuple[str, ...]:
    names = {".".join(p for p in (t.db, t.name) if p) for t in tree.find_all(exp.Table)}
    return tuple(sorted(names))


def _render(tree: exp.Expr, dialect: str) -> str:
    return tree.sql(dialect=dialect, unsupported_level=ErrorLevel.IGNORE)


# ---- identifiers ----------------------------------------------------------------------

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _identifier(name: str, dialect: str) -> exp.Identifier:
    """A name as the source must see it: quoted when it is a keyword, has odd characters,
    or (PostgreSQL) has upper case that folding would lose."""
    keywords = Dialect.get_or_raise(dialect).tokenizer_class.KEYWORDS
    quoted = (
        not _PLAIN.match(name)
        or name.upper() in keywords
        or (dialect == "postgres" and name != name.lower())
    )
    return exp.Identifier(this=name, quoted=quoted)


def _column(name: str, dialect: str) -> exp.Column:
    return exp.Column(this=_identifier(name, dialect))


def _strip_positions(node: exp.Expr) -> None:
    """Forget where nodes stood in the transform's text: they now live in another query."""
    for child in node.walk():
        if child.meta_get("start") is not None:
            for key in ("line", "col", "start", "end"):
                child.meta.pop(key, None)
