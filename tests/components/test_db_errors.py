"""components.sql.errors: one category table per database, read by drivers, doctor and discovery.

Each category: the codes (or libpq messages) that map to it, then what each caller makes
of a code the tables do not know.
"""

from __future__ import annotations

import pytest

from components.mysql import io as mysql_io
from components.postgres import io as postgres_io
from components.sql.errors import (
    Category,
    connect_category,
    mysql_category,
    mysql_retryable,
    postgres_category,
    postgres_retryable,
)

# -- MySQL and MariaDB ---------------------------------------------------------------------------

MYSQL = {
    "auth": (1045, 1251, 1698, 2059),
    "permission": (1044, 1130, 1142, 1143, 1226, 1227, 1370),
    "config": (1049, 1148, 3948),
    "network": (1040, 1053, 1927, 2002, 2003, 2005, 2006, 2013, 2055),
    "timeout": (1205, 1969, 3024),
    "data": (1048, 1062, 1264, 1292, 1366, 1406, 1452, 3819, 4025),
}


@pytest.mark.parametrize("category", sorted(MYSQL))
def test_mysql_codes_of_each_category(category: str) -> None:
    assert {code: mysql_category(code) for code in MYSQL[category]} == dict.fromkeys(
        MYSQL[category], category
    )


def test_mysql_client_errors_outside_the_table_are_network_server_errors_unknown() -> None:
    # 2026: SSL connection error (client); 1064: syntax; 1792: read-only transaction;
    # 3105: generated column (a MySQL 8 server error, 3000 up: not the client's)
    assert [mysql_category(code) for code in (2026, 2000, 1064, 1792, 3105)] == [
        "network",
        "network",
        None,
        None,
        None,
    ]


def test_mysql_timed_out_connect_or_read_is_a_timeout() -> None:
    refused = "Can't connect to MySQL server on '10.0.0.1' ([Errno 111] Connection refused)"
    assert mysql_category(2003, "Can't connect to MySQL server on '10.0.0.1' (timed out)") == (
        "timeout"
    )
    assert mysql_category(2013, "Lost connection to MySQL server during query (timed out)") == (
        "timeout"
    )
    assert mysql_category(2003, refused) == "network"
    assert mysql_category(2003) == "network"  # no message: the code alone


def test_mysql_retryable_codes() -> None:
    codes = (1213, 1205, 2013, 1040, 1045, 1064, 3024, 1062)
    assert [code for code in codes if mysql_retryable(code)] == [1213, 1205, 2013, 1040]


def test_a_mysql_driver_calls_an_unknown_code_sql_with_its_own_hint() -> None:
    fields = {"password": "s3cret"}
    unknown = mysql_io.driver_error(1064, "syntax near 's3cret'", "read", fields)
    denied = mysql_io.driver_error(1142, "SELECT command denied", "read", fields)
    deadlock = mysql_io.driver_error(1213, "Deadlock found", "write", fields)

    assert (unknown.category, unknown.retryable, str(unknown)) == (
        "sql",
        False,
        "MySQL read failed: syntax near '***' (error 1064)",
    )
    assert (denied.category, denied.hint) == (
        "permission",
        "grant the connection's user the privilege this step needs",
    )
    assert (deadlock.category, deadlock.retryable) == ("sql", True)


# -- PostgreSQL ----------------------------------------------------------------------------------

POSTGRES_STATES = {
    "auth": ("28P01", "28000"),
    "network": ("08006", "08001", "53300", "57P01"),
    "timeout": ("57014",),
    "permission": ("42501",),
    "config": ("3D000", "3F000"),
    "data": ("22P02", "22003", "23505", "23503"),
}


@pytest.mark.parametrize("category", sorted(POSTGRES_STATES))
def test_postgres_sqlstates_of_each_category(category: str) -> None:
    states = POSTGRES_STATES[category]
    assert {state: postgres_category(state, "") for state in states} == dict.fromkeys(
        states, category
    )


def test_postgres_sqlstates_outside_the_table_are_unknown() -> None:
    # syntax, undefined table, read-only transaction, deadlock, serialization failure
    states = ("42601", "42P01", "25006", "40P01", "40001")
    assert [postgres_category(state, "permission denied") for state in states] == [None] * 5


# What libpq says when a connection fails (no SQLSTATE), as psycopg reports it.
LIBPQ_MESSAGES = {
    'connection to server at "127.0.0.1", port 5432 failed: FATAL:  password authentication '
    'failed for user "etl"': "auth",
    'connection to server at "127.0.0.1", port 5432 failed: FATAL:  role "etl" does not exist': (
        "auth"
    ),
    'connection to server at "db" (10.0.0.5), port 5432 failed: fe_sendauth: no password '
    "supplied": "auth",
    'connection to server at "127.0.0.1", port 5432 failed: FATAL:  no pg_hba.conf entry for '
    'host "10.0.0.9", user "etl", database "dw", no encryption': "permission",
    'FATAL:  permission denied for database "dw"\nDETAIL:  User does not have CONNECT privilege.': (
        "permission"
    ),
    'connection to server at "127.0.0.1", port 5432 failed: FATAL:  database "dw" does not exist': (
        "config"
    ),
    'invalid connection option "sslrootcrt"': "config",
    'connection is bad: invalid sslmode value: "requires"': "config",
    'invalid integer value "x" for connection option "port"': "config",
    "connection timeout expired": "timeout",
    'connection to server at "127.0.0.1", port 1 failed: Connection refused\n\tIs the server '
    "running on that host and accepting TCP/IP connections?": "network",
    'could not translate host name "db.invalid" to address: Name or service not known': "network",
    "connection lost: error communicating with database: Connection reset by peer": "network",
}


@pytest.mark.parametrize("message", list(LIBPQ_MESSAGES))
def test_postgres_connection_failures_by_libpq_message(message: str) -> None:
    assert postgres_category(None, message) == LIBPQ_MESSAGES[message]


def test_postgres_retryable() -> None:
    cases = [
        (None, "network"),  # refused, reset
        (None, "timeout"),  # a connect that timed out
        ("57014", "timeout"),  # a statement that did: it would again
        ("40P01", "sql"),  # deadlock
        ("40001", "sql"),  # serialization failure
        ("08006", "network"),
        (None, "auth"),
        ("23505", "data"),
    ]
    assert [postgres_retryable(state, category) for state, category in cases] == [
        True,
        True,
        False,
        True,
        True,
        True,
        False,
        False,
    ]


def test_a_postgres_driver_calls_an_unknown_sqlstate_sql_with_its_own_hint() -> None:
    syntax = postgres_io.driver_error("42601", "syntax error at or near", "read", {})
    read_only = postgres_io.driver_error("25006", "read-only transaction", "read", {})
    denied = postgres_io.driver_error("42501", "permission denied for table t", "read", {})

    assert (syntax.category, syntax.retryable, syntax.hint) == ("sql", False, None)
    assert (read_only.category, read_only.hint) == (
        "sql",
        "extract queries run in a read-only transaction; write with a writer component",
    )
    assert (denied.category, denied.hint) == (
        "permission",
        "grant the connection's role the privilege this step needs",
    )


# -- connection checks ---------------------------------------------------------------------------


def test_a_connection_check_calls_data_sql_and_unknown_config() -> None:
    categories: list[Category | None] = [
        *("auth", "network", "timeout", "permission", "config", "data", "sql"),
        None,
    ]
    assert [connect_category(c) for c in categories] == [
        "auth",
        "network",
        "timeout",
        "permission",
        "config",
        "config",
        "config",
        "config",
    ]
    assert connect_category(mysql_category(1064)) == "config"  # doctor, discovery: config


def test_the_module_imports_no_driver() -> None:
    import subprocess
    import sys
    from pathlib import Path

    probe = (
        "import sys, components.sql.errors, components.sql.params; "
        "print(sorted(m for m in ('pymysql', 'psycopg', 'pyarrow', 'duckdb') if m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=root
    )
    assert out.stdout.strip() == "[]"


def test_docstring_examples() -> None:
    import doctest

    import components.sql.errors

    result = doctest.testmod(components.sql.errors)
    assert result.attempted > 0 and result.failed == 0
