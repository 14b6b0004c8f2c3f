"""`range()` and `generate_series()`, as Spark SQL that means what DuckDB's does.

In FROM, DuckDB's series is one BIGINT column — or TIMESTAMP, over dates and timestamps
stepped by an interval — named as `AS t(i)` says, else after the alias (`range(3) AS t`
has a column `t`), else after the function (`range`, `generate_series`). As a value it
is a list of the same elements. `range` leaves its end out, `generate_series` keeps it;
a step that points away from the end makes nothing, a NULL bound a NULL list.

Over integers in FROM, Spark's RANGE counts the same (its column, `id`, renamed). Else
it is a `sequence` (exploded in FROM) of BIGINTs or TIMESTAMP_NTZ values (TIMESTAMP
without time zone, as DuckDB's), kept to DuckDB's end, where Spark's sequence keeps it
always and fails on a step that points away from it.

>>> from compiler.sql.spark import to_spark
>>> to_spark("SELECT range AS stars FROM range(1, 6)")
'SELECT range AS stars FROM RANGE(1, 6) AS range(range)'
>>> to_spark("SELECT * FROM generate_series(1, 20) AS n")
'SELECT * FROM RANGE(1, 21) AS n(n)'
>>> print(to_spark("SELECT range(n) AS l FROM t"))  # doctest: +NORMALIZE_WHITESPACE
SELECT FILTER(SEQUENCE(CAST(0 AS BIGINT), IF(CAST(n AS BIGINT) < CAST(0 AS BIGINT),
  CAST(0 AS BIGINT), CAST(n AS BIGINT)), 1), osiris_t -> osiris_t < CAST(n AS BIGINT)) AS l
  FROM t
>>> print(to_spark("SELECT * FROM range(DATE '2024-01-01', DATE '2024-02-01', INTERVAL 1 WEEK)"))
... # doctest: +NORMALIZE_WHITESPACE
SELECT * FROM EXPLODE(FILTER(SEQUENCE(CAST(CAST('2024-01-01' AS DATE) AS TIMESTAMP_NTZ),
  IF(CAST(CAST('2024-02-01' AS DATE) AS TIMESTAMP_NTZ)
  < CAST(CAST('2024-01-01' AS DATE) AS TIMESTAMP_NTZ),
  CAST(CAST('2024-01-01' AS DATE) AS TIMESTAMP_NTZ),
  CAST(CAST('2024-02-01' AS DATE) AS TIMESTAMP_NTZ)), INTERVAL '1' WEEK),
  osiris_t -> osiris_t < CAST(CAST('2024-02-01' AS DATE) AS TIMESTAMP_NTZ))) AS range(range)
"""

from __future__ import annotations

import re

import sqlglot.expressions as exp

from compiler.sql.problem import Problem
from compiler.sql.spark_dates import date_unit
from compiler.sql.spark_nodes import literal_number, number_literal, refused
from compiler.sql.spark_types import Kinds

#: The interval units a date series steps by: Spark's unit, and how many of it make one.
_STEP_UNITS = {
    "year": ("YEAR", 1), "quarter": ("MONTH", 3), "month": ("MONTH", 1), "week": ("WEEK", 1),
    "day": ("DAY", 1), "hour": ("HOUR", 1), "minute": ("MINUTE", 1), "second": ("SECOND", 1),
    "millisecond": ("MILLISECOND", 1), "microsecond": ("MICROSECOND", 1),
}  # fmt: skip
#: Steps by months: DuckDB adds the months one step at a time (Jan 31, Feb 29, Mar 29),
#: Spark each multiple to the start (Jan 31, Feb 29, Mar 31); alike from a 28th or before.
_MONTHS = {"year", "quarter", "month"}
_TIMESTAMP = exp.DataType.build("TIMESTAMP", dialect="duckdb")  # without time zone
_VARIABLE = "osiris_t"  # the filter's lambda variable
_NOW = {"now", "get_current_timestamp", "transaction_timestamp"}


def series_columns(tree: exp.Expr) -> dict[str, str | None]:
    """The kind of each column `range()` and `generate_series()` sources make."""
    found: dict[str, str | None] = {}
    for table in tree.find_all(exp.Table):
        if isinstance(table.this, exp.GenerateSeries):
            kind = "datetime" if _is_interval(table.this.args.get("step")) else "integer"
            found.update(dict.fromkeys((c.name.lower() for c in _columns(table)), kind))
    return found


def series_refusal(
    kinds: Kinds, series: exp.GenerateSeries, span: tuple[int, int] | None
) -> Problem | None:
    """SQL415 for a series Spark cannot make as DuckDB does; None: it can."""
    step = series.args.get("step")
    bounds = [b for b in (series.args.get("start"), series.args.get("end")) if b is not None]
    if _is_interval(step):
        return _date_refusal(kinds, series, bounds, span)
    value = literal_number(step) if step is not None else 1.0
    if value is None or value == 0 or value != int(value):
        return refused(
            "range() or generate_series() with this step: Spark's range "
            "steps by a non-zero integer literal",
            span,
            "write the step as an integer literal",
        )
    if any(
        kinds.kind(b) in ("date", "datetime", "timestamptz", "decimal", "float") for b in bounds
    ):
        return refused(
            "range() or generate_series() of dates or fractions without an interval step: "
            "Spark's range counts integers",
            span,
            "step dates by an interval, range(DATE '2024-01-01', DATE '2025-01-01', "
            "INTERVAL 1 DAY), or count integers and add them",
        )
    return None


def series_table(kinds: Kinds, node: exp.Expr) -> exp.Expr | None:
    """The Spark table of a `range()` / `generate_series()` source (refused before when
    Spark cannot make it)."""
    assert isinstance(node, exp.Table) and isinstance(node.this, exp.GenerateSeries)
    series = node.this
    values: exp.Expr
    if _is_interval(series.args.get("step")):
        values = exp.Anonymous(this="EXPLODE", expressions=[_sequence(series)])
    else:
        values = _integer_series(series)
    alias = node.args.get("alias")
    table_name = alias.this if alias is not None and alias.this else _function(series)
    return exp.Table(this=values, alias=exp.TableAlias(this=table_name, columns=_columns(node)))


def series_list(kinds: Kinds, node: exp.Expr) -> exp.Expr | None:
    """A `range()` / `generate_series()` that is a value, DuckDB's list, as the Spark array
    of the same elements (None for a FROM source: series_table makes it)."""
    assert isinstance(node, exp.GenerateSeries)
    if isinstance(node.parent, exp.Table):
        return None
    return _sequence(node)


def _function(series: exp.GenerateSeries) -> exp.Identifier:
    name = "range" if series.args.get("is_end_exclusive") else "generate_series"
    return exp.to_identifier(name)


def _columns(table: exp.Table) -> list[exp.Identifier]:
    """The column DuckDB names: as `AS t(i)` says, else after the alias, else the function."""
    alias = table.args.get("alias")
    if alias is not None and alias.columns:
        return [c.copy() for c in alias.columns]
    if alias is not None and alias.this:
        return [alias.this.copy()]
    assert isinstance(table.this, exp.GenerateSeries)
    return [_function(table.this)]


def _integer_series(series: exp.GenerateSeries) -> exp.Expr:
    """Spark's RANGE, its end made exclusive (generate_series keeps DuckDB's)."""
    step_node = series.args.get("step")
    step = int(literal_number(step_node) or 1) if step_node is not None else 1
    start, end = series.args["start"], series.args["end"]
    if not series.args.get("is_end_exclusive"):  # one step further, exclusive
        bound = literal_number(end)
        if bound is not None and bound == int(bound):
            end = number_literal(int(bound) + (1 if step > 0 else -1))
        else:
            further = exp.Add if step > 0 else exp.Sub
            end = further(this=exp.Paren(this=end), expression=number_literal(1))
    args = [start, end] + ([step_node] if step_node is not None else [])
    return exp.Anonymous(this="RANGE", expressions=args)


def _sequence(series: exp.GenerateSeries) -> exp.Expr:
    """FILTER(SEQUENCE(start, IF(end < start, start, end), step), t -> t < end): the
    sequence never runs the wrong way (Spark fails it; DuckDB makes no elements), a NULL
    bound makes NULL, as in DuckDB, and the filter keeps DuckDB's end — out for range, in
    for generate_series. Integers are BIGINTs, dates and timestamps TIMESTAMP_NTZ values,
    as DuckDB's are."""
    step_node = series.args.get("step")
    start, end = series.args["start"], series.args["end"]
    step: exp.Expr
    if _is_interval(step_node):
        interval = _step(step_node)
        assert interval is not None  # refused before
        count, unit = interval
        spark_unit, factor = _STEP_UNITS[unit]
        step = exp.Interval(
            this=exp.Literal.string(str(count * factor)), unit=exp.Var(this=spark_unit)
        )
        start, end = _timestamp(start), _timestamp(end)
    else:
        count = int(literal_number(step_node) or 1) if step_node is not None else 1
        step = step_node.copy() if step_node is not None else number_literal(1)
        start, end = _bigint(start), _bigint(end)
    forward = count > 0
    backwards = (exp.LT if forward else exp.GT)(this=end.copy(), expression=start.copy())
    furthest = exp.If(this=backwards, true=start.copy(), false=end.copy())
    sequence = exp.Anonymous(this="SEQUENCE", expressions=[start, furthest, step])
    if series.args.get("is_end_exclusive"):
        within: type[exp.Binary] = exp.LT if forward else exp.GT
    else:
        within = exp.LTE if forward else exp.GTE
    variable = exp.to_identifier(_VARIABLE)
    keep = exp.Lambda(
        this=within(this=exp.column(variable.copy()), expression=end), expressions=[variable]
    )
    return exp.Anonymous(this="FILTER", expressions=[sequence, keep])


def _bigint(bound: exp.Expr) -> exp.Expr:
    """`bound` as a BIGINT, the type of DuckDB's series (Spark's sequence of INTs is INTs)."""
    if isinstance(bound, exp.Cast) and bound.to.this == exp.DataType.Type.BIGINT:
        return bound
    return exp.Cast(this=bound, to=exp.DataType.build("BIGINT"))


def _timestamp(bound: exp.Expr) -> exp.Expr:
    """`bound` as a TIMESTAMP without time zone, as DuckDB's series reads a DATE."""
    if isinstance(bound, exp.Cast) and bound.to.this == _TIMESTAMP.this:
        return bound
    return exp.Cast(this=bound, to=_TIMESTAMP.copy())


def _date_refusal(
    kinds: Kinds,
    series: exp.GenerateSeries,
    bounds: list[exp.Expr],
    span: tuple[int, int] | None,
) -> Problem | None:
    step = _step(series.args.get("step"))
    if step is None or step[0] == 0:
        return refused(
            "range() or generate_series() with this interval: Spark's sequence steps by "
            "a non-zero whole number of one unit",
            span,
            "write the step as INTERVAL n DAY (or WEEK, MONTH, YEAR, HOUR, MINUTE, SECOND)",
        )
    found = [_bound_kind(kinds, b) for b in bounds]
    if "timestamptz" in found:
        return refused(
            "range() or generate_series() of TIMESTAMPTZ values: each engine steps them in "
            "its own time zone",
            span,
            "cast the bounds to TIMESTAMP (without time zone)",
        )
    if any(kind not in ("date", "datetime") for kind in found):
        return refused(
            "range() or generate_series() over bounds whose type the compiler cannot see",
            span,
            "cast the bounds: CAST(x AS DATE) or CAST(x AS TIMESTAMP)",
        )
    if step[1] in _MONTHS and not _early_in_month(series.args.get("start")):
        return refused(
            "range() or generate_series() by months from a day after the 28th (or one the "
            "compiler cannot see): DuckDB adds the months one step at a time, Spark each "
            "multiple to the start, so they part at a month's end",
            span,
            "start the series on a literal date up to the 28th, or step by days",
        )
    return None


def _bound_kind(kinds: Kinds, bound: exp.Expr) -> str | None:
    now = (n for n in bound.find_all(exp.Anonymous) if n.name.lower() in _NOW)
    if bound.find(exp.CurrentTimestamp) is not None or next(now, None) is not None:
        return "timestamptz"  # DuckDB's now() and current_timestamp have a time zone
    return kinds.kind(bound)


_DAY = re.compile(r"\s*\d{4}-\d{1,2}-(\d{1,2})\b")


def _early_in_month(start: exp.Expr | None) -> bool:
    """Whether `start` is a DATE or TIMESTAMP literal on a day up to the 28th."""
    if not isinstance(start, exp.Cast) or not isinstance(start.this, exp.Literal):
        return False
    found = _DAY.match(start.this.name) if start.this.is_string else None
    return found is not None and int(found.group(1)) <= 28


def _is_interval(step: exp.Expr | None) -> bool:
    while isinstance(step, (exp.Neg, exp.Paren)):
        step = step.this
    return isinstance(step, exp.Interval)


def _step(step: exp.Expr | None) -> tuple[int, str] | None:
    """An interval step as a whole count and one of _STEP_UNITS (`-INTERVAL 1 DAY` is
    (-1, 'day')); None: another interval."""
    sign = 1
    while isinstance(step, (exp.Neg, exp.Paren)):
        sign = -sign if isinstance(step, exp.Neg) else sign
        step = step.this
    if not isinstance(step, exp.Interval):
        return None
    unit = date_unit(step.args.get("unit"))
    if unit not in _STEP_UNITS:
        return None
    amount = step.this
    if isinstance(amount, exp.Literal) and amount.is_string:
        text = amount.name.strip()
        value = float(text) if re.fullmatch(r"[+-]?\d+", text) else None
    else:
        value = literal_number(amount)
    if value is None or value != int(value):
        return None
    return sign * int(value), unit
