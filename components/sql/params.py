"""What a database connection's fields mean: its host, its port, its libpq parameters.

The PostgreSQL and Supabase drivers, `osiris connections doctor` and discovery (down to its
cache keys) read connection fields here, so all of them reach the same server the same
way. No driver is imported: a DSN is parsed by libpq's rules in plain Python.

>>> postgres_params({"url": "https://abcd1234.supabase.co", "password": "pw"})
{'host': 'db.abcd1234.supabase.co', 'user': 'postgres', 'dbname': 'postgres', \
'sslmode': 'require', 'password': 'pw'}
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from components.common.errors import HintedError
from components.common.secrets import split_credentials


class FieldError(HintedError, ValueError):
    """A connection field that cannot be used. The message never quotes a secret."""


def is_loopback(host: str) -> bool:
    """True for a host on this machine: `localhost`, 127.0.0.0/8, ::1.

    >>> [is_loopback(h) for h in ("localhost", "127.0.0.2", "::1", "10.0.0.1", "db.local")]
    [True, True, True, False, False]
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def port_number(raw: object, default: int) -> int:
    """The `port` field as a number, `default` when it is unset.

    >>> port_number("5433", 5432), port_number(None, 5432)
    (5433, 5432)
    """
    if raw in (None, ""):
        return default
    try:
        port = -1 if isinstance(raw, bool) else int(str(raw))
    except ValueError:
        port = -1
    if not 0 < port < 65536:
        raise FieldError(
            f"port {raw!r} is not a port number", "set `port` to a number between 1 and 65535"
        )
    return port


# -- PostgreSQL and Supabase ---------------------------------------------------------------------

#: libpq parameters of a Supabase project's own database host, unless given otherwise.
_SUPABASE_DEFAULTS = {"user": "postgres", "dbname": "postgres", "sslmode": "require"}
#: Connection field → libpq parameter.
_PARAMS = {
    "host": "host",
    "port": "port",
    "user": "user",
    "password": "password",
    "database": "dbname",
    "sslmode": "sslmode",
}


def postgres_params(fields: Mapping[str, Any]) -> dict[str, str]:
    """libpq parameters for a PostgreSQL or Supabase connection's fields.

    From the `pg_dsn` (or `dsn`) connection string; without one, from a Supabase `url`
    (https://<ref>.supabase.co) or `project_id`: host db.<ref>.supabase.co, user and dbname
    postgres, TLS required. Explicit host/port/user/password/database/sslmode fields win,
    and a *.supabase.co host gets the Supabase defaults for what nothing else gives.
    Nothing more is defaulted: that is the caller's choice (or libpq's).
    """
    dsn_field = "pg_dsn" if fields.get("pg_dsn") else "dsn"
    dsn = _text(fields.get(dsn_field))
    if dsn:
        params = parse_dsn(dsn, dsn_field)
    else:
        host = supabase_host(_text(fields.get("url")), _text(fields.get("project_id")))
        supabase = host.endswith(".supabase.co")
        params = {"host": host, **_SUPABASE_DEFAULTS} if supabase else {"host": host}
    explicit = {
        key: _text(fields[name])
        for name, key in _PARAMS.items()
        if fields.get(name) not in (None, "")
    }
    if "port" in explicit:
        explicit["port"] = str(port_number(fields["port"], 5432))
    params.update(explicit)
    params = {key: value for key, value in params.items() if value}
    if params.get("host", "").endswith(".supabase.co"):
        for key, value in _SUPABASE_DEFAULTS.items():
            params.setdefault(key, value)
    return params


def supabase_host(url: str, project_id: str = "") -> str:
    """The database host named by a Supabase project `url` (else `project_id`); any other
    URL names its own host.

    >>> supabase_host("https://abcd1234.supabase.co"), supabase_host("", "abcd1234")
    ('db.abcd1234.supabase.co', 'db.abcd1234.supabase.co')
    """
    try:
        host = (urlsplit(url).hostname or "") if url else ""
    except ValueError:
        raise FieldError(
            "`url` is not a URL", "use the project's URL, https://<project-ref>.supabase.co"
        ) from None
    if not host and project_id:
        host = f"{project_id}.supabase.co"
    if host.endswith(".supabase.co") and not host.startswith("db."):
        return "db." + host
    return host


def parse_dsn(dsn: str, field: str = "pg_dsn") -> dict[str, str]:
    """The parameters of a libpq connection string, URI or key=value form.

    Raises FieldError for a malformed string, without quoting it: it holds the password.

    >>> parse_dsn("postgresql://etl:p%40ss@pg.internal:6543/dw?sslmode=require")
    {'user': 'etl', 'password': 'p@ss', 'host': 'pg.internal', 'port': '6543', \
'dbname': 'dw', 'sslmode': 'require'}
    >>> parse_dsn("host=pg.internal dbname='my dw'")
    {'host': 'pg.internal', 'dbname': 'my dw'}
    """
    try:
        if dsn.startswith(("postgresql://", "postgres://")):
            return _parse_uri(dsn.split("://", 1)[1])
        return _parse_pairs(dsn)
    except ValueError:
        raise FieldError(
            f"`{field}` is not a valid PostgreSQL connection string",
            "write it as postgresql://user:password@host:5432/dbname (as Supabase shows "
            "it), or as key=value pairs",
        ) from None


_KEY = re.compile(r"([^=\s]+)\s*=\s*")


def _parse_pairs(text: str) -> dict[str, str]:
    """`key=value` pairs; a value is single-quoted or ends at a space; `\\` escapes."""
    params: dict[str, str] = {}
    at, end = 0, len(text)
    while at < end:
        if text[at].isspace():
            at += 1
            continue
        match = _KEY.match(text, at)
        if match is None:
            raise ValueError("expected key=value")
        key, at = match.group(1), match.end()
        value: list[str] = []
        quoted = at < end and text[at] == "'"
        if quoted:
            at += 1
        while at < end and (quoted or not text[at].isspace()):
            char = text[at]
            if quoted and char == "'":
                break
            if char == "\\":  # escapes the next character; a last one stands for nothing
                at += 1
                if at == end:
                    break
                char = text[at]
            value.append(char)
            at += 1
        if quoted:
            if at >= end:
                raise ValueError("unterminated quoted value")
            at += 1
        params[key] = "".join(value)
    return params


def _parse_uri(rest: str) -> dict[str, str]:
    """What follows `postgresql://`: [user[:password]@][host][:port][,...][/dbname][?k=v&...]."""
    params: dict[str, str] = {}
    credentials, rest = split_credentials(rest)
    if credentials is not None:
        user, colon, password = credentials.partition(":")
        params["user"] = _decode(user)
        if colon:
            params["password"] = _decode(password)
    hostspec, slash, rest = _partition(rest, "/?")
    hosts, ports = [], []
    for spec in hostspec.split(",") if hostspec else []:
        ipv6 = re.fullmatch(r"\[([^\]]*)\](?::(.*))?", spec)
        if ipv6 is None and "[" in spec:
            raise ValueError("malformed IPv6 address")
        host, _, port = (ipv6.group(1), "", ipv6.group(2) or "") if ipv6 else spec.partition(":")
        hosts.append(_decode(host))
        ports.append(_decode(port))
    params["host"] = ",".join(hosts) if any(hosts) else ""
    params["port"] = ",".join(ports) if any(ports) else ""
    query = rest
    if slash == "/":
        dbname, _, query = rest.partition("?")
        params["dbname"] = _decode(dbname)
    for pair in query.split("&") if query else []:
        key, equals, value = pair.partition("=")
        if not equals or "=" in value:
            raise ValueError("expected key=value in the query")
        key, value = _decode(key), _decode(value)
        if key == "ssl" and value == "true":
            key, value = "sslmode", "require"
        params[key] = value
    return {key: value for key, value in params.items() if value}


def _partition(text: str, separators: str) -> tuple[str, str, str]:
    """`text` cut at the first of `separators`: (before, separator, after)."""
    for at, char in enumerate(text):
        if char in separators:
            return text[:at], char, text[at + 1 :]
    return text, "", ""


def _decode(text: str) -> str:
    """Percent-decoding as libpq does it: a malformed or NUL escape is an error."""
    if re.search(r"%(?![0-9A-Fa-f]{2})|%00", text):
        raise ValueError("malformed percent-encoding")
    return unquote(text)


def _text(value: object) -> str:
    return "" if value is None else str(value)
