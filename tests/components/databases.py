"""The test databases as families: run SQL on one, list its tables, the connection a step gets.

MySQL runs on the MariaDB test database; PostgreSQL and Supabase share a PostgreSQL schema
(a Supabase connection reaches the local server through `pg_dsn`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import psycopg
import pymysql

from components.mysql_writer.driver import MySQLWriter
from components.postgres_writer.driver import PostgresWriter
from components.supabase_writer.driver import SupabaseWriter
from tests.components.stepcontext import RecordingContext


def mysql_sql(db: Mapping[str, Any], *statements: str) -> list[tuple[Any, ...]]:
    """Run statements on the MariaDB test database; the rows of the last one."""
    conn = pymysql.connect(**db, charset="utf8mb4", autocommit=True)
    try:
        with conn.cursor() as cursor:
            cursor.execute("SET time_zone = '+00:00'")
            for statement in statements:
                cursor.execute(statement)
            return list(cursor.fetchall())
    finally:
        conn.close()


def mysql_tables(db: Mapping[str, Any]) -> list[str]:
    """Every table and view of the MariaDB test database, sorted."""
    return sorted(row[0] for row in mysql_sql(db, "SHOW TABLES"))


def postgres_sql(db: Mapping[str, Any], *statements: str) -> list[tuple[Any, ...]]:
    """Run statements in the PostgreSQL test schema; the rows of the last one."""
    conninfo = "host={host} port={port} user={user} dbname={database}".format(**db)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{db["schema"]}"')
        conn.execute("SET TimeZone TO 'UTC'")
        cursor = None
        for statement in statements:
            cursor = conn.execute(statement)
        return list(cursor.fetchall()) if cursor is not None and cursor.description else []


def postgres_tables(db: Mapping[str, Any]) -> list[str]:
    """Every table and view of the PostgreSQL test schema, sorted."""
    return [
        name
        for (name,) in postgres_sql(
            db,
            "SELECT table_name FROM information_schema.tables "
            f"WHERE table_schema = '{db['schema']}' ORDER BY 1",
        )
    ]


def supabase_dsn(db: Mapping[str, Any], password: str = "unused") -> str:
    """A `pg_dsn` naming the local PostgreSQL, as a Supabase connection would carry it."""
    return "postgresql://{user}:{password}@{host}:{port}/{database}".format(
        **{**db, "password": password}
    )


def plane_table(ctx: RecordingContext, select: str, name: str = "src") -> dict[str, str]:
    """A data-plane table made by a DuckDB SELECT; the writer inputs naming it."""
    ctx.data_plane.execute(f'CREATE TABLE "{name}" AS {select}')
    return {"df": f'"{name}"'}


@dataclass(frozen=True)
class Family:
    """One database family under test: its writer, its server and how a step reaches it."""

    name: str
    db: Mapping[str, Any]
    """Fields of the test database for the SQL helpers."""
    connection: Mapping[str, Any]
    """What the step's connection resolves to."""
    writer: Callable[[], Any]
    namespace: str
    """The database (MySQL) or schema (PostgreSQL) unqualified tables land in."""
    run_sql: Callable[..., list[tuple[Any, ...]]]
    list_tables: Callable[[Mapping[str, Any]], list[str]]
    quote: str

    def sql(self, *statements: str) -> list[tuple[Any, ...]]:
        return self.run_sql(self.db, *statements)

    def tables(self) -> list[str]:
        return self.list_tables(self.db)

    def quoted(self, table: str) -> str:
        """The namespace-qualified table as the driver names it in its events."""
        return f"{self.quote}{self.namespace}{self.quote}.{self.quote}{table}{self.quote}"

    def primary_key(self, table: str) -> list[str]:
        """The columns of the table's primary key, in key order."""
        return [
            name
            for (name,) in self.sql(
                "SELECT k.column_name FROM information_schema.table_constraints AS c"
                " JOIN information_schema.key_column_usage AS k"
                " ON k.constraint_name = c.constraint_name"
                " AND k.table_schema = c.table_schema AND k.table_name = c.table_name"
                f" WHERE c.constraint_type = 'PRIMARY KEY' AND c.table_schema = '{self.namespace}'"
                f" AND c.table_name = '{table}' ORDER BY k.ordinal_position"
            )
        ]


def mysql_family(db: Mapping[str, Any]) -> Family:
    """mysql.writer on the MariaDB test database `db`."""
    return Family(
        name="mysql",
        db=db,
        connection=db,
        writer=MySQLWriter,
        namespace=str(db["database"]),
        run_sql=mysql_sql,
        list_tables=mysql_tables,
        quote="`",
    )


def postgres_family(db: Mapping[str, Any]) -> Family:
    """postgres.writer on the PostgreSQL test schema of `db`."""
    return Family(
        name="postgres",
        db=db,
        connection=db,
        writer=PostgresWriter,
        namespace=str(db["schema"]),
        run_sql=postgres_sql,
        list_tables=postgres_tables,
        quote='"',
    )


def supabase_family(db: Mapping[str, Any]) -> Family:
    """supabase.writer on the schema of `db`, reached through a `pg_dsn` as Supabase is."""
    connection = {"pg_dsn": supabase_dsn(db), "schema": db["schema"]}
    return replace(
        postgres_family(db), name="supabase", connection=connection, writer=SupabaseWriter
    )
