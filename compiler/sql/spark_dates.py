"""Dates in the Spark translation: DuckDB's date parts and units, and its strftime and
strptime format codes, as Spark computes and writes them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import sqlglot.expressions as exp

from compiler.sql.spark_nodes import number_literal

# ---- date parts: DuckDB's name -> Spark's expression ---------------------------------------

#: Units DuckDB's date_diff counts as boundaries crossed where Spark counts whole units;
#: truncating both sides to the unit makes Spark count the same. DuckDB's 'week' counts
#: whole weeks (7 days) as Spark does, so it is not truncated.
BOUNDARY_UNITS = {
    "year": "YEAR", "quarter": "QUARTER", "month": "MONTH", "day": "DAY", "hour": "HOUR",
    "minute": "MINUTE", "second": "SECOND", "millisecond": "MILLISECOND",
    "microsecond": "MICROSECOND",
}  # fmt: skip
UNIT_NAMES = {
    **{u: u for u in BOUNDARY_UNITS}, "week": "week",
    "years": "year", "yr": "year", "yrs": "year", "y": "year", "yy": "year", "yyyy": "year",
    "quarters": "quarter", "months": "month", "mon": "month", "mons": "month",
    "weeks": "week", "w": "week", "days": "day", "d": "day", "dayofmonth": "day",
    "hours": "hour", "h": "hour", "hr": "hour", "hrs": "hour", "minutes": "minute",
    "min": "minute", "mins": "minute", "m": "minute", "seconds": "second", "sec": "second",
    "secs": "second", "s": "second", "milliseconds": "millisecond", "ms": "millisecond",
    "msec": "millisecond", "msecs": "millisecond", "microseconds": "microsecond",
    "us": "microsecond", "usec": "microsecond", "usecs": "microsecond",
}  # fmt: skip


def date_unit(node: exp.Expr | None) -> str | None:
    """The unit a date function names (`'months'`, `mon`), as one of BOUNDARY_UNITS or
    'week'; None: a unit Spark has no equivalent for."""
    if isinstance(node, (exp.Var, exp.Literal, exp.Identifier, exp.Column)):
        return UNIT_NAMES.get(str(node.name).lower())
    return None


def spark_part(part: str, value: exp.Expr) -> exp.Expr | None:
    """`date_part(part, value)` as Spark computes it DuckDB's way; None: no equivalent."""
    name = part.lower()
    if name in ("dow", "dayofweek", "weekday"):
        return dow(value)
    if name in ("isodow",):
        return isodow(value)
    if name in ("week", "weeks", "w", "weekofyear"):
        return exp.Anonymous(this="WEEKOFYEAR", expressions=[value])
    if name in ("doy", "dayofyear"):
        return exp.DayOfYear(this=value)
    if name in ("isoyear",):
        return exp.Extract(this=exp.Var(this="YEAROFWEEK"), expression=value)
    if name in ("second", "seconds", "sec", "secs", "s"):
        return exp.Second(this=value)  # EXTRACT(SECOND) keeps the fraction in Spark
    unit = UNIT_NAMES.get(name)
    if unit in ("year", "quarter", "month", "day", "hour", "minute"):
        return exp.Extract(this=exp.Var(this=unit.upper()), expression=value)
    return None


def dow(value: exp.Expr) -> exp.Expr:
    """DuckDB's day of the week: Sunday = 0 (Spark's DAYOFWEEK counts from 1)."""
    return exp.Sub(this=exp.DayOfWeek(this=value), expression=exp.Literal.number(1))


def isodow(value: exp.Expr) -> exp.Expr:
    """The ISO day of the week: Monday = 1 ... Sunday = 7."""
    shifted = exp.Paren(this=exp.Add(this=exp.DayOfWeek(this=value), expression=number_literal(5)))
    return exp.Add(
        this=exp.Paren(this=exp.Mod(this=shifted, expression=number_literal(7))),
        expression=number_literal(1),
    )


# ---- strftime / strptime formats ------------------------------------------------------------

#: DuckDB format codes -> Java's pattern letters: for formatting (strftime) and for reading
#: (strptime, which reads unpadded numbers too). A code not listed is refused.
FORMAT_CODES = {
    "%Y": "yyyy", "%m": "MM", "%d": "dd", "%H": "HH", "%M": "mm", "%S": "ss", "%y": "yy",
    "%b": "MMM", "%B": "MMMM", "%a": "EEE", "%A": "EEEE", "%j": "DDD", "%I": "hh", "%p": "a",
    "%f": "SSSSSS", "%-d": "d", "%-m": "M", "%-H": "H", "%-I": "h", "%-M": "m", "%-S": "s",
    "%-j": "D",
}  # fmt: skip
PARSE_CODES = {
    "%Y": "yyyy", "%m": "M", "%d": "d", "%H": "H", "%M": "m", "%S": "s", "%y": "yy",
    "%b": "MMM", "%B": "MMMM", "%a": "EEE", "%A": "EEEE", "%I": "h", "%p": "a",
    "%-d": "d", "%-m": "M", "%-H": "H", "%-M": "m", "%-S": "s",
}  # fmt: skip
FORMAT_CODE = re.compile(r"%-?.")


def java_pattern(text: str, codes: Mapping[str, str]) -> str | None:
    """DuckDB's `%Y-%m-%d` as Java's `yyyy-MM-dd`, literal text quoted; None: a code
    with no Java letter."""
    out: list[str] = []
    literal: list[str] = []

    def flush() -> None:
        if not literal:
            return
        run = "".join(literal)
        # letters are pattern fields in Java; quote any run holding one
        out.append(f"'{run.replace(chr(39), chr(39) * 2)}'" if re.search("[A-Za-z']", run) else run)
        literal.clear()

    position = 0
    for found in FORMAT_CODE.finditer(text):
        literal.extend(text[position : found.start()])
        letters = codes.get(found.group())
        if letters is None:
            return None
        flush()
        out.append(letters)
        position = found.end()
    literal.extend(text[position:])
    flush()
    return "".join(out)
