"""One connection builder for PostgreSQL/Supabase: a driver, discovery and the doctor connect
the same way for the same fields — a port given as text, the sslmode asked for — and refuse
the same bad port the same way. Against the real PostgreSQL on 127.0.0.1."""

from __future__ import annotations

from typing import Any

import pytest

from components.postgres.connect import connect_params
from components.postgres.io import PostgresServer
from components.sql.params import FieldError
from runtime.connections import ResolvedConnection, doctor
from runtime.discovery import DiscoveryOptions, discover
from runtime.discovery.postgres import _PostgresReader

FIELDS = {"host": "127.0.0.1", "port": "5432", "user": "postgres", "database": "test"}
TLS_OFF = {**FIELDS, "sslmode": "disable"}


def resolved(fields: dict[str, Any]) -> ResolvedConnection:
    return ResolvedConnection("postgres", "main", dict(fields))


def seen(conn: Any) -> tuple[Any, ...]:
    """Where a psycopg connection went, and with which TLS mode."""
    info = conn.info
    return info.host, info.port, info.dbname, info.user, info.get_parameters().get("sslmode")


def test_the_builder_reads_a_port_given_as_text_and_keeps_the_sslmode() -> None:
    params = connect_params(TLS_OFF, 5, application_name="x")
    assert (params["port"], params["sslmode"], params["dbname"]) == ("5432", "disable", "test")
    assert params["connect_timeout"] == "5" and params["application_name"] == "x"


def test_driver_discovery_and_doctor_all_connect_with_the_same_fields() -> None:
    with PostgresServer(TLS_OFF).connect() as conn:
        driver = seen(conn)
    reader = _PostgresReader(resolved(TLS_OFF), DiscoveryOptions(timeout_s=10))
    try:
        assert seen(reader.conn) == driver == ("127.0.0.1", 5432, "test", "postgres", "disable")
    finally:
        reader.conn.close()
    assert discover(resolved(TLS_OFF), DiscoveryOptions(timeout_s=10)) is not None
    assert doctor(resolved(TLS_OFF)).ok


def test_a_port_that_is_no_number_is_the_same_config_error_everywhere() -> None:
    bad = {**FIELDS, "port": "54e2"}
    with pytest.raises(FieldError):
        connect_params(bad, 5)
    checked = doctor(resolved(bad))
    assert not checked.ok and checked.category == "config" and "54e2" in checked.message
