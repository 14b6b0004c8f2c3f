"""The connection resolver: the file, variables, resolution order, masking, and doctor against
the real MariaDB and PostgreSQL servers."""

from __future__ import annotations

import socket
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime.connections import (
    ConnectionError,
    ConnectionsFile,
    ConnectionsFileError,
    MissingVariableError,
    ResolvedConnection,
    UnknownConnectionError,
    doctor,
    doctor_all,
    mask,
    parse_ref,
    read_dotenv,
    secret_values_of,
)
from tests.conftest import MYSQL, POSTGRES

CONNECTIONS = """\
connections:
  mysql:
    main:
      default: true
      host: ${MYSQL_HOST:-127.0.0.1}
      port: ${MYSQL_PORT:-3306}
      user: root
      password: ${MYSQL_PASSWORD}
      database: shop
    replica:
      host: replica.internal
      user: reader
      password: ${REPLICA_PASSWORD}
  postgres:
    warehouse:
      host: pg.internal
      user: etl
      pg_dsn: postgresql://etl:${PG_PASSWORD}@pg.internal:5432/dw
    reporting:
      host: pg.internal
      user: report
  filesystem:
    local:
      base_dir: data
"""


def make_project(tmp_path: Path, connections: str = CONNECTIONS, dotenv: str | None = None) -> Path:
    (tmp_path / "osiris_connections.yaml").write_text(textwrap.dedent(connections), "utf-8")
    if dotenv is not None:
        (tmp_path / ".env").write_text(textwrap.dedent(dotenv), "utf-8")
    return tmp_path


def load(tmp_path: Path, env: dict[str, str] | None = None, **kwargs: Any) -> ConnectionsFile:
    return ConnectionsFile.load(make_project(tmp_path, **kwargs), env=env or {})


# -- variables ---------------------------------------------------------------------------------


def test_variables_and_defaults_are_substituted(tmp_path: Path) -> None:
    file = load(tmp_path, {"MYSQL_PASSWORD": "pw-1", "MYSQL_PORT": ""})

    resolved = file.resolve("@mysql.main", "mysql")

    assert resolved == ResolvedConnection(
        "mysql",
        "main",
        {"host": "127.0.0.1", "port": 3306, "user": "root", "password": "pw-1", "database": "shop"},
        frozenset({"pw-1"}),
    )


def test_a_variable_inside_a_url_is_substituted_and_its_password_is_secret(
    tmp_path: Path,
) -> None:
    file = load(tmp_path, {"PG_PASSWORD": "p@ss:w0rd"})

    resolved = file.resolve("@postgres.warehouse", "postgres")

    assert resolved.fields["pg_dsn"] == "postgresql://etl:p@ss:w0rd@pg.internal:5432/dw"
    assert resolved.secret_values == frozenset(
        {"postgresql://etl:p@ss:w0rd@pg.internal:5432/dw", "p@ss:w0rd"}
    )


def test_exported_variables_win_over_dotenv(tmp_path: Path) -> None:
    dotenv = """\
        # database
        export MYSQL_PASSWORD='from dotenv'
        MYSQL_HOST=db.example # the primary
    """
    file = load(tmp_path, {"MYSQL_PASSWORD": "exported"}, dotenv=dotenv)

    resolved = file.resolve("@mysql", "mysql")

    assert (resolved.fields["password"], resolved.fields["host"]) == ("exported", "db.example")


def test_dotenv_values_are_read_as_written(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "A=plain\nexport B = spaced \nC='single # not a comment'\n"
        'D="double \\"quoted\\"\\n"\nE=\nF=x#y\n\n# done\n',
        "utf-8",
    )

    assert read_dotenv(tmp_path / ".env") == {
        "A": "plain",
        "B": "spaced",
        "C": "single # not a comment",
        "D": 'double "quoted"\n',
        "E": "",
        "F": "x#y",
    }


def test_a_broken_dotenv_line_is_named_without_its_content(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("A=1\nhunter2-is-my-password\n", "utf-8")

    with pytest.raises(ConnectionsFileError) as broken:
        ConnectionsFile.load(tmp_path, env={})

    assert str(broken.value) == f"{tmp_path / '.env'}:2: expected KEY=VALUE"
    assert broken.value.line == 2


def test_a_missing_variable_names_the_variable_and_connection_never_a_value(
    tmp_path: Path,
) -> None:
    file = load(tmp_path, {"REPLICA_PASSWORD": "replica-secret"}, dotenv="MYSQL_HOST=db.secret\n")

    with pytest.raises(MissingVariableError) as missing:
        file.resolve("@mysql.main", "mysql")

    error = missing.value
    assert (
        str(error)
        == "@mysql.main: environment variable MYSQL_PASSWORD is not set (used by `password`)"
    )
    assert error.hint == (
        f"export MYSQL_PASSWORD=..., or add `MYSQL_PASSWORD=...` to {tmp_path / '.env'}"
        " (it is used in osiris_connections.yaml line 8)"
    )
    assert (error.variable, error.connection, error.field) == (
        "MYSQL_PASSWORD",
        "@mysql.main",
        "password",
    )
    assert "db.secret" not in str(error) + error.hint
    assert "replica-secret" not in str(error) + error.hint


# -- resolution order --------------------------------------------------------------------------


def test_family_reference_means_the_default_alias(tmp_path: Path) -> None:
    file = load(tmp_path, {"MYSQL_PASSWORD": "x"})

    assert file.resolve("@mysql", "mysql").alias == "main"
    assert file.resolve(None, "mysql").alias == "main"
    assert file.resolve(None, "filesystem").alias == "local"  # the only alias is the default


def test_inline_fields_win_over_the_alias(tmp_path: Path) -> None:
    file = load(tmp_path, {"REPLICA_PASSWORD": "r"})

    resolved = file.resolve("@mysql.replica", "mysql", {"database": "sales", "host": None})

    assert resolved.fields == {
        "host": "replica.internal",
        "user": "reader",
        "password": "r",
        "database": "sales",
    }


def test_inline_fields_alone_for_a_family_without_aliases(tmp_path: Path) -> None:
    file = load(tmp_path)

    resolved = file.resolve(None, "duckdb", {"path": "warehouse.duckdb"})

    assert resolved == ResolvedConnection(
        "duckdb", None, {"path": str(tmp_path / "warehouse.duckdb")}, frozenset()
    )


def test_no_default_among_several_aliases_lists_them(tmp_path: Path) -> None:
    file = load(tmp_path)

    with pytest.raises(UnknownConnectionError) as refused:
        file.resolve(None, "postgres")

    assert str(refused.value) == (
        "no default postgres connection (none is default); name one of: "
        "@postgres.warehouse, @postgres.reporting"
    )
    assert refused.value.available == ["@postgres.warehouse", "@postgres.reporting"]
    assert (
        refused.value.hint == "write @postgres.<alias>, or mark exactly one alias `default: true`"
    )


def test_two_defaults_are_no_default(tmp_path: Path) -> None:
    file = load(
        tmp_path,
        connections="""\
        connections:
          mysql:
            a: {default: true, host: h}
            b: {default: true, host: h}
        """,
    )

    with pytest.raises(UnknownConnectionError) as refused:
        file.resolve("@mysql", "mysql")

    assert str(refused.value) == (
        "no default mysql connection (several are marked default: a, b); "
        "name one of: @mysql.a, @mysql.b"
    )


def test_an_unknown_alias_suggests_the_closest(tmp_path: Path) -> None:
    file = load(tmp_path)

    with pytest.raises(UnknownConnectionError) as refused:
        file.resolve("@postgres.warehous", "postgres")

    assert str(refused.value) == (
        f"no connection @postgres.warehous in {tmp_path / 'osiris_connections.yaml'}"
    )
    assert refused.value.hint == "did you mean @postgres.warehouse?"
    assert refused.value.available == ["@postgres.warehouse", "@postgres.reporting"]


def test_a_family_without_connections_and_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UnknownConnectionError) as refused:
        ConnectionsFile.load(tmp_path, env={}).resolve(None, "mysql")

    assert str(refused.value) == (
        f"no mysql connection in {tmp_path / 'osiris_connections.yaml'} (the file does not exist)"
    )
    assert refused.value.hint == (
        "add a mysql connection to osiris_connections.yaml (`osiris init` writes an example)"
        ", or set MYSQL_HOST, MYSQL_PORT, MYSQL_DATABASE, MYSQL_USER, MYSQL_PASSWORD"
    )


def test_a_reference_of_another_family_is_refused(tmp_path: Path) -> None:
    file = load(tmp_path)

    with pytest.raises(UnknownConnectionError) as refused:
        file.resolve("@postgres.reporting", "mysql")

    assert str(refused.value) == (
        "@postgres.reporting is a postgres connection, but this step needs a mysql one"
    )


@pytest.mark.parametrize(
    ("ref", "parsed"),
    [("@mysql.main", ("mysql", "main")), ("@mysql", ("mysql", None)), ("pg.x-1", ("pg", "x-1"))],
)
def test_parse_ref(ref: str, parsed: tuple[str, str | None]) -> None:
    assert parse_ref(ref) == parsed


def test_parse_ref_refuses_garbage() -> None:
    with pytest.raises(ConnectionError) as refused:
        parse_ref("@mysql.main.extra")

    assert str(refused.value) == "invalid connection reference '@mysql.main.extra'"


def test_relative_base_dir_is_anchored_at_the_project(tmp_path: Path) -> None:
    assert load(tmp_path).resolve("@filesystem", "filesystem").fields == {
        "base_dir": str(tmp_path / "data")
    }


def test_refs_lists_what_resolves(tmp_path: Path) -> None:
    assert load(tmp_path).refs() == frozenset(
        {
            "@mysql",
            "@mysql.main",
            "@mysql.replica",
            "@postgres.warehouse",
            "@postgres.reporting",
            "@filesystem",
            "@filesystem.local",
        }
    )


# -- the file ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        (
            "connections:\n  mysql:\n    main:\n      host: [oops\n",
            5,
            "YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence)",
        ),
        (
            "connections:\n  mysql:\n    main: {host: a}\n    main: {host: b}\n",
            4,
            "duplicate key 'main'",
        ),
        (
            "connections:\n  'no family':\n    main: {host: a}\n",
            2,
            "invalid connection family 'no family'",
        ),
        (
            "connections:\n  mysql:\n    main:\n      default: yes please\n",
            4,
            "@mysql.main: `default` must be true or false",
        ),
        ("connection:\n  mysql: {}\n", 1, "unknown top-level key 'connection'"),
    ],
)
def test_a_malformed_file_names_file_and_line(
    tmp_path: Path, text: str, line: int, problem: str
) -> None:
    (tmp_path / "osiris_connections.yaml").write_text(text, "utf-8")

    with pytest.raises(ConnectionsFileError) as broken:
        ConnectionsFile.load(tmp_path, env={})

    assert str(broken.value) == f"{tmp_path / 'osiris_connections.yaml'}:{line}: {problem}"
    assert broken.value.line == line


def test_a_syntax_error_never_quotes_the_source_line(tmp_path: Path) -> None:
    (tmp_path / "osiris_connections.yaml").write_text(
        "connections:\n  mysql:\n    main:\n      password: 'hunter2\n", "utf-8"
    )

    with pytest.raises(ConnectionsFileError) as broken:
        ConnectionsFile.load(tmp_path, env={})

    assert "hunter2" not in str(broken.value) + str(broken.value.hint)


def test_an_empty_file_has_no_connections(tmp_path: Path) -> None:
    file = load(tmp_path, connections="# nothing yet\n")

    assert (file.exists, file.aliases(), file.refs()) == (True, [], frozenset())


# -- masking -----------------------------------------------------------------------------------


def test_mask_hides_secret_fields_and_url_passwords() -> None:
    fields = {
        "host": "h",
        "user": "u",
        "password": "pw",
        "api_key": "k-123",
        "service_role_key": "srk",
        "url": "postgresql://u:pw@h:5432/db",
        "options": {"token": "t", "sslmode": "require"},
        "empty_password": "",
        "port": 5432,
    }

    assert mask(fields) == {
        "host": "h",
        "user": "u",
        "password": "***",
        "api_key": "***",
        "service_role_key": "***",
        "url": "postgresql://u:***@h:5432/db",
        "options": {"token": "***", "sslmode": "require"},
        "empty_password": "",
        "port": 5432,
    }


def test_secret_values_cover_fields_urls_and_dsn_passwords() -> None:
    assert secret_values_of(
        {
            "password": "pw1",
            "token": 12345,
            "url": "mysql://u:p%2Fw@h/db",
            "options": "host=h password='a b' sslmode=require",
            "user": "not-secret",
        }
    ) == frozenset({"pw1", "12345", "p%2Fw", "p/w", "a b"})


def test_aliases_are_listed_masked_with_unset_variables_named(tmp_path: Path) -> None:
    file = load(tmp_path, {"MYSQL_PASSWORD": "pw-main"})

    infos = {info.ref: info for info in file.aliases()}

    assert list(infos) == [
        "@mysql.main",
        "@mysql.replica",
        "@postgres.warehouse",
        "@postgres.reporting",
        "@filesystem.local",
    ]
    assert infos["@mysql.main"].fields == {
        "host": "127.0.0.1",
        "port": 3306,
        "user": "root",
        "password": "***",
        "database": "shop",
    }
    assert infos["@mysql.main"].is_default and not infos["@mysql.replica"].is_default
    assert infos["@mysql.replica"].missing_variables == ("REPLICA_PASSWORD",)
    assert infos["@postgres.warehouse"].fields["pg_dsn"] == "***"
    assert file.secret_values() == frozenset({"pw-main"})


def test_a_resolved_connection_never_shows_its_secrets(tmp_path: Path) -> None:
    resolved = load(tmp_path, {"MYSQL_PASSWORD": "canary-repr-9f2"}).resolve("@mysql", "mysql")

    assert "canary-repr-9f2" not in repr(resolved) + str(resolved)
    assert repr(resolved) == (
        "ResolvedConnection(@mysql.main, fields={'host': '127.0.0.1', 'port': 3306, "
        "'user': 'root', 'password': '***', 'database': 'shop'})"
    )


# -- doctor: the real servers ------------------------------------------------------------------


def canary() -> str:
    return f"canary-{uuid.uuid4().hex}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield int(server.getsockname()[1])


def resolved(family: str, **fields: Any) -> ResolvedConnection:
    return ResolvedConnection(family, "t", fields, secret_values_of(fields))


def assert_no_secret(result: Any, secret: str) -> None:
    assert secret not in f"{result.message} {result.hint} {result!r}"


@pytest.mark.db
def test_doctor_mysql_answers(mysql_db: dict[str, Any]) -> None:
    result = doctor(resolved("mysql", **mysql_db))

    assert (result.ok, result.category, result.hint) == (True, None, None)
    assert result.latency_ms is not None and result.latency_ms > 0
    assert result.message.startswith("connected to 127.0.0.1: server ")


@pytest.mark.db
def test_doctor_mysql_wrong_password_is_auth_and_never_shows_it(mysql_db: dict[str, Any]) -> None:
    secret = canary()

    result = doctor(resolved("mysql", **{**mysql_db, "password": secret}))

    assert (result.ok, result.category) == (False, "auth")
    assert result.message == (
        "MySQL error 1045: Access denied for user 'root'@'127.0.0.1' (using password: YES)"
    )
    assert_no_secret(result, secret)


@pytest.mark.db
def test_doctor_mysql_database_without_access_is_permission(mysql_db: dict[str, Any]) -> None:
    import pymysql

    user, secret = f"osiris_u_{uuid.uuid4().hex[:8]}", canary()
    admin = pymysql.connect(**MYSQL, autocommit=True)
    with admin.cursor() as cur:
        cur.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (secret,))
    try:
        result = doctor(resolved("mysql", **{**mysql_db, "user": user, "password": secret}))
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP USER '{user}'@'%'")
        admin.close()

    assert (result.ok, result.category) == (False, "permission")
    database = mysql_db["database"]
    assert result.message == (
        f"MySQL error 1044: Access denied for user '{user}'@'%' to database '{database}'"
    )
    assert_no_secret(result, secret)


@pytest.mark.db
def test_doctor_mysql_unknown_database_is_config(mysql_db: dict[str, Any]) -> None:
    result = doctor(resolved("mysql", **{**mysql_db, "database": "no_such_db_osiris"}))

    assert (result.ok, result.category) == (False, "config")
    assert result.message == "MySQL error 1049: Unknown database 'no_such_db_osiris'"
    assert result.hint == (
        "the database named by `database` does not exist: create it or fix the name"
    )


@pytest.mark.db
def test_doctor_postgres_answers(pg_db: dict[str, Any]) -> None:
    result = doctor(resolved("postgres", **pg_db))

    assert (result.ok, result.category) == (True, None)
    assert result.message.startswith("connected to 127.0.0.1: PostgreSQL ")


@pytest.mark.db
def test_doctor_postgres_unknown_role_is_auth_and_never_shows_the_password(
    pg_db: dict[str, Any],
) -> None:
    secret = canary()

    result = doctor(
        resolved("postgres", **{**pg_db, "user": "no_such_role_osiris", "password": secret})
    )

    assert (result.ok, result.category) == (False, "auth")
    assert result.message == (
        'PostgreSQL: connection to server at "127.0.0.1", port 5432 failed: '
        'FATAL: role "no_such_role_osiris" does not exist'
    )
    assert_no_secret(result, secret)


@pytest.mark.db
def test_doctor_postgres_canary_inside_a_dsn_is_never_shown(pg_db: dict[str, Any]) -> None:
    secret = canary()
    dsn = f"postgresql://no_such_role_osiris:{secret}@127.0.0.1:5432/test"

    result = doctor(resolved("supabase", pg_dsn=dsn))

    assert (result.ok, result.category) == (False, "auth")
    assert_no_secret(result, secret)


@pytest.mark.db
def test_doctor_postgres_schema_without_usage_is_permission(pg_db: dict[str, Any]) -> None:
    import psycopg

    role = f"osiris_r_{uuid.uuid4().hex[:8]}"
    conninfo = "host={host} port={port} user={user} dbname={database}".format(**POSTGRES)
    with psycopg.connect(conninfo, autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
        try:
            result = doctor(resolved("postgres", **{**pg_db, "user": role}))
        finally:
            admin.execute(f'DROP ROLE "{role}"')

    assert (result.ok, result.category) == (False, "permission")
    assert result.message == f'permission denied for schema "{pg_db["schema"]}"'
    assert result.hint == f"GRANT USAGE ON SCHEMA {pg_db['schema']} TO {role}"


@pytest.mark.db
def test_doctor_postgres_missing_schema_and_database_are_config(pg_db: dict[str, Any]) -> None:
    no_schema = doctor(resolved("postgres", **{**pg_db, "schema": "no_such_schema_osiris"}))
    no_database = doctor(resolved("postgres", **{**pg_db, "database": "no_such_db_osiris"}))

    assert (no_schema.category, no_schema.message) == (
        "config",
        'schema "no_such_schema_osiris" does not exist',
    )
    assert no_database.category == "config"
    assert no_database.message.endswith('FATAL: database "no_such_db_osiris" does not exist')


CLOSED_PORT_MESSAGES = {
    "mysql": "MySQL error 2003: Can't connect to MySQL server on '127.0.0.1' "
    "([Errno 111] Connection refused) (127.0.0.1:{port})",
    "postgres": 'PostgreSQL: connection to server at "127.0.0.1", port {port} failed: '
    "Connection refused Is the server running on that host and accepting TCP/IP connections?",
}


@pytest.mark.parametrize("family", ["mysql", "postgres"])
def test_doctor_closed_port_is_network(family: str) -> None:
    port = free_port()

    result = doctor(resolved(family, host="127.0.0.1", port=port, user="u", password="pw-x"))

    assert (result.ok, result.category) == (False, "network")
    assert result.message == CLOSED_PORT_MESSAGES[family].format(port=port)
    assert result.hint == (
        "check `host` and `port`, and that the server runs and accepts TCP connections"
    )


def test_doctor_unknown_host_is_network() -> None:
    result = doctor(resolved("mysql", host="no-such-host.invalid", user="u"))

    assert (result.ok, result.category) == (False, "network")
    # the resolver's own words vary by machine ("Name or service not known", ...)
    assert result.message.startswith(
        "MySQL error 2003: Can't connect to MySQL server on 'no-such-host.invalid' ([Errno "
    )
    assert result.message.endswith(") (no-such-host.invalid:3306)")


@pytest.mark.parametrize("family", ["mysql", "postgres"])
def test_doctor_silent_server_is_timeout(family: str, silent_server: int) -> None:
    result = doctor(
        resolved(family, host="127.0.0.1", port=silent_server, user="u", password="pw-x"),
        timeout_s=1,
    )

    assert (result.ok, result.category) == (False, "timeout")


@pytest.mark.parametrize(
    ("family", "fields", "message"),
    [
        ("mysql", {"user": "root"}, "missing field host"),
        ("postgres", {}, "missing fields host, user"),
        ("filesystem", {}, "missing field base_dir"),
        ("duckdb", {}, "missing field path"),
        ("mysql", {"host": "h", "user": "u", "port": "x"}, "port 'x' is not a port number"),
    ],
)
def test_doctor_missing_fields_are_config(
    family: str, fields: dict[str, Any], message: str
) -> None:
    result = doctor(resolved(family, **fields))

    assert (result.ok, result.category, result.latency_ms, result.message) == (
        False,
        "config",
        None,
        message,
    )


def test_doctor_filesystem(tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("x", "utf-8")

    good = doctor(resolved("filesystem", base_dir=str(tmp_path)))
    missing = doctor(resolved("filesystem", base_dir=str(tmp_path / "nope")))
    not_dir = doctor(resolved("filesystem", base_dir=str(tmp_path / "file.txt")))

    assert (good.ok, good.message) == (True, f"{tmp_path} is readable and writable")
    assert (missing.category, missing.message) == (
        "config",
        f"base_dir {str(tmp_path / 'nope')!r} does not exist",
    )
    assert (not_dir.category, not_dir.message) == (
        "config",
        f"base_dir {str(tmp_path / 'file.txt')!r} is not a directory",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]  # no probe left behind


def test_doctor_duckdb(tmp_path: Path) -> None:
    import duckdb

    database = tmp_path / "w.duckdb"
    with duckdb.connect(str(database)) as conn:
        conn.execute("CREATE TABLE t (i INTEGER)")
    (tmp_path / "junk.duckdb").write_bytes(b"not a database at all" * 200)

    good = doctor(resolved("duckdb", path=str(database)))
    junk = doctor(resolved("duckdb", path=str(tmp_path / "junk.duckdb")))

    assert (good.ok, good.message) == (True, f"opened {database} read-only: 1 tables")
    assert (junk.ok, junk.category) == (False, "config")


def test_doctor_all_reports_unresolvable_connections_as_config(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    file = load(
        tmp_path,
        connections="""\
        connections:
          mysql:
            main: {host: 127.0.0.1, user: root, password: "${NOT_SET_ANYWHERE}"}
          filesystem:
            local: {base_dir: data}
        """,
    )

    results = doctor_all(file)

    assert [ref for ref, _ in results] == ["@mysql.main", "@filesystem.local"]
    failed = results[0][1]
    assert (failed.ok, failed.category, failed.message) == (
        False,
        "config",
        "@mysql.main: environment variable NOT_SET_ANYWHERE is not set (used by `password`)",
    )
    assert results[1][1].ok


def test_docstring_examples() -> None:
    import doctest

    import runtime.connections

    result = doctest.testmod(runtime.connections)
    assert (result.attempted, result.failed) == (22, 0)
