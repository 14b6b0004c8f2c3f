"""The types the Spark translation reasons with: the DuckDB types Spark has no column
type for, and the kind (compiler/catalog.py's vocabulary: integer, decimal, float, date,
datetime, ...) of an expression where it is plain to see, on which the rewrites that
depend on a type decide.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import sqlglot.expressions as exp

#: The column name -> normalized type (compiler/catalog.py vocabulary) of a transform's
#: inputs, where the compiler knows it: what a rewrite that depends on a type reads.
Types = Mapping[str, str | None]

#: Types Spark has no column type for (or reads as another).
REFUSED_TYPES = {
    exp.DataType.Type.INT128: "HUGEINT", exp.DataType.Type.UINT128: "UHUGEINT",
    exp.DataType.Type.UBIGINT: "UBIGINT", exp.DataType.Type.UINT: "UINTEGER",
    exp.DataType.Type.USMALLINT: "USMALLINT", exp.DataType.Type.UTINYINT: "UTINYINT",
    exp.DataType.Type.TIME: "TIME", exp.DataType.Type.TIMETZ: "TIME WITH TIME ZONE",
    exp.DataType.Type.JSON: "JSON", exp.DataType.Type.UUID: "UUID",
    exp.DataType.Type.BIT: "BIT", exp.DataType.Type.UNION: "UNION",
    exp.DataType.Type.ENUM: "ENUM", exp.DataType.Type.TIMESTAMP_S: "TIMESTAMP_S",
    exp.DataType.Type.TIMESTAMP_MS: "TIMESTAMP_MS", exp.DataType.Type.TIMESTAMP_NS: "TIMESTAMP_NS",
}  # fmt: skip

#: How DuckDB lets each refused type be written (a regular expression), to point at it.
TYPE_SPELLINGS = {
    "HUGEINT": "HUGEINT|INT128", "UHUGEINT": "UHUGEINT|UINT128", "UBIGINT": "UBIGINT|UINT64",
    "UINTEGER": "UINTEGER|UINT32|UINT", "USMALLINT": "USMALLINT|UINT16",
    "UTINYINT": "UTINYINT|UINT8", "TIME WITH TIME ZONE": "TIMETZ|TIME WITH TIME ZONE",
    "BIT": "BITSTRING|BIT",
}  # fmt: skip

INTEGERS = {
    exp.DataType.Type.TINYINT, exp.DataType.Type.SMALLINT, exp.DataType.Type.INT,
    exp.DataType.Type.BIGINT,
}  # fmt: skip


_T = exp.DataType.Type
#: a cast's target type -> the kind the translation reasons with
_KINDS: dict[object, str] = {
    **dict.fromkeys((*INTEGERS, _T.INT128, _T.UBIGINT), "integer"),
    _T.DECIMAL: "decimal",
    **dict.fromkeys((_T.DOUBLE, _T.FLOAT), "float"),
    _T.BOOLEAN: "boolean",
    **dict.fromkeys((_T.VARCHAR, _T.TEXT, _T.CHAR), "string"),
    _T.DATE: "date",
    **dict.fromkeys((_T.TIMESTAMP, _T.TIMESTAMPNTZ, _T.DATETIME), "datetime"),
    _T.TIMESTAMPTZ: "timestamptz",
}


def _type_kind(data_type: exp.DataType) -> str | None:
    return _KINDS.get(data_type.this)


class Kinds:
    """The kind of an expression, from the literals, casts and functions it is made of
    and the known types of the columns it reads."""

    def __init__(self, types: Types) -> None:
        self.types = {k.lower(): v for k, v in types.items()}

    def kind(self, node: exp.Expr | None) -> str | None:
        """The normalized type of `node` where it is plain to see, else None."""
        if node is None:
            return None
        if isinstance(node, exp.Paren | exp.Neg):
            return self.kind(node.this)
        if isinstance(node, exp.Null):
            return "null"
        if isinstance(node, exp.Literal):
            if node.is_string:
                return "string"
            return "integer" if re.fullmatch(r"\d+", str(node.this)) else (
                "float" if "e" in str(node.this).lower() else "decimal"
            )  # fmt: skip
        if isinstance(node, (exp.Cast, exp.TryCast)):
            return _type_kind(node.to)
        if isinstance(node, exp.Column):
            return self.types.get(node.name.lower())
        if isinstance(node, (exp.Predicate, exp.Not, exp.Connector, exp.Boolean)):
            return "boolean"
        if isinstance(node, (exp.Round, exp.Floor, exp.Ceil)) and not node.args.get("decimals"):
            return "integer"  # an integer value, whatever the type: a CAST keeps it
        if isinstance(
            node,
            (
                exp.Count,
                exp.Length,
                exp.Year,
                exp.Month,
                exp.Day,
                exp.Quarter,
                exp.DayOfWeek,
                exp.DayOfYear,
                exp.Hour,
                exp.Minute,
                exp.Second,
                exp.Extract,
            ),
        ):
            return "integer"
        if isinstance(node, exp.Interval):
            return "interval"
        if isinstance(node, (exp.Add, exp.Sub)):
            kinds = {self.kind(node.this), self.kind(node.expression)}
            if kinds == {"date"} and isinstance(node, exp.Sub):
                return "integer"
            if kinds in ({"date", "interval"}, {"datetime", "interval"}):
                return "datetime"
            if kinds == {"date", "integer"}:
                return "date"
        if isinstance(node, (exp.Add, exp.Sub, exp.Mul, exp.Mod)):
            kinds = {self.kind(node.this), self.kind(node.expression)}
            numbers = ("integer", "decimal", "float")  # DuckDB promotes to the widest
            if not kinds <= set(numbers):
                return None
            return max(kinds, key=numbers.index)
        if isinstance(node, exp.Div):
            return "float"  # DuckDB's `/` divides as doubles
        if isinstance(node, exp.If):  # also the rewritten `/`, seen by a CAST around it
            kinds = {self.kind(node.args.get("true")), self.kind(node.args.get("false"))}
            return kinds.pop() if len(kinds) == 1 else None
        if isinstance(node, exp.IntDiv):
            return "integer"
        if isinstance(node, (exp.Sum, exp.Min, exp.Max, exp.Abs)):
            return self.kind(node.this)
        if isinstance(node, exp.Avg):
            return "float"
        if isinstance(node, exp.CurrentDate):
            return "date"
        if isinstance(node, exp.CurrentTimestamp):
            return "datetime"
        return None
