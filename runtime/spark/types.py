"""DuckDB types and Spark types, each way: a Spark run keeps a local run's column types.

A CSV file is typed by DuckDB's own sniffer (the CSV extractor's rules: exact decimals,
dates only where asked), and Spark reads it with that schema; a table Spark made is
described in DuckDB's words where the shared writers need them (`mysql_type`,
`postgres_type` build a missing target table from them).

>>> duck_type(spark_type("DECIMAL(18,2)"))
'DECIMAL(18,2)'
>>> duck_type(spark_type("TIMESTAMP"))
'TIMESTAMP'
"""

from __future__ import annotations

import re
from typing import Any

_SIMPLE = {
    "BOOLEAN": "BooleanType",
    "TINYINT": "ByteType",
    "SMALLINT": "ShortType",
    "INTEGER": "IntegerType",
    "BIGINT": "LongType",
    "UTINYINT": "ShortType",
    "USMALLINT": "IntegerType",
    "UINTEGER": "LongType",
    "FLOAT": "FloatType",
    "DOUBLE": "DoubleType",
    "VARCHAR": "StringType",
    "DATE": "DateType",
    "TIMESTAMP": "TimestampNTZType",
    "TIMESTAMP_S": "TimestampNTZType",
    "TIMESTAMP_MS": "TimestampNTZType",
    "TIMESTAMP_NS": "TimestampNTZType",
    "TIMESTAMP WITH TIME ZONE": "TimestampType",
    "BLOB": "BinaryType",
}
_WIDE = {"HUGEINT": (38, 0), "UHUGEINT": (38, 0), "UBIGINT": (20, 0)}
_BACK = {
    "BooleanType": "BOOLEAN",
    "ByteType": "TINYINT",
    "ShortType": "SMALLINT",
    "IntegerType": "INTEGER",
    "LongType": "BIGINT",
    "FloatType": "FLOAT",
    "DoubleType": "DOUBLE",
    "StringType": "VARCHAR",
    "VarcharType": "VARCHAR",
    "CharType": "VARCHAR",
    "DateType": "DATE",
    "TimestampNTZType": "TIMESTAMP",
    "TimestampType": "TIMESTAMP WITH TIME ZONE",
    "BinaryType": "BLOB",
}
NUMERIC = ("ByteType", "ShortType", "IntegerType", "LongType", "FloatType", "DoubleType",
           "DecimalType")  # fmt: skip


def spark_type(duck: str) -> Any:
    """The Spark type holding a DuckDB type's values (text for what Spark lacks)."""
    from pyspark.sql import types as t

    kind = duck.upper().strip()
    decimal = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", kind)
    if decimal:
        return t.DecimalType(int(decimal.group(1)), int(decimal.group(2)))
    if kind in _WIDE:
        return t.DecimalType(*_WIDE[kind])
    return getattr(t, _SIMPLE.get(kind, "StringType"))()


def duck_type(kind: Any) -> str:
    """A Spark type in DuckDB's words (nested types as JSON text, as the writers send them)."""
    name = type(kind).__name__
    if name == "DecimalType":
        return f"DECIMAL({kind.precision},{kind.scale})"
    return _BACK.get(name, "VARCHAR")


def columns(frame: Any) -> list[tuple[str, str]]:
    """A DataFrame's (name, DuckDB type) pairs, as `DESCRIBE` gives them locally."""
    return [(field.name, duck_type(field.dataType)) for field in frame.schema.fields]


def is_numeric(kind: Any) -> bool:
    return type(kind).__name__ in NUMERIC
