"""components.sql.params: a connection's host, port and libpq parameters, read one way.

The drivers, the doctor and discovery's cache keys all go through `postgres_params`; its
DSN parser is checked against libpq's own (psycopg's `conninfo_to_dict`).
"""

from __future__ import annotations

import uuid

import pytest

from components.sql.params import (
    FieldError,
    is_loopback,
    parse_dsn,
    port_number,
    postgres_params,
    supabase_host,
)


def test_loopback_hosts() -> None:
    hosts = ["localhost", "LocalHost", "127.0.0.1", "127.1.2.3", "::1", "10.0.0.1", "::2"]
    hosts += ["db.example.com", "localhost.example.com", ""]
    assert [host for host in hosts if is_loopback(host)] == [
        "localhost",
        "LocalHost",
        "127.0.0.1",
        "127.1.2.3",
        "::1",
    ]


def test_port_numbers() -> None:
    assert [port_number(raw, 3306) for raw in (None, "", 5433, "6543", "1")] == [
        3306,
        3306,
        5433,
        6543,
        1,
    ]


@pytest.mark.parametrize("raw", ["x", 0, 65536, -1, True, "5432,5433"])
def test_a_port_that_is_no_port_number_is_refused(raw: object) -> None:
    with pytest.raises(FieldError) as refused:
        port_number(raw, 5432)
    assert (refused.value.message, refused.value.hint) == (
        f"port {raw!r} is not a port number",
        "set `port` to a number between 1 and 65535",
    )


def test_supabase_hosts() -> None:
    assert [
        supabase_host("https://abcd1234.supabase.co"),
        supabase_host("https://db.abcd1234.supabase.co"),
        supabase_host("", "abcd1234"),
        supabase_host("https://abcd1234.supabase.co", "other"),  # the URL names it
        supabase_host("postgresql://etl@pg.internal/dw"),  # any other URL: its host
        supabase_host(""),
    ] == [
        "db.abcd1234.supabase.co",
        "db.abcd1234.supabase.co",
        "db.abcd1234.supabase.co",
        "db.abcd1234.supabase.co",
        "pg.internal",
        "",
    ]


# -- DSNs: what libpq reads -------------------------------------------------------------------

DSNS = [
    "postgresql://etl:p%40ss@pg.internal:6543/dw?sslmode=require",
    "postgres://u@h/db",
    "postgresql:///db",
    "postgresql://u:pw@h1:5432,h2:5433/db?target_session_attrs=read-write",
    "postgresql://[::1]:5432/db",
    "postgresql://%2Fvar%2Frun%2Fpostgresql/db",
    "postgresql://u:pa?ss@h/db",
    "postgresql://h/db?ssl=true&application_name=my%20app",
    "postgresql://postgres.abcd:pw@aws-0-eu-central-1.pooler.supabase.com:6543/postgres",
    "host=127.0.0.1 port=5432 dbname=test user=postgres",
    "host = h  dbname = 'my db' password='it\\'s'",
    "host=h password=a\\ b options='-c search_path=x'",
    "host='h'port=5",
    "",
]


@pytest.mark.parametrize("dsn", DSNS)
def test_a_dsn_reads_as_libpq_reads_it(dsn: str) -> None:
    from psycopg.conninfo import conninfo_to_dict

    assert parse_dsn(dsn) == {key: value for key, value in conninfo_to_dict(dsn).items() if value}


@pytest.mark.parametrize(
    "template",
    [
        "host=127.0.0.1 password {}",  # no `=`
        "host=h password='{}",  # unterminated quote
        "postgresql://u:{}%zz@h/db",  # bad percent-encoding
        "postgresql://h/db?password{}",  # query without `=`
    ],
)
def test_a_malformed_dsn_is_refused_without_echoing_it(template: str) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    with pytest.raises(FieldError) as refused:
        parse_dsn(template.format(canary), "dsn")
    assert refused.value.message == "`dsn` is not a valid PostgreSQL connection string"
    assert canary not in f"{refused.value} {refused.value.hint}"


# -- postgres_params: the one reading of PostgreSQL and Supabase fields ------------------------


def test_plain_fields_become_libpq_parameters_and_nothing_is_defaulted() -> None:
    fields = {"host": "pg", "port": 5433, "user": "etl", "database": "dw", "schema": "s"}
    assert postgres_params(fields) == {"host": "pg", "port": "5433", "user": "etl", "dbname": "dw"}
    assert postgres_params({}) == {}


def test_a_supabase_url_or_project_id_names_the_direct_database_host() -> None:
    expected = {
        "host": "db.abcd1234.supabase.co",
        "user": "postgres",
        "dbname": "postgres",
        "sslmode": "require",
        "password": "pw",
    }
    assert postgres_params({"url": "https://abcd1234.supabase.co", "password": "pw"}) == expected
    assert postgres_params({"project_id": "abcd1234", "password": "pw"}) == expected


def test_a_dsn_wins_over_the_project_url_and_explicit_fields_over_both() -> None:
    dsn = "postgresql://postgres.abcd:pw@aws-0-eu-central-1.pooler.supabase.com:6543/postgres"
    fields = {"pg_dsn": dsn, "url": "https://abcd.supabase.co"}

    assert postgres_params(fields)["host"] == "aws-0-eu-central-1.pooler.supabase.com"
    assert postgres_params({**fields, "port": "5432", "sslmode": "disable"}) == {
        "user": "postgres.abcd",
        "password": "pw",
        "host": "aws-0-eu-central-1.pooler.supabase.com",
        "port": "5432",
        "dbname": "postgres",
        "sslmode": "disable",
    }


def test_a_supabase_host_gets_the_supabase_defaults_others_do_not() -> None:
    assert postgres_params({"host": "db.abcd.supabase.co", "sslmode": "verify-full"}) == {
        "host": "db.abcd.supabase.co",
        "user": "postgres",
        "dbname": "postgres",
        "sslmode": "verify-full",
    }
    assert postgres_params({"dsn": "host=pg.internal"}) == {"host": "pg.internal"}


def test_unusable_fields_are_field_errors() -> None:
    with pytest.raises(FieldError, match="port 'x' is not a port number"):
        postgres_params({"host": "h", "port": "x"})
    with pytest.raises(FieldError, match="`pg_dsn` is not a valid"):
        postgres_params({"pg_dsn": "host=h password"})
    with pytest.raises(FieldError, match="`url` is not a URL"):
        postgres_params({"url": "https://[abcd.supabase.co"})


def test_docstring_examples() -> None:
    import doctest

    import components.sql.params

    result = doctest.testmod(components.sql.params)
    assert result.attempted > 0 and result.failed == 0
