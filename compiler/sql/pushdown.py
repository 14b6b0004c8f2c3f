"""Predicate pushdown: a transform's WHERE conjuncts that the source evaluates the same
(or keeps at least the same rows for) are added to its single SQL extract.

Only predicates that are provably "the same or weaker" at the source are pushed; that
needs the columns' types, so it happens only when a discovered catalog vouches for them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Literal

import sqlglot.expressions as exp

from compiler.sql.canonical import mask_params
from compiler.sql.rewrite import (
    Extract,
    Rewrite,
    masked_form,
    masks_nothing,
    plain_column,
    projection_columns,
    strip_positions,
)

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


def push_predicates(
    extract: Extract, transform: exp.Select, regions: list[tuple[int, int, str]], alias: str
) -> Rewrite | None:
    """The conjuncts of the transform's WHERE (its table read as `alias`) that can go into
    the extract, as a rewrite of the extract's query; None when none can."""
    where = transform.args.get("where")
    strategy = _pushdown_strategy(extract)
    if not isinstance(where, exp.Where) or not extract.types or strategy is None:
        return None
    outputs = {name.lower(): name for name in extract.outputs or ()}
    # merging into the extract's WHERE needs each column to be a plain column there
    reachable = (
        set(projection_columns(extract.tree, extract)) if strategy == "merge" else set(outputs)
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
        return None
    masked_where = mask_params(transform, regions).args.get("where") if regions else where
    assert isinstance(masked_where, exp.Where)
    masked_conjuncts = _conjuncts(masked_where.this)

    def rename(node: exp.Expr) -> exp.Expr:
        copy = node.copy()
        strip_positions(copy)
        for column in list(copy.find_all(exp.Column)):
            column.replace(plain_column(outputs[column.name.lower()], extract.dialect))
        return copy

    predicates = [rename(conjuncts[i]) for i in chosen]
    tree = _apply_pushdown(extract.tree, predicates, strategy, extract)
    if regions or not masks_nothing(extract):
        masked_predicates = [rename(masked_conjuncts[i]) for i in chosen]
        masked = _apply_pushdown(masked_form(extract), masked_predicates, strategy, extract)
    else:
        masked = tree  # no params on either side: the canonical form is the tree itself
    if tree is None or masked is None:
        return None
    return Rewrite(
        "predicate_pushdown",
        tree,
        masked,
        {
            "predicates": [p.sql(dialect=extract.dialect) for p in predicates],
            "strategy": strategy,
        },
    )


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


def _pushdown_strategy(extract: Extract) -> str | None:
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
    tree: exp.Expr, predicates: list[exp.Expr], strategy: str, extract: Extract
) -> exp.Expr | None:
    conditions = [_parenthesize(p.copy()) for p in predicates]
    if strategy in ("table", "merge"):
        select = tree.copy()
        assert isinstance(select, exp.Select)
        if strategy == "merge":
            mapping = projection_columns(select, extract)
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
