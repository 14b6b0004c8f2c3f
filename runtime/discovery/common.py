"""What every discovery reader shares: the options, the error, the Snapshot, the table
drafts a reader fills, secret-column masking of samples, and the failure hints.

Each family's module builds on this one; none needs the package's public face.
"""

from __future__ import annotations

import datetime as dt
import decimal
import fnmatch
import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Self

from pydantic import BaseModel, ConfigDict, Field

from compiler.catalog import Catalog, Column, ForeignKey, Table
from components.common.errors import HintedError
from components.common.quoting import Dialect, quote_identifier
from components.sql.errors import ConnectCategory
from components.sql.params import FieldError
from runtime.redaction import MASK, Redactor

Row = Sequence[Any]

_SAMPLE_TEXT_CHARS = 200
#: the files a filesystem connection's folder offers as tables, by ending (lower case)
DATA_FILE_ENDINGS = {
    "csv": "csv", "parquet": "parquet", "json": "json", "ndjson": "json", "jsonl": "json"
}  # fmt: skip


class SourceConnection(Protocol):
    """What discovery needs of a resolved connection (`runtime.connections.ResolvedConnection`)."""

    @property
    def family(self) -> str: ...

    @property
    def alias(self) -> str | None: ...  # None: given inline, not by alias

    @property
    def fields(self) -> Mapping[str, Any]: ...


class DiscoveryOptions(BaseModel):
    """What to discover: which schemas and tables, how many sample rows, how long to wait.

    `tables` holds names or glob patterns, matched case-insensitively against a table's
    name and `schema.name` (and, for a data file, its path without its ending: `.csv`,
    `.parquet`, `.json`, `.ndjson`, `.jsonl`). `schemas`
    defaults to the connection's own database (MySQL), schema (PostgreSQL, `public`
    unless set) or `main` (DuckDB). `timeout_s` bounds connecting and every read.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tables: tuple[str, ...] = ()
    samples: int = Field(default=0, ge=0, le=100)
    timeout_s: float = Field(default=10.0, gt=0, le=3600)
    schemas: tuple[str, ...] = ()

    def wants(self, schema: str, name: str) -> bool:
        """True when the table passes the `tables` filter (no filter: every table)."""
        if not self.tables:
            return True
        names = {name.lower()}
        if schema:
            names.add(f"{schema}.{name}".lower())
        stem, dot, ending = name.lower().rpartition(".")
        if dot and ending in DATA_FILE_ENDINGS:
            names.add(stem)
        return any(fnmatch.fnmatchcase(n, p.lower()) for p in self.tables for n in names)

    def cache_key(self) -> dict[str, Any]:
        """The options that shape the catalog, canonically (the timeout does not shape it)."""
        return {
            "samples": self.samples,
            "schemas": sorted(set(self.schemas)),
            "tables": sorted({p.lower() for p in self.tables}),
        }


class DiscoveryError(HintedError):
    """A source that could not be discovered: what happened, its category, what to do about it.

    `category` is one of auth, network, timeout, permission, config. Messages never carry
    a secret: every error leaving `discover` is scrubbed of the connection's secret values.
    """

    def __init__(self, message: str, category: ConnectCategory, hint: str) -> None:
        super().__init__(message, hint)
        self.category: ConnectCategory = category

    def scrubbed(self, secrets: Iterable[str]) -> DiscoveryError:
        """The same error through the redactor: secret values and URL/DSN passwords masked."""
        redactor = Redactor(secrets)
        return DiscoveryError(redactor.text(self.message), self.category, redactor.text(self.hint))

    def to_dict(self) -> dict[str, str]:
        return {"message": self.message, "category": self.category, "hint": self.hint}


@dataclass(frozen=True)
class Snapshot:
    """A catalog and the schema fingerprint read in the same session, just before it."""

    catalog: Catalog
    fingerprint: str


def connection_ref(connection: SourceConnection) -> str:
    """`@family.alias`, the way OML names the connection (`@family` for an inline one)."""
    alias = connection.alias
    return f"@{connection.family}.{alias}" if alias else f"@{connection.family}"


# -- column names that look secret or personal ---------------------------------------------

_SENSITIVE_WORDS = (
    "password", "passwd", "passphrase", "secret", "token", "apikey", "api_key",
    "accesskey", "access_key", "privatekey", "private_key", "credential", "email", "e_mail",
    "phone", "mobile", "creditcard", "credit_card", "cardnumber", "card_number", "iban",
    "passport", "social_security", "birth", "address",
)  # fmt: skip
_SENSITIVE_TOKENS = frozenset(
    {"pwd", "pass", "ssn", "pin", "cvv", "cvc", "auth", "salt", "otp", "dob", "tel", "fax", "mfa"}
)


def is_sensitive(column_name: str) -> bool:
    """True for a column whose name looks secret or personal (its samples are masked).

    >>> [is_sensitive(n) for n in ("password_hash", "userEmail", "ssn", "author", "id")]
    [True, True, True, False, False]
    """
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", column_name).lower().replace("-", "_")
    if any(word in snake or word in snake.replace("_", "") for word in _SENSITIVE_WORDS):
        return True
    return any(token in _SENSITIVE_TOKENS for token in re.split(r"[^a-z0-9]+", snake))


def sample_row(names: Sequence[str], values: Sequence[object]) -> dict[str, object]:
    """One sampled row as JSON-safe values, secret-looking columns masked."""
    return {
        name: (MASK if value is not None and is_sensitive(name) else _json_value(value))
        for name, value in zip(names, values, strict=True)
    }


def _json_value(value: object) -> object:
    """A driver value as something JSON can hold, long text clipped."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return _clip(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        return "0x" + data.hex() if len(data) <= 16 else f"<{len(data)} bytes>"
    if isinstance(value, dict | list):
        return _clip(json.dumps(value, default=str, sort_keys=True))
    return _clip(str(value))


def _clip(text: str) -> str:
    return text if len(text) <= _SAMPLE_TEXT_CHARS else text[:_SAMPLE_TEXT_CHARS] + "…"


# -- shared plumbing ------------------------------------------------------------------------


class _Reader(Protocol):
    def fingerprint(self) -> str: ...

    def catalog(self) -> Catalog: ...

    def close(self) -> None: ...


@dataclass
class _Draft:
    """One table while the bulk query results are gathered."""

    schema: str
    name: str
    kind: str
    row_estimate: int | None = None
    size_bytes: int | None = None
    columns: list[Column] = field(default_factory=list)
    primary_key: list[str] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    samples: tuple[dict[str, object], ...] = ()

    def table(self) -> Table:
        return Table.model_validate(
            {
                "schema": self.schema,
                "name": self.name,
                "kind": self.kind,
                "columns": tuple(self.columns),
                "primary_key": tuple(self.primary_key),
                "foreign_keys": tuple(self.foreign_keys),
                "row_estimate": self.row_estimate,
                "size_bytes": self.size_bytes,
                "samples": self.samples,
            }
        )

    def add_key(
        self, primary: bool, columns: Sequence[str], ref: tuple[str, str], refs: Sequence[str]
    ) -> None:
        """The primary key, or a foreign key to `ref` (schema, table) and its `refs` columns;
        the referenced table is named without its schema when it lies in this one."""
        if primary:
            self.primary_key = list(columns)
            return
        ref_schema, ref_table = ref
        name = ref_table if ref_schema in ("", self.schema) else f"{ref_schema}.{ref_table}"
        key = ForeignKey(columns=tuple(columns), ref_table=name, ref_columns=tuple(refs))
        self.foreign_keys.append(key)


_Drafts = dict[tuple[str, str], _Draft]


def _catalog(connection: SourceConnection, drafts: _Drafts, default_schema: str | None) -> Catalog:
    tables = tuple(drafts[key].table() for key in sorted(drafts))
    return Catalog(
        connection=connection_ref(connection),
        family=connection.family,
        default_schema=default_schema,
        tables=tables,
    )


def _digest(rows: Iterable[Row], options: DiscoveryOptions) -> str:
    """One digest over the per-table digests (schema, table, digest) the filter keeps."""
    lines = sorted(f"{s}\t{t}\t{d}" for s, t, d in rows if options.wants(str(s), str(t)))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _int_or_none(value: object) -> int | None:
    try:
        return int(str(value)) if value not in (None, "") else None
    except ValueError:
        return None


def _resolved(value: object) -> str | None:
    return str(Path(str(value)).expanduser().resolve()) if value else None


def _secret_values(connection: SourceConnection) -> set[str]:
    """What the resolver reported as secret, and what the fields hold (for bare objects)."""
    from runtime.connections import secret_values_of

    reported = {str(s) for s in getattr(connection, "secret_values", ()) or () if s}
    return reported | secret_values_of(connection.fields)


_HINTS: dict[ConnectCategory, str] = {
    "auth": "check the user and password of {ref} in osiris_connections.yaml "
    "(or the environment variable they come from)",
    "network": "check the host and port of {ref}, and that the server runs and is reachable",
    "timeout": "no answer within {timeout:g} s: check the host, port and firewall of {ref}, "
    "or allow a longer timeout",
    "permission": "the user of {ref} needs read access (USAGE and SELECT) to the schema "
    "and its tables",
    "config": "check the fields of {ref} in osiris_connections.yaml",
}


def _failure(
    connection: SourceConnection,
    options: DiscoveryOptions,
    category: ConnectCategory,
    detail: str,
    hint: str | None = None,
) -> DiscoveryError:
    ref = connection_ref(connection)
    one_line = " ".join(detail.split())
    hint = hint or _HINTS[category].format(ref=ref, timeout=options.timeout_s)
    return DiscoveryError(f"{ref}: {one_line}", category, hint)


def _unusable(connection: SourceConnection, err: FieldError) -> DiscoveryError:
    """A connection field that cannot be used (port, pg_dsn, url): a config error."""
    return DiscoveryError(f"{connection_ref(connection)}: {err.message}", "config", err.hint)


class _Opener(Protocol):
    def open(self, connection: SourceConnection, options: DiscoveryOptions) -> _Reader: ...

    def classify(
        self, err: Exception, connection: SourceConnection, options: DiscoveryOptions
    ) -> DiscoveryError | None: ...


#: what went wrong, as a reader says it: (category, detail) or (category, detail, hint)
Failure = tuple[Any, ...]


class BaseReader:
    """What the readers share: `open` is the constructor, `close` closes the connection
    (`conn`, when the reader holds one), and `_samples` reads the first rows of each
    stored table — never a view, which may be an expensive query."""

    #: how the source quotes identifiers, for the sampling query
    DIALECT: Dialect = "duckdb"
    conn: Any = None

    def __init__(self, connection: SourceConnection, options: DiscoveryOptions) -> None:
        self.connection, self.options = connection, options

    @classmethod
    def open(cls, connection: SourceConnection, options: DiscoveryOptions) -> Self:
        return cls(connection, options)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()

    @classmethod
    def classify(
        cls, err: Exception, connection: SourceConnection, options: DiscoveryOptions
    ) -> DiscoveryError | None:
        """The error as a DiscoveryError, when it is one the source's library raises."""
        found = cls.failure_of(err)
        return None if found is None else _failure(connection, options, *found)

    @staticmethod
    def failure_of(err: Exception) -> Failure | None:
        """(category, detail[, hint]) of an error the source's library raises, else None."""
        return None

    def _completed(self, drafts: _Drafts, default_schema: str | None) -> Catalog:
        """The catalog of these tables once their columns, keys and samples are read (a
        reader of a database defines `_columns` and `_keys`)."""
        self._columns(drafts)  # type: ignore[attr-defined]
        self._keys(drafts)  # type: ignore[attr-defined]
        if self.options.samples:
            self._samples(drafts)
        return _catalog(self.connection, drafts, default_schema)

    def _fetch(self, sql: str) -> tuple[list[str], list[Any]]:
        """The column names and rows of a query (a DB-API connection with `execute`)."""
        cur = self.conn.execute(sql)
        return [d[0] for d in cur.description or ()], list(cur.fetchall())

    def _samples(self, drafts: _Drafts) -> None:
        for draft in drafts.values():
            if draft.kind != "table":
                continue
            quoted = ".".join(quote_identifier(p, self.DIALECT) for p in (draft.schema, draft.name))
            names, rows = self._fetch(f"SELECT * FROM {quoted} LIMIT {int(self.options.samples)}")
            draft.samples = tuple(sample_row(names, row) for row in rows)
