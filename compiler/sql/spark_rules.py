"""The rewrites: each DuckDB construct Spark computes otherwise, as the Spark expression
that computes DuckDB's answer — a rule per sqlglot node type (or unknown function name),
run over the tree's copy children first, so a rule sees its arguments rewritten.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import sqlglot.expressions as exp

from compiler.sql.spark_dates import (
    BOUNDARY_UNITS,
    FORMAT_CODES,
    PARSE_CODES,
    date_unit,
    dow,
    isodow,
    java_pattern,
    spark_part,
)
from compiler.sql.spark_nodes import function_name, literal_number, number_literal
from compiler.sql.spark_series import series_list, series_table
from compiler.sql.spark_types import INTEGERS, Kinds

#: A rule: the node's Spark form, or None to keep it as sqlglot writes it.
Rule = Callable[[Kinds, exp.Expr], exp.Expr | None]


def rewrite(kinds: Kinds, node: exp.Expr) -> exp.Expr | None:
    """`node` as Spark must be told it, by the rule for its type; None: as it is."""
    rule = _RULES.get(type(node))
    if rule is None and isinstance(node, exp.Anonymous):
        rule = _ANONYMOUS.get(function_name(node))
    return rule(kinds, node) if rule is not None else None


def _nonzero_literal(node: exp.Expr) -> bool:
    value = literal_number(node)
    return value is not None and value != 0


def _divide(kinds: Kinds, node: exp.Expr) -> exp.Expr | None:
    """DuckDB's `/` divides as doubles: a zero divisor gives ±inf or NaN, where Spark's
    ANSI mode fails the query, and a decimal quotient is a DOUBLE, where Spark keeps a
    DECIMAL. (`//` and `%` by zero fail in both engines alike.)"""
    dividend, divisor = node.this, node.expression
    if _nonzero_literal(divisor):
        if kinds.kind(dividend) != "decimal":
            return None
        return exp.Div(this=_double(dividend), expression=divisor)
    if {kinds.kind(dividend), kinds.kind(divisor)} & {"date", "datetime", "timestamptz"}:
        return None  # not a number: DuckDB refuses it already
    infinity = exp.Cast(this=exp.Literal.string("Infinity"), to=exp.DataType.build("DOUBLE"))
    return exp.If(
        this=exp.EQ(this=divisor.copy(), expression=number_literal(0)),
        true=exp.Mul(this=_double(dividend.copy()), expression=infinity),
        false=exp.Div(this=_double(dividend), expression=_double(divisor)),
    )


def _double(node: exp.Expr) -> exp.Expr:
    return exp.Cast(this=node, to=exp.DataType.build("DOUBLE"))


def _date_arithmetic(kinds: Kinds, node: exp.Expr) -> exp.Expr | None:
    """DuckDB: DATE - DATE is a number of days, DATE ± INTERVAL a TIMESTAMP; Spark makes
    an interval of the first and a DATE of the second (where the types are known)."""
    left, right = kinds.kind(node.this), kinds.kind(node.expression)
    if isinstance(node, exp.Sub) and left == right == "date":
        return exp.Anonymous(this="DATEDIFF", expressions=[node.this, node.expression])
    if {left, right} == {"date", "interval"}:
        timestamp = exp.DataType.build("TIMESTAMP", dialect="duckdb")  # without time zone
        return exp.Cast(this=exp.Paren(this=node.copy()), to=timestamp)
    return None


def _cast(kinds: Kinds, node: exp.Expr) -> exp.Expr | None:
    assert isinstance(node, (exp.Cast, exp.TryCast))
    if node.to.this not in INTEGERS:
        return None
    kind = kinds.kind(node.this)
    if kind == "decimal":  # DuckDB rounds half away from zero, as Spark's round()
        node.set("this", exp.Round(this=node.this))
    elif kind == "float":  # DuckDB rounds a double half to even, as Spark's bround()
        node.set("this", exp.Anonymous(this="BROUND", expressions=[node.this]))
    return node


def _log(kinds: Kinds, node: exp.Expr) -> exp.Expr | None:
    if node.args.get("expression") is not None:
        return None
    return exp.Log(this=number_literal(10), expression=node.this)  # DuckDB's log(x) is base 10


def _date_diff(kinds: Kinds, node: exp.Expr) -> exp.Expr | None:
    unit = date_unit(node.args.get("unit"))
    assert unit is not None  # refused before
    spark_unit = exp.Var(this=unit.upper())
    end, start = node.this, node.expression
    if unit in BOUNDARY_UNITS and not (
        unit == "day" and kinds.kind(end) == kinds.kind(start) == "date"
    ):
        end = exp.TimestampTrunc(this=end, unit=spark_unit.copy())
        start = exp.TimestampTrunc(this=start, unit=spark_unit.copy())
    return exp.DateDiff(this=end, expression=start, unit=spark_unit)


def _extract(kinds: Kinds, node: exp.Expr) -> exp.Expr | None:
    part = node.this.name if isinstance(node.this, (exp.Var, exp.Identifier)) else ""
    if part.lower() in ("year", "quarter", "month", "day", "hour", "minute"):
        return None
    return spark_part(part, node.expression)


def _date_part(kinds: Kinds, node: exp.Expr) -> exp.Expr | None:
    part, value = node.expressions
    return spark_part(part.name, value)


def _table(kinds: Kinds, node: exp.Expr) -> exp.Expr | None:
    if isinstance(node.this, exp.GenerateSeries):
        return series_table(kinds, node)
    return None


def _arg_extreme(kinds: Kinds, node: exp.Expr) -> exp.Expr | None:
    """DuckDB's arg_max skips a row whose value is NULL; Spark's max_by may return it."""
    keep = exp.Not(this=exp.Is(this=node.this.copy(), expression=exp.Null()))
    parent = node.parent
    if isinstance(parent, exp.Filter):
        where = parent.expression
        where.set("this", exp.And(this=exp.Paren(this=where.this), expression=keep))
        return None
    return exp.Filter(this=node.copy(), expression=exp.Where(this=keep))


def _percentile(kinds: Kinds, node: exp.Expr) -> exp.Expr | None:
    """quantile_cont(x, p) and percentile_cont(p) WITHIN GROUP (ORDER BY x): Spark's own
    PERCENTILE_CONT, not the approximate one sqlglot writes."""
    name = "PERCENTILE_CONT" if isinstance(node, exp.PercentileCont) else "PERCENTILE_DISC"
    if isinstance(node.parent, exp.WithinGroup):
        return exp.Anonymous(this=name, expressions=[node.this])
    fraction = node.args.get("quantile") or node.expression
    order = exp.Order(expressions=[exp.Ordered(this=node.this, nulls_first=False)])
    return exp.WithinGroup(this=exp.Anonymous(this=name, expressions=[fraction]), expression=order)


def _format(kinds: Kinds, node: exp.Expr) -> exp.Expr | None:
    format_ = node.args["format"]
    if isinstance(node, exp.TimeToStr):
        pattern = java_pattern(format_.name, FORMAT_CODES)
        assert pattern is not None
        return exp.Anonymous(
            this="DATE_FORMAT", expressions=[node.this, exp.Literal.string(pattern)]
        )
    pattern = java_pattern(format_.name, PARSE_CODES)
    assert pattern is not None  # DuckDB's strptime gives a TIMESTAMP without time zone
    return exp.Anonymous(
        this="TO_TIMESTAMP_NTZ", expressions=[node.this, exp.Literal.string(pattern)]
    )


def _regexp_replace(kinds: Kinds, node: exp.Expr) -> exp.Expr | None:
    modifiers = node.args.get("modifiers")
    if modifiers is not None and "i" in modifiers.name:
        node.set("expression", exp.Literal.string("(?i)" + node.expression.name))
    node.set("modifiers", None)
    return node


def _regexp_like(kinds: Kinds, node: exp.Expr) -> exp.Expr | None:
    if node.args.get("flag") is not None:
        node.set("expression", exp.Literal.string("(?i)" + node.expression.name))
        node.set("flag", None)
    return node


def _named(function: str, *extra: str) -> Rule:
    def rule(kinds: Kinds, node: exp.Expr) -> exp.Expr | None:
        literals = [exp.Literal.string(e) for e in extra]
        return exp.Anonymous(this=function, expressions=[node.this, *literals])

    return rule


def _anonymous(function: str) -> Rule:
    def rule(kinds: Kinds, node: exp.Expr) -> exp.Expr | None:
        return exp.Anonymous(this=function, expressions=list(node.expressions))

    return rule


_RULES: Mapping[type[exp.Expr], Rule] = {
    exp.Div: _divide,
    exp.Add: _date_arithmetic,
    exp.Sub: _date_arithmetic,
    exp.Cast: _cast,
    exp.TryCast: _cast,
    exp.Log: _log,
    exp.DateDiff: _date_diff,
    exp.Extract: _extract,
    exp.DayOfWeek: lambda kinds, node: dow(node.this),
    exp.DayOfWeekIso: lambda kinds, node: isodow(node.this),
    exp.Week: _named("WEEKOFYEAR"),
    exp.Monthname: _named("DATE_FORMAT", "MMMM"),
    exp.Dayname: _named("DATE_FORMAT", "EEEE"),
    exp.Table: _table,
    exp.GenerateSeries: series_list,
    exp.ArgMax: _arg_extreme,
    exp.ArgMin: _arg_extreme,
    exp.PercentileCont: _percentile,
    exp.PercentileDisc: _percentile,
    exp.Quantile: _percentile,
    exp.TimeToStr: _format,
    exp.StrToTime: _format,
    exp.RegexpReplace: _regexp_replace,
    exp.RegexpLike: _regexp_like,
}
_ANONYMOUS: Mapping[str, Rule] = {
    "date_part": _date_part,
    "datepart": _date_part,
    "weekday": lambda kinds, node: dow(node.expressions[0]),
    "isoyear": lambda kinds, node: spark_part("isoyear", node.expressions[0]),
    "strlen": _anonymous("OCTET_LENGTH"),  # bytes, as DuckDB counts them
    "list_extract": _anonymous("TRY_ELEMENT_AT"),  # NULL past the end, as in DuckDB
    "array_value": _anonymous("ARRAY"),
}
