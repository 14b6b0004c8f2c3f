"""The one MySQL / MariaDB connection builder: the drivers, discovery and the doctor all
connect through `connect_params`, so they agree on the port, TLS and the character set.

- `port`: a number or its text (`"3306"`, as `${MYSQL_PORT}` gives it); anything else is a
  `FieldError` naming the field (`components.sql.params.port_number`).
- TLS: PyMySQL's default ("preferred": TLS when the server offers it), except on loopback,
  where it buys nothing and costs a CA-store load per connection (~16 ms measured).
- `utf8mb4` always; a connect timeout always; read/write timeouts when asked (discovery and
  the doctor: a server that accepts but never answers must not hang them; a long extract
  must not be cut).

>>> params = connect_params({"host": "127.0.0.1", "port": "3307", "user": "etl"}, 5)
>>> params["port"], params["ssl_disabled"], params["charset"], "read_timeout" in params
(3307, True, 'utf8mb4', False)
>>> connect_params({"host": "db.internal", "user": "etl"}, 5, io_timeout_s=5)["ssl_disabled"]
>>> connectorx_url({"host": "::1", "user": "a b", "password": "p@ss", "database": "shop"})
'mysql://a%20b:p%40ss@[::1]:3306/shop?prefer_socket=false'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from components.sql.params import is_loopback, port_number

DEFAULT_PORT = 3306


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def connect_params(
    fields: Mapping[str, Any], timeout_s: float, *, io_timeout_s: float | None = None
) -> dict[str, Any]:
    """Keyword arguments for `pymysql.connect` from a connection's fields."""
    host = _text(fields.get("host")) or "localhost"
    params: dict[str, Any] = {
        "host": host,
        "port": port_number(fields.get("port"), DEFAULT_PORT),
        "user": _text(fields.get("user")) or None,
        "password": _text(fields.get("password")),
        "database": _text(fields.get("database")) or None,
        "charset": "utf8mb4",
        "connect_timeout": timeout_s,
        "ssl_disabled": True if is_loopback(host) else None,
    }
    if io_timeout_s is not None:
        params["read_timeout"] = params["write_timeout"] = io_timeout_s
    return params


def connect(
    fields: Mapping[str, Any],
    timeout_s: float,
    *,
    io_timeout_s: float | None = None,
    **options: Any,
) -> Any:
    """A PyMySQL connection to the server the fields name (`options` go to PyMySQL too)."""
    import pymysql  # type: ignore[import-untyped]

    params = connect_params(fields, timeout_s, io_timeout_s=io_timeout_s)
    return pymysql.connect(**{**params, **options})


def connectorx_url(fields: Mapping[str, Any]) -> str:
    """The connection as a connectorx URL (TCP even for localhost, so the same account)."""
    host = _text(fields.get("host")) or "localhost"
    host = f"[{host}]" if ":" in host else host
    user = quote(_text(fields.get("user")), safe="")
    password = quote(_text(fields.get("password")), safe="")
    database = quote(_text(fields.get("database")), safe="")
    port = port_number(fields.get("port"), DEFAULT_PORT)
    return f"mysql://{user}:{password}@{host}:{port}/{database}?prefer_socket=false"
