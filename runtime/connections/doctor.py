"""The connection doctor: a real, read-only connection attempt per connection.

`osiris connections doctor` and the MCP tool `connections_doctor` call `doctor` (one
resolved connection) or `doctor_all` (every one the file defines). Each family's check
opens the connection the family's drivers open (`components/mysql/connect.py`,
`components/postgres/connect.py`), runs one trivial query, and maps a
failure to a category and a hint (`components.sql.errors`); secrets never reach the
message (the run's redactor masks them).
"""

from __future__ import annotations

import builtins
import importlib
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.common.errors import HintedError
from components.mysql.connect import connect_params
from components.postgres.connect import connect_params as postgres_connect_params
from components.sql.errors import (
    ConnectCategory,
    connect_category,
    mysql_category,
    postgres_category,
)
from components.sql.params import FieldError, postgres_params
from runtime.connections import (
    FILENAME,
    ConnectionError,
    ConnectionsFile,
    ResolvedConnection,
    parse_ref,
)


@dataclass(frozen=True)
class DoctorResult:
    """What a real connection attempt found. `category` is None when `ok`."""

    ok: bool
    category: ConnectCategory | None
    latency_ms: float | None
    message: str
    hint: str | None = None
    #: No check exists for the family (one no Osiris component uses): nothing was tried.
    skipped: bool = False


class _Failed(HintedError):
    def __init__(self, category: ConnectCategory, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.category: ConnectCategory = category


def doctor(resolved: ResolvedConnection, timeout_s: float = 5) -> DoctorResult:
    """Connect for real, run a trivial query, and say what went wrong in one category.

    mysql: PyMySQL; postgres/supabase: psycopg; filesystem: base_dir exists, readable and
    writable; duckdb: the database file opens read-only. The message and hint never hold
    a secret value: they pass the redactor with the connection's secret values.
    """
    from runtime.redaction import Redactor

    check = _CHECKS.get(resolved.family)
    if check is None:
        return DoctorResult(
            True,
            None,
            None,
            f"not checked: Osiris has no check for {resolved.family} connections",
            skipped=True,
        )
    if resolved.family in _DRIVER_MODULES:  # imported before the clock starts: not latency
        importlib.import_module(_DRIVER_MODULES[resolved.family])
    started = time.perf_counter()
    try:
        message = check(resolved.fields, timeout_s)
        result = DoctorResult(True, None, _ms(started), message)
    except _Failed as failure:
        latency = None if failure.category == "config" else _ms(started)
        result = DoctorResult(False, failure.category, latency, failure.message, failure.hint)
    except FieldError as unusable:
        result = DoctorResult(False, "config", None, unusable.message, unusable.hint)
    except Exception as err:  # a driver's surprise is still a result, never a traceback
        detail = " ".join(str(err).split()) or type(err).__name__
        result = DoctorResult(False, "config", _ms(started), f"{type(err).__name__}: {detail}")
    scrub = Redactor(resolved.secret_values).text
    return DoctorResult(
        result.ok,
        result.category,
        result.latency_ms,
        scrub(result.message),
        scrub(result.hint) if result.hint else result.hint,
    )


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _required(fields: Mapping[str, Any], *names: str) -> None:
    missing = [name for name in names if fields.get(name) in (None, "")]
    if missing:
        raise _Failed(
            "config",
            "missing field" + ("s " if len(missing) > 1 else " ") + ", ".join(missing),
            f"add {', '.join(missing)} to the connection in {FILENAME}",
        )


_HINTS: dict[ConnectCategory, str] = {
    "auth": "check `user` and `password` (or the variable they come from, e.g. in .env)",
    "permission": "grant the user access (e.g. GRANT SELECT ON <database>.* TO <user>), "
    "or use a user that has it",
    "network": "check `host` and `port`, and that the server runs and accepts TCP connections",
    "timeout": "no answer in time: check `host`, `port` and firewalls, or allow a longer timeout",
    "config": "check the connection's fields in " + FILENAME,
}
_MISSING_DATABASE = "the database named by `database` does not exist: create it or fix the name"


def _check_mysql(fields: Mapping[str, Any], timeout_s: float) -> str:
    import pymysql  # type: ignore[import-untyped]

    _required(fields, "host", "user")
    params = connect_params(fields, timeout_s, io_timeout_s=timeout_s)
    host, port = params["host"], params["port"]
    try:
        conn = pymysql.connect(**params)
    except pymysql.MySQLError as err:
        code = err.args[0] if err.args and isinstance(err.args[0], int) else 0
        detail = " ".join(str(err.args[1] if len(err.args) > 1 else err).split())
        category = connect_category(mysql_category(code, detail))
        if category in ("network", "timeout"):
            detail += f" ({host}:{port})"
        hint = _MISSING_DATABASE if code == 1049 else _HINTS[category]
        raise _Failed(category, f"MySQL error {code}: {detail}", hint) from None
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT VERSION()")
            row = cur.fetchone()
    finally:
        conn.close()
    return f"connected to {host}: server {row[0] if row else '?'}"


def _check_postgres(fields: Mapping[str, Any], timeout_s: float) -> str:
    import psycopg

    params = postgres_params(fields)
    if not params.get("host") or not params.get("user"):
        _required({**fields, **params}, "host", "user")
    params = postgres_connect_params(fields, timeout_s, application_name="osiris-doctor")
    try:
        with psycopg.connect(**params, autocommit=True) as conn:
            version = conn.execute("SHOW server_version").fetchone()
            schema = _text(fields.get("schema"))
            if schema:
                found = conn.execute(
                    "SELECT has_schema_privilege(oid, 'USAGE') FROM pg_namespace"
                    " WHERE nspname = %s",
                    (schema,),
                ).fetchone()
                if found is None:
                    raise _Failed(
                        "config",
                        f'schema "{schema}" does not exist',
                        "create the schema, or fix `schema` (PostgreSQL's default is public)",
                    )
                if not found[0]:
                    raise _Failed(
                        "permission",
                        f'permission denied for schema "{schema}"',
                        f"GRANT USAGE ON SCHEMA {schema} TO {params['user']}",
                    )
    except psycopg.Error as err:
        raise _postgres_failure(err) from None
    return f"connected to {params['host']}: PostgreSQL {version[0] if version else '?'}"


def _postgres_failure(err: Exception) -> _Failed:
    detail = " ".join(str(err).removeprefix("connection failed: ").split())
    lowered = detail.lower()
    category = connect_category(postgres_category(getattr(err, "sqlstate", None), detail))
    hint = _HINTS[category]
    if "pg_hba.conf" in lowered:
        hint = "the server's pg_hba.conf refuses this user/host: ask its administrator"
    elif category == "config" and "database" in lowered and "does not exist" in lowered:
        hint = _MISSING_DATABASE
    return _Failed(category, f"PostgreSQL: {detail}", hint)


def _check_filesystem(fields: Mapping[str, Any], timeout_s: float) -> str:
    _required(fields, "base_dir")
    base = Path(_text(fields["base_dir"])).expanduser()
    if not base.exists():
        raise _Failed("config", f"base_dir {str(base)!r} does not exist", "create the directory")
    if not base.is_dir():
        raise _Failed("config", f"base_dir {str(base)!r} is not a directory")
    try:
        os.listdir(base)
    except PermissionError:
        raise _Failed("permission", f"base_dir {str(base)!r} is not readable") from None
    try:
        handle, name = tempfile.mkstemp(prefix=".osiris-doctor-", dir=base)
        os.close(handle)
        os.unlink(name)
    except OSError as err:
        raise _Failed(
            "permission",
            f"base_dir {str(base)!r} is not writable ({err.strerror})",
            "grant write access if a csv_writer writes here",
        ) from None
    return f"{base} is readable and writable"


def _check_duckdb(fields: Mapping[str, Any], timeout_s: float) -> str:
    import duckdb

    _required(fields, "path")
    raw = _text(fields["path"])
    if raw == ":memory:":
        return "in-memory database"
    path = Path(raw).expanduser()
    if not path.is_file():
        raise _Failed(
            "config", f"no DuckDB database file at {str(path)!r}", "set `path` to an existing file"
        )
    try:
        conn = duckdb.connect(str(path), read_only=True)
    except duckdb.IOException as err:
        detail = " ".join(str(err).split())
        if "lock" in detail.lower():
            raise _Failed(
                "permission",
                f"cannot open {str(path)!r}: {detail}",
                "another process holds the database open for writing",
            ) from None
        raise _Failed("config", f"cannot open {str(path)!r}: {detail}") from None
    except (duckdb.Error, builtins.PermissionError) as err:
        category: ConnectCategory = "permission" if isinstance(err, PermissionError) else "config"
        raise _Failed(category, f"cannot open {str(path)!r}: {err}") from None
    try:
        tables = conn.execute("SELECT count(*) FROM duckdb_tables()").fetchone()
    finally:
        conn.close()
    return f"opened {path} read-only: {tables[0] if tables else 0} tables"


_DRIVER_MODULES = {
    "mysql": "pymysql",
    "postgres": "psycopg",
    "supabase": "psycopg",
    "duckdb": "duckdb",
    "graphql": "components.graphql_extractor.driver",
    "posthog": "components.posthog_extractor.driver",
}


def _check_api(module: str) -> Callable[[Mapping[str, Any], float], str]:
    """An HTTP API family: its component's own `check_access` (one small real request)."""

    def check(fields: Mapping[str, Any], timeout_s: float) -> str:
        from components.protocol import DriverError

        try:
            importlib.import_module(module).check_access(fields, timeout_s)
        except DriverError as err:
            category = err.category if err.category in _HINTS else "config"
            raise _Failed(category, str(err), err.hint) from None  # type: ignore[arg-type]
        return "the API answered and took the credentials"

    return check


_CHECKS: dict[str, Callable[[Mapping[str, Any], float], str]] = {
    "mysql": _check_mysql,
    "postgres": _check_postgres,
    "supabase": _check_postgres,
    "filesystem": _check_filesystem,
    "duckdb": _check_duckdb,
    "graphql": _check_api("components.graphql_extractor.driver"),
    "posthog": _check_api("components.posthog_extractor.driver"),
}


def doctor_all(
    file: ConnectionsFile, refs: list[str] | None = None, timeout_s: float = 5
) -> list[tuple[str, DoctorResult]]:
    """`doctor` for every alias (or the given refs), concurrently: (ref, result) in order.

    A connection that does not resolve (unset variable, unknown alias) is a `config` result.
    """
    from concurrent.futures import ThreadPoolExecutor

    targets = refs if refs is not None else [info.ref for info in file.aliases()]

    def one(ref: str) -> tuple[str, DoctorResult]:
        try:
            family, _ = parse_ref(ref)
            resolved = file.resolve(ref, family)
        except ConnectionError as err:
            return ref, DoctorResult(False, "config", None, err.message, err.hint)
        return resolved.ref, doctor(resolved, timeout_s)

    if not targets:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(targets))) as pool:
        return list(pool.map(one, targets))
