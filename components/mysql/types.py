"""How MySQL/MariaDB types meet DuckDB's, exactly: a result column's type → the data plane's
(`mysql_column`: DECIMAL keeps its precision, unsigned BIGINT fits, binary stays binary),
and a data-plane type → the column a writer creates (`mysql_type`), with the expressions
that export a value for `LOAD DATA` or a row insert without losing it."""

from __future__ import annotations

from typing import Any

from pymysql.constants import FIELD_TYPE, FLAG

from components.protocol import DriverError
from components.sql.io import Column

_INTEGERS = {
    FIELD_TYPE.TINY: ("TINYINT", "UTINYINT"),
    FIELD_TYPE.SHORT: ("SMALLINT", "USMALLINT"),
    FIELD_TYPE.INT24: ("INTEGER", "UINTEGER"),
    FIELD_TYPE.LONG: ("INTEGER", "UINTEGER"),
    FIELD_TYPE.LONGLONG: ("BIGINT", "UBIGINT"),
    FIELD_TYPE.YEAR: ("SMALLINT", "SMALLINT"),
}
_STRINGS = {
    FIELD_TYPE.VARCHAR,
    FIELD_TYPE.VAR_STRING,
    FIELD_TYPE.STRING,
    FIELD_TYPE.ENUM,
    FIELD_TYPE.SET,
    FIELD_TYPE.TINY_BLOB,
    FIELD_TYPE.MEDIUM_BLOB,
    FIELD_TYPE.LONG_BLOB,
    FIELD_TYPE.BLOB,
}
_BINARY_CHARSET = 63


def _cast(name: str, duck_type: str, fast: bool = True) -> Column:
    load = f"CAST({{c}} AS {duck_type})"
    return Column(name, duck_type, text_load=load, fast_load=load if fast else None)


def _decimal(name: str, precision: int, scale: int) -> Column:
    # connectorx reads DECIMAL as decimal128(38, 10) through rust_decimal (28 digits):
    # wider or finer decimals would lose digits there, so they take the text path.
    if precision > 38:
        return Column(name, "VARCHAR", text_load="{c}")
    return _cast(name, f"DECIMAL({precision},{scale})", fast=precision <= 28 and scale <= 10)


def mysql_column(field: Any) -> Column:
    """The output column for one field of a MySQL result (PyMySQL's `Field`)."""
    name, kind = field.name, field.type_code
    unsigned = bool(field.flags & FLAG.UNSIGNED)
    if kind in _INTEGERS:
        return _cast(name, _INTEGERS[kind][unsigned])
    if kind in (FIELD_TYPE.DECIMAL, FIELD_TYPE.NEWDECIMAL):
        precision = field.length - (1 if field.scale else 0) - (0 if unsigned else 1)
        return _decimal(name, precision, field.scale)
    if kind in (FIELD_TYPE.FLOAT, FIELD_TYPE.DOUBLE):
        return _cast(name, "FLOAT" if kind == FIELD_TYPE.FLOAT else "DOUBLE")
    if kind in (FIELD_TYPE.DATE, FIELD_TYPE.NEWDATE, FIELD_TYPE.DATETIME):
        duck = "DATE" if kind != FIELD_TYPE.DATETIME else "TIMESTAMP"
        # Zero dates ('0000-00-00') have no value in any other system: they read as NULL.
        return Column(name, duck, text_load=f"TRY_CAST({{c}} AS {duck})", fast_load="{c}")
    if kind == FIELD_TYPE.TIMESTAMP:
        # The session runs in UTC, so a TIMESTAMP arrives as its UTC wall time.
        return Column(
            name,
            "TIMESTAMP WITH TIME ZONE",
            text_load="timezone('UTC', TRY_CAST({c} AS TIMESTAMP))",
            fast_load="timezone('UTC', {c})",
        )
    if kind == FIELD_TYPE.TIME:  # a signed duration up to 838 hours, not a time of day
        return _cast(name, "INTERVAL", fast=False)
    if kind == FIELD_TYPE.JSON:
        return _cast(name, "JSON")
    if kind == FIELD_TYPE.BIT:
        return Column(name, "BLOB", text_load="{c}", fast_load="{c}", binary=True)
    if kind in _STRINGS:
        if field.charsetnr == _BINARY_CHARSET:
            return Column(name, "BLOB", text_load="{c}", fast_load="{c}", binary=True)
        return Column(name, "VARCHAR", text_load="{c}", fast_load="{c}")
    if kind == FIELD_TYPE.GEOMETRY:
        return Column(name, "BLOB", text_load="{c}", binary=True)
    return Column(name, "VARCHAR", text_load="CAST({c} AS VARCHAR)")


#: Modes that change how the server reads SQL text — NO_BACKSLASH_ESCAPES makes
#: `'x\\' AS a, LOAD_FILE(...) -- '` code to the server but one string to the compiler's
#: checks; ANSI_QUOTES makes "..." a name; the combination modes hold ANSI_QUOTES (and
#: MariaDB's ORACLE mode a whole other parser). A read drops them from its session.


_MYSQL_TYPES = {
    "BOOLEAN": "BOOLEAN",
    "TINYINT": "TINYINT",
    "SMALLINT": "SMALLINT",
    "INTEGER": "INT",
    "BIGINT": "BIGINT",
    "UTINYINT": "TINYINT UNSIGNED",
    "USMALLINT": "SMALLINT UNSIGNED",
    "UINTEGER": "INT UNSIGNED",
    "UBIGINT": "BIGINT UNSIGNED",
    "HUGEINT": "DECIMAL(39,0)",
    "UHUGEINT": "DECIMAL(39,0)",
    "FLOAT": "FLOAT",
    "DOUBLE": "DOUBLE",
    "DATE": "DATE",
    "TIME": "TIME(6)",
    "TIMESTAMP": "DATETIME(6)",
    "TIMESTAMP_S": "DATETIME",
    "TIMESTAMP_MS": "DATETIME(3)",
    "TIMESTAMP_NS": "DATETIME(6)",
    "TIMESTAMP WITH TIME ZONE": "DATETIME(6)",  # holds the UTC wall time
    "INTERVAL": "TIME(6)",
    "BLOB": "LONGBLOB",
    "UUID": "CHAR(36)",
    "JSON": "JSON",
    "VARCHAR": "LONGTEXT",  # TEXT stops at 64 KB
}
#: Longest VARCHAR key InnoDB can index in utf8mb4 (3072 bytes / 4).
_MAX_KEY_CHARS = 768


def _nested(duck_type: str) -> bool:
    return duck_type.endswith("]") or duck_type.startswith(("STRUCT", "MAP", "UNION"))


def mysql_type(duck_type: str, key_length: int | None = None) -> str:
    """MySQL column type for a DuckDB type; `key_length` sizes a key column's VARCHAR."""
    if key_length is not None and duck_type in ("VARCHAR", "BLOB"):
        if key_length > _MAX_KEY_CHARS:
            raise DriverError(
                f"a primary_key value is {key_length} characters long; MySQL indexes at "
                f"most {_MAX_KEY_CHARS}",
                category="data",
            )
        size = max(255, key_length)
        return f"VARCHAR({size})" if duck_type == "VARCHAR" else f"VARBINARY({size})"
    if duck_type.startswith("DECIMAL"):
        return duck_type
    if _nested(duck_type):
        return "JSON"
    return _MYSQL_TYPES.get(duck_type, "LONGTEXT")


def export_expression(name: str, duck_type: str) -> tuple[str, str | None]:
    """(DuckDB expression writing the column as LOAD DATA text, MySQL SET expression or None).

    The SET expression turns the user variable `{v}` into the value: hex for bytes,
    seconds for durations. Everything else loads as the text DuckDB writes.
    """
    column = '"' + name.replace('"', '""') + '"'
    if duck_type in ("BLOB", "BIT"):
        return f"hex({column})", "UNHEX({v})"
    if duck_type == "INTERVAL":
        return f"epoch({column})", "SEC_TO_TIME({v})"
    if duck_type == "BOOLEAN":
        return f"CAST({column} AS TINYINT)", None
    if duck_type == "TIMESTAMP WITH TIME ZONE":
        return f"timezone('UTC', {column})", None
    if _nested(duck_type):
        return f"to_json({column})", None
    if duck_type == "TIME WITH TIME ZONE":
        return f"CAST({column} AS VARCHAR)", None
    return column, None


def row_expression(name: str, duck_type: str) -> str:
    """DuckDB expression giving the column as a Python value PyMySQL can send."""
    column = '"' + name.replace('"', '""') + '"'
    if duck_type == "TIMESTAMP WITH TIME ZONE":
        return f"timezone('UTC', {column})"
    if _nested(duck_type):
        return f"CAST(to_json({column}) AS VARCHAR)"
    if duck_type in ("UUID", "TIME WITH TIME ZONE", "BIT") or duck_type.startswith("ENUM"):
        return f"CAST({column} AS VARCHAR)"
    return column


# The CSV DuckDB writes for LOAD DATA: every value quoted, NULL an unquoted word, so that
# NULL, '' and 'NULL' stay three different things. ESCAPED BY '' keeps backslashes literal.
