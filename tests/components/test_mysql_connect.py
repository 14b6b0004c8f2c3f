"""One connection builder for MySQL/MariaDB: a driver, discovery and the doctor connect the
same way for the same fields — a port given as text, TLS off on loopback — and refuse the
same bad field the same way. Against the real MariaDB on 127.0.0.1."""

from __future__ import annotations

from typing import Any

import pytest

from components.mysql.connect import connect_params, connectorx_url
from components.mysql.io import MySQLServer
from components.protocol import DriverError
from components.sql.params import FieldError
from runtime.connections import ResolvedConnection, doctor
from runtime.discovery import DiscoveryError, DiscoveryOptions, discover

FIELDS = {"host": "127.0.0.1", "port": "3306", "user": "root", "password": "", "database": "test"}


def resolved(fields: dict[str, Any]) -> ResolvedConnection:
    return ResolvedConnection("mysql", "main", dict(fields))


def test_the_builder_reads_a_port_given_as_text_and_skips_tls_on_loopback() -> None:
    params = connect_params(FIELDS, 5)
    assert (params["port"], params["ssl_disabled"]) == (3306, True)
    remote = connect_params({**FIELDS, "host": "db.example.com"}, 5)
    assert remote["ssl_disabled"] is None  # PyMySQL's own default: TLS when offered
    assert connectorx_url(FIELDS).endswith("@127.0.0.1:3306/test?prefer_socket=false")


def test_driver_discovery_and_doctor_all_connect_with_the_same_fields() -> None:
    with MySQLServer(FIELDS).connect() as conn, conn.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
    catalog = discover(resolved(FIELDS), DiscoveryOptions(timeout_s=10))
    assert catalog is not None
    assert doctor(resolved(FIELDS)).ok


def test_a_port_that_is_no_number_is_the_same_config_error_everywhere() -> None:
    bad = {**FIELDS, "port": "33o6"}
    with pytest.raises(FieldError):
        connect_params(bad, 5)
    with pytest.raises(DriverError) as driver:
        MySQLServer(bad).connect()
    assert driver.value.category == "config" and "33o6" in str(driver.value)
    with pytest.raises(DiscoveryError) as discovery:
        discover(resolved(bad), DiscoveryOptions(timeout_s=5))
    assert discovery.value.category == "config"
    checked = doctor(resolved(bad))
    assert not checked.ok and checked.category == "config" and "33o6" in checked.message
