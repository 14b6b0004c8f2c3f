"""Discovery: the real schema of a source (tables, views, columns, keys, row counts) as a Catalog.

One reader per family: MySQL/MariaDB and PostgreSQL/Supabase through their catalogs, a
DuckDB database file, a folder of data files (CSV typed by DuckDB's sniffer, Parquet by its
own schema, JSON/NDJSON by DuckDB's JSON reader). A reader answers
two questions in one read-only session: the catalog (a few bulk queries for any number
of tables; row counts from engine statistics, never `COUNT(*)`) and a cheap fingerprint
of the schema, computed by the database, which the catalog store uses to notice drift.

Driver failures leave as a `DiscoveryError` with a category and a hint, secrets scrubbed.
Database drivers are imported inside the readers: importing this module stays light.

The package holds one module per family (mysql, postgres, duckdb, files, posthog) over
`common`; this module is its public face and the dispatch from a family to its reader.

>>> SUPPORTED_FAMILIES
('duckdb', 'filesystem', 'mariadb', 'mysql', 'postgres', 'postgresql', 'posthog', 'supabase')
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from compiler.catalog import Catalog
from components.sql.params import FieldError, postgres_params
from runtime.discovery.common import (
    DATA_FILE_ENDINGS,
    DiscoveryError,
    DiscoveryOptions,
    Row,
    Snapshot,
    SourceConnection,
    _int_or_none,
    _Opener,
    _Reader,
    _resolved,
    _secret_values,
    _text,
    _unusable,
    connection_ref,
    is_sensitive,
    sample_row,
)
from runtime.discovery.duckdb import _DuckDBReader
from runtime.discovery.files import _FileFolderReader
from runtime.discovery.mysql import _MySQLReader
from runtime.discovery.postgres import _POSTGRES_FAMILIES, _PostgresReader
from runtime.discovery.posthog import _PostHogReader

__all__ = [
    "DATA_FILE_ENDINGS",
    "SUPPORTED_FAMILIES",
    "DiscoveryError",
    "DiscoveryOptions",
    "Row",
    "Snapshot",
    "SourceConnection",
    "connection_identity",
    "connection_ref",
    "discover",
    "is_sensitive",
    "sample_row",
    "snapshot",
    "snapshot_if_changed",
]


def discover(connection: SourceConnection, options: DiscoveryOptions | None = None) -> Catalog:
    """Every table and view of the connection's schemas that `options` selects."""
    with _open(connection, options) as reader:
        return reader.catalog()


def snapshot(connection: SourceConnection, options: DiscoveryOptions | None = None) -> Snapshot:
    """The catalog and its schema fingerprint, for the catalog store."""
    read = snapshot_if_changed(connection, options, known_fingerprint=None)
    assert read is not None  # nothing known: always read
    return read


def snapshot_if_changed(
    connection: SourceConnection, options: DiscoveryOptions | None, known_fingerprint: str | None
) -> Snapshot | None:
    """None when the schema fingerprint still equals `known_fingerprint` (one cheap query),
    else the catalog, read in the same session: a drifted cache entry costs one connection."""
    with _open(connection, options) as reader:
        # Fingerprint first: a change racing the catalog reads then shows up as drift later.
        fingerprint = reader.fingerprint()
        if fingerprint == known_fingerprint:
            return None
        return Snapshot(reader.catalog(), fingerprint)


def connection_identity(connection: SourceConnection) -> dict[str, Any]:
    """What makes two connections the same source, without any secret (a cache key part)."""
    family = connection.family.lower()
    fields = connection.fields
    if family == "filesystem":
        return {"family": family, "base_dir": _resolved(fields.get("base_dir"))}
    if family == "duckdb":
        return {"family": family, "path": _resolved(fields.get("path")), "schema": None}
    if family == "posthog":
        return {
            "family": family,
            "host": _text(fields.get("custom_base_url")) or _text(fields.get("region")) or "us",
            "project": _text(fields.get("project_id")) or None,
        }
    if family in _POSTGRES_FAMILIES:
        try:
            params = postgres_params(fields)
        except FieldError as err:
            raise _unusable(connection, err) from None
        return {
            "family": family,
            "host": params.get("host"),
            "port": _int_or_none(params.get("port")),
            "database": params.get("dbname"),
            "schema": _text(fields.get("schema")) or None,
            "user": params.get("user"),
        }
    return {
        "family": family,
        "host": _text(fields.get("host")) or None,
        "port": _int_or_none(fields.get("port")),
        "database": _text(fields.get("database")) or None,
        "schema": _text(fields.get("schema")) or None,
        "user": _text(fields.get("user")) or None,
    }


@contextmanager
def _open(connection: SourceConnection, options: DiscoveryOptions | None) -> Iterator[_Reader]:
    """A reader for the connection's family; driver errors become DiscoveryErrors."""
    options = options or DiscoveryOptions()
    family = connection.family.lower()
    opener = _READERS.get(family)
    if opener is None:
        raise DiscoveryError(
            f"{connection_ref(connection)}: discovery does not support the {family} family",
            "config",
            "discoverable families: " + ", ".join(sorted(_READERS)),
        )
    failure: DiscoveryError | None = None
    try:
        reader = opener.open(connection, options)
        try:
            yield reader
        finally:
            reader.close()
    except DiscoveryError as err:
        failure = err
    except FieldError as err:
        failure = _unusable(connection, err)
    except Exception as err:
        failure = opener.classify(err, connection, options)
        if failure is None:
            raise
    if failure is not None:  # raised outside `except`: the driver's error stays unchained
        raise failure.scrubbed(_secret_values(connection))


_READERS: dict[str, _Opener] = {
    "mysql": _MySQLReader,
    "mariadb": _MySQLReader,
    **dict.fromkeys(_POSTGRES_FAMILIES, _PostgresReader),
    "duckdb": _DuckDBReader,
    "filesystem": _FileFolderReader,
    "posthog": _PostHogReader,
}
SUPPORTED_FAMILIES: tuple[str, ...] = tuple(sorted(_READERS))
