"""The catalog store: discovered catalogs kept across runs, checked for drift before they are used.

A diskcache `Cache` (JSON on disk, never pickle; folder mode 0700) under
`<project>/.osiris/cache/discovery` holds one whole entry per (source without its
secrets, family, options). A cached entry is trusted once a cheap schema fingerprint
query agrees with it; an expired or drifted one is discovered again and the change is
reported. Each discovery is also written as JSON artifacts under
`<project>/.osiris/discovery/<discovery_id>/` (the MCP server serves them as resources).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from compiler import canonical
from compiler.catalog import Catalog, Table
from components.common.atomic import write_atomic
from runtime.discovery import (
    DiscoveryOptions,
    Snapshot,
    SourceConnection,
    connection_identity,
    connection_ref,
    discover,
    snapshot,
    snapshot_if_changed,
)
from runtime.sessions import utc_now

DEFAULT_TTL_S = 24 * 3600.0
ENTRY_FORMAT = 1
DISCOVERY_ID = re.compile(r"^disc_[0-9a-f]{16}$")
_ARTIFACT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*\.json$")

EventSink = Callable[..., None]  # on_event(event_type, **data)


# -- drift ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnChange:
    """A column whose source type changed."""

    table: str
    column: str
    old_type: str
    new_type: str


@dataclass(frozen=True)
class DriftReport:
    """What changed between a cached catalog and the source as it is now."""

    tables_added: tuple[str, ...] = ()
    tables_removed: tuple[str, ...] = ()
    columns_added: tuple[str, ...] = ()  # "table.column"
    columns_removed: tuple[str, ...] = ()
    columns_retyped: tuple[ColumnChange, ...] = ()

    @property
    def changed(self) -> bool:
        return any(asdict(self).values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: lists of labels, retyped columns as objects, and `changed`."""
        return {name: list(value) for name, value in asdict(self).items()} | {
            "changed": self.changed
        }

    def lines(self) -> list[str]:
        """One line per change: `+ table x`, `- column x.c`, `~ column x.c: int → bigint`."""
        return [
            *(f"+ table {name}" for name in self.tables_added),
            *(f"- table {name}" for name in self.tables_removed),
            *(f"+ column {name}" for name in self.columns_added),
            *(f"- column {name}" for name in self.columns_removed),
            *(
                f"~ column {c.table}.{c.column}: {c.old_type} → {c.new_type}"
                for c in self.columns_retyped
            ),
        ]


def table_label(table: Table) -> str:
    """`schema.name`, or the bare name for schemaless tables (CSV files)."""
    return f"{table.schema_name}.{table.name}" if table.schema_name else table.name


def diff_catalogs(old: Catalog, new: Catalog) -> DriftReport:
    """Tables and columns added, removed and retyped from `old` to `new`."""
    before = {table_label(t): t for t in old.tables}
    after = {table_label(t): t for t in new.tables}
    added, removed, retyped = [], [], []
    for label in sorted(before.keys() & after.keys()):
        old_columns = {c.name: c for c in before[label].columns}
        new_columns = {c.name: c for c in after[label].columns}
        added += [f"{label}.{name}" for name in new_columns if name not in old_columns]
        removed += [f"{label}.{name}" for name in old_columns if name not in new_columns]
        retyped += [
            ColumnChange(label, name, old_columns[name].type, column.type)
            for name, column in new_columns.items()
            if name in old_columns and old_columns[name].type != column.type
        ]
    return DriftReport(
        tables_added=tuple(sorted(after.keys() - before.keys())),
        tables_removed=tuple(sorted(before.keys() - after.keys())),
        columns_added=tuple(added),
        columns_removed=tuple(removed),
        columns_retyped=tuple(retyped),
    )


# -- keys and entries -------------------------------------------------------------------------


def discovery_key(connection: SourceConnection, options: DiscoveryOptions) -> dict[str, Any]:
    """What a catalog depends on: the source (no secrets), the family, the options."""
    return {
        "component": connection.family.lower(),
        "options": options.cache_key(),
        "source": connection_identity(connection),
    }


def discovery_id(key: dict[str, Any]) -> str:
    """`disc_` + 16 hex of the key's digest: the same source and options, the same id."""
    return "disc_" + hashlib.sha256(canonical.json_bytes(key)).hexdigest()[:16]


@dataclass(frozen=True)
class DiscoveryResult:
    """One answer of the store: the catalog, whether it came from the cache, what drifted."""

    discovery_id: str
    catalog: Catalog
    cached: bool
    drift: DriftReport | None  # None: nothing cached to compare with, or a cache hit
    artifacts_dir: Path
    discovered_at: float  # when the source was read (epoch seconds)
    options: dict[str, Any]  # DiscoveryOptions.cache_key(): what was asked for

    def summary(self) -> dict[str, Any]:
        """What summary.json holds: one line per table and the artifact that details it."""
        catalog = self.catalog
        return {
            "discovery_id": self.discovery_id,
            "connection": catalog.connection,
            "family": catalog.family,
            "default_schema": catalog.default_schema,
            "discovered_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.discovered_at)),
            "options": self.options,
            "drift": self.drift.to_dict() if self.drift else None,
            "tables": [
                {
                    "schema": table.schema_name,
                    "name": table.name,
                    "kind": table.kind,
                    "row_estimate": table.row_estimate,
                    "columns": len(table.columns),
                    "primary_key": list(table.primary_key),
                    "artifact": artifact_name(table),
                }
                for table in catalog.tables
            ],
        }


@dataclass(frozen=True)
class _Entry:
    discovery_id: str
    key: dict[str, Any]
    discovered_at: float
    fingerprint: str
    catalog: Catalog

    def to_json(self) -> dict[str, Any]:
        return {
            "format": ENTRY_FORMAT,
            "discovery_id": self.discovery_id,
            "key": self.key,
            "discovered_at": self.discovered_at,
            "fingerprint": self.fingerprint,
            "catalog": self.catalog.model_dump(mode="json", by_alias=True),
        }

    @classmethod
    def from_json(cls, value: object) -> _Entry | None:
        """The entry, or None for anything this version did not write (it is rediscovered)."""
        if not isinstance(value, dict) or value.get("format") != ENTRY_FORMAT:
            return None
        try:
            return cls(
                discovery_id=value["discovery_id"],
                key=value["key"],
                discovered_at=float(value["discovered_at"]),
                fingerprint=value["fingerprint"],
                catalog=Catalog.model_validate(value["catalog"]),
            )
        except (KeyError, TypeError, ValueError, ValidationError):
            return None


def _silent(event_type: str, **data: Any) -> None:
    del event_type, data


def _private_dir(path: Path) -> Path:
    """A folder only its owner can enter (catalogs name tables; samples hold data)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)  # mkdir's mode is masked by the umask, and the folder may be older
    return path


# -- the store --------------------------------------------------------------------------------


class CatalogStore(contextlib.AbstractContextManager["CatalogStore"]):
    """Discovered catalogs of one project, cached on disk and checked for drift before use.

    Safe to share between processes: diskcache serializes writers, every entry is
    written whole, and artifacts are replaced file by file, atomically.
    """

    def __init__(
        self,
        project_dir: Path | str,
        ttl_s: float = DEFAULT_TTL_S,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        import diskcache  # type: ignore[import-untyped]

        project = Path(project_dir)
        self.ttl_s = ttl_s
        self.cache_dir = _private_dir(project / ".osiris" / "cache" / "discovery")
        self.artifacts_root = project / ".osiris" / "discovery"
        self._clock = clock
        self._cache = diskcache.Cache(str(self.cache_dir), disk=diskcache.JSONDisk)

    def close(self) -> None:
        self._cache.close()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ----------------------------------------------------------------------------

    def discover(
        self,
        connection: SourceConnection,
        options: DiscoveryOptions | None = None,
        *,
        refresh: bool = False,
        check_drift: bool = True,
        on_event: EventSink | None = None,
    ) -> DiscoveryResult:
        """The catalog of the source: cached when still valid, else discovered and stored.

        A cached entry is used when it is younger than the TTL and, with `check_drift`,
        the source's schema fingerprint still matches (one cheap query). Otherwise the
        source is discovered again; `drift` then reports what changed since the entry.
        Raises `DiscoveryError` when the source cannot be read.
        """
        options = options or DiscoveryOptions()
        key = discovery_key(connection, options)
        did = discovery_id(key)
        timeline: list[dict[str, Any]] = []
        forward = on_event or _silent

        def emit(event_type: str, **data: Any) -> None:
            # kept for the discovery's events.jsonl, in the session events' shape
            timeline.append(
                {"timestamp": utc_now(), "event_type": event_type, "session_id": did, "data": data}
            )
            forward(event_type, **data)

        started = time.perf_counter()
        emit("discovery.start", discovery_id=did, connection=connection_ref(connection))
        entry = self._load(did)
        reason, read = self._check(entry, connection, options, refresh, check_drift)
        if entry is not None and reason is None:
            emit("discovery.cache_hit", discovery_id=did, drift_checked=check_drift)
            result = self._result(entry, connection, cached=True, drift=None)
            if not (result.artifacts_dir / "summary.json").is_file():
                self._write_artifacts(result)
        else:
            emit("discovery.cache_miss", discovery_id=did, reason=reason)
            read = read or snapshot(connection, options)
            result = self._store(connection, options, key, read, entry, emit)
        emit(
            "discovery.complete",
            discovery_id=did,
            cached=result.cached,
            tables=len(result.catalog.tables),
            drift=result.drift.to_dict() if result.drift else None,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
        )
        self._append_events(result.artifacts_dir, timeline, connection)
        return result

    def _append_events(
        self, folder: Path, timeline: list[dict[str, Any]], connection: SourceConnection
    ) -> None:
        """Add this discovery's events to `<artifacts>/events.jsonl` (redacted, like a run's)."""
        from runtime.redaction import Redactor

        redactor = Redactor(getattr(connection, "secret_values", ()) or ())
        with (
            contextlib.suppress(OSError),
            (folder / "events.jsonl").open("a", encoding="utf-8") as out,
        ):
            out.writelines(redactor.json_line(record) + "\n" for record in timeline)

    def cached(
        self, connection: SourceConnection, options: DiscoveryOptions | None = None
    ) -> Catalog | None:
        """The stored catalog if younger than the TTL: no connection, no drift check.

        Without `options`, the newest entry that covers the whole schema (no table
        filter, default schemas) whatever its sample count: what the compiler wants.
        """
        if options is not None:
            entry = self._load(discovery_id(discovery_key(connection, options)))
            return self._catalog_for(entry, connection) if self._fresh(entry) else None
        index: dict[str, float] = self._cache.get(self._source_key(connection)) or {}
        for did in sorted(index, key=index.__getitem__, reverse=True):
            entry = self._load(did)
            if entry is not None:  # the newest entry still stored decides
                return self._catalog_for(entry, connection) if self._fresh(entry) else None
        return None

    def lookup(self, discovery_id: str) -> DiscoveryResult | None:
        """The stored discovery with this id, whatever its age (None if unknown)."""
        entry = self._load(discovery_id) if DISCOVERY_ID.match(discovery_id) else None
        if entry is None:
            return None
        return self._result(entry, None, cached=True, drift=None)

    def diff(
        self, connection: SourceConnection, options: DiscoveryOptions | None = None
    ) -> DriftReport | None:
        """What changed in the source since its cached entry (None: nothing cached).

        Reads the source in full but stores nothing: a look, like `git diff`.
        """
        options = options or DiscoveryOptions()
        entry = self._load(discovery_id(discovery_key(connection, options)))
        if entry is None:
            return None
        return diff_catalogs(entry.catalog, discover(connection, options))

    def artifact_path(self, discovery_id: str, artifact: str) -> Path | None:
        """The file of one artifact of a discovery, or None: rejects anything but a plain
        `<name>.json` inside the discovery's own folder (no `..`, no `/`, no hidden file)."""
        if not DISCOVERY_ID.match(discovery_id) or not _ARTIFACT_NAME.match(artifact):
            return None
        path = self.artifacts_root / discovery_id / artifact
        return path if path.is_file() else None

    # -- internals ----------------------------------------------------------------------------

    def _check(
        self,
        entry: _Entry | None,
        connection: SourceConnection,
        options: DiscoveryOptions,
        refresh: bool,
        check_drift: bool,
    ) -> tuple[str | None, Snapshot | None]:
        """Why the cached entry cannot be used as is (None: it can), and the source as
        read while finding out that it drifted (None when not read)."""
        if refresh:
            return "refresh", None
        if entry is None:
            return "absent", None
        if not self._fresh(entry):
            return "expired", None
        if not check_drift:
            return None, None
        read = snapshot_if_changed(connection, options, entry.fingerprint)
        return ("drift" if read else None), read

    def _store(
        self,
        connection: SourceConnection,
        options: DiscoveryOptions,
        key: dict[str, Any],
        read: Snapshot,
        previous: _Entry | None,
        emit: EventSink,
    ) -> DiscoveryResult:
        """Keep a fresh read: the cache entry, the artifacts, one event per table."""
        entry = _Entry(discovery_id(key), key, self._clock(), read.fingerprint, read.catalog)
        for table in read.catalog.tables:
            emit(
                "discovery.schema",
                discovery_id=entry.discovery_id,
                schema=table.schema_name,
                table=table.name,
                kind=table.kind,
                columns=len(table.columns),
                row_estimate=table.row_estimate,
            )
        drift = diff_catalogs(previous.catalog, entry.catalog) if previous else None
        self._save(entry, options, connection)
        result = self._result(entry, connection, cached=False, drift=drift)
        self._write_artifacts(result)
        return result

    def _load(self, did: str) -> _Entry | None:
        return _Entry.from_json(self._cache.get(did))

    def _save(self, entry: _Entry, options: DiscoveryOptions, connection: SourceConnection) -> None:
        self._cache.set(entry.discovery_id, entry.to_json())
        if options.tables or options.schemas:
            return  # a partial catalog never stands in for the whole schema
        index_key = self._source_key(connection)
        with self._cache.transact():  # read-modify-write, serialized across processes
            index = self._cache.get(index_key) or {}
            index[entry.discovery_id] = entry.discovered_at
            self._cache.set(index_key, index)

    @staticmethod
    def _source_key(connection: SourceConnection) -> str:
        return "source_" + discovery_id({"source": connection_identity(connection)})[5:]

    def _fresh(self, entry: _Entry | None) -> bool:
        return entry is not None and self._clock() - entry.discovered_at < self.ttl_s

    @staticmethod
    def _catalog_for(entry: _Entry | None, connection: SourceConnection) -> Catalog | None:
        """The entry's catalog, named after the alias asking (aliases may share a source)."""
        if entry is None:
            return None
        ref = connection_ref(connection)
        if entry.catalog.connection == ref:
            return entry.catalog
        return entry.catalog.model_copy(update={"connection": ref})

    def _result(
        self,
        entry: _Entry,
        connection: SourceConnection | None,
        *,
        cached: bool,
        drift: DriftReport | None,
    ) -> DiscoveryResult:
        catalog = self._catalog_for(entry, connection) if connection else entry.catalog
        return DiscoveryResult(
            discovery_id=entry.discovery_id,
            catalog=catalog or entry.catalog,
            cached=cached,
            drift=drift,
            artifacts_dir=self.artifacts_root / entry.discovery_id,
            discovered_at=entry.discovered_at,
            options=entry.key["options"],
        )

    def _write_artifacts(self, result: DiscoveryResult) -> None:
        """catalog.json, summary.json and one table.<schema>.<name>.json per table."""
        folder = _private_dir(_private_dir(self.artifacts_root) / result.discovery_id)
        summary = result.summary()
        catalog = result.catalog.model_dump(mode="json", by_alias=True)
        names = [line["artifact"] for line in summary["tables"]]
        for name, table in zip(names, catalog["tables"], strict=True):
            write_atomic(folder / name, canonical.json_file(table))
        write_atomic(folder / "catalog.json", canonical.json_file(catalog))
        write_atomic(folder / "summary.json", canonical.json_file(summary))
        for stale in set(folder.glob("table.*.json")) - {folder / name for name in names}:
            with contextlib.suppress(FileNotFoundError):  # another process got there first
                stale.unlink()


def artifact_name(table: Table) -> str:
    """The file name of a table's artifact: safe, and unique within a discovery."""
    label = table_label(table)
    slug = re.sub(r"[^A-Za-z0-9_.-]", "_", label).lstrip(".")
    if slug != label:  # keep names that had to be changed apart from each other
        slug += "-" + hashlib.sha256(label.encode()).hexdigest()[:8]
    return f"table.{slug}.json"


_artifact_name = artifact_name  # the name osiris_mcp/tools.py imports today; use artifact_name
