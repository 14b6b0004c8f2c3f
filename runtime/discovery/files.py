"""Discovery of a filesystem connection: every data file under its folder, typed by DuckDB."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from compiler.catalog import Catalog, Column
from components.file_input import OSIRIS_FILES
from runtime.discovery import common
from runtime.discovery.duckdb import _duckdb_normalized, _DuckDBReader

_CSV_SAMPLE_BYTES = 64 * 1024


class _FileFolderReader(common.BaseReader):
    """Every data file under `base_dir` (hidden folders skipped): CSV typed by DuckDB's
    sniffer, Parquet by its own schema, JSON and NDJSON by DuckDB's JSON reader.

    A file is a table named by its path relative to `base_dir` (`orders.csv`,
    `2024/events.parquet`) in schema "". Its fingerprint is its size and modification
    time. Row estimates: a Parquet file's footer holds its exact count; a CSV or NDJSON
    file's comes from the line count of its first 64 KiB, scaled to its size; a JSON array's
    from its objects (one read, the file's type detection reads it anyway).
    """

    def __init__(
        self, connection: common.SourceConnection, options: common.DiscoveryOptions
    ) -> None:
        self.connection, self.options = connection, options
        raw = common._text(connection.fields.get("base_dir"))
        base = Path(raw).expanduser()
        if not raw or not base.is_dir():
            raise common._failure(
                connection, options, "config", f"no folder at {raw!r}",
                "set `base_dir` to the folder that holds the data files",
            )  # fmt: skip
        # A project folder as base_dir (`base_dir: .`) also holds Osiris's own JSON files
        # (build/, run_logs/): they are not data.
        project = (base / "osiris_connections.yaml").is_file()
        self.files: list[tuple[str, Path]] = []
        for path in sorted(base.rglob("*")):
            if path.suffix[1:].lower() not in common.DATA_FILE_ENDINGS:
                continue
            relative = path.relative_to(base)
            if project and relative.parts[0] in OSIRIS_FILES:
                continue
            hidden = any(part.startswith(".") for part in relative.parts)
            if not hidden and path.is_file() and options.wants("", relative.as_posix()):
                self.files.append((relative.as_posix(), path))

    def fingerprint(self) -> str:
        rows = []
        for name, path in self.files:
            stat = path.stat()
            rows.append(("", name, f"{stat.st_size}:{stat.st_mtime_ns}"))
        return common._digest(rows, self.options)

    def catalog(self) -> Catalog:
        import duckdb

        drafts: common._Drafts = {}
        with duckdb.connect() as duck:
            for name, path in self.files:
                drafts["", name] = self._file(duck, name, path)
        return common._catalog(self.connection, drafts, None)

    def _file(self, duck: Any, name: str, path: Path) -> common._Draft:
        import duckdb

        kind = common.DATA_FILE_ENDINGS[path.suffix[1:].lower()]
        size = path.stat().st_size
        reader = {"csv": "read_csv", "parquet": "read_parquet", "json": "read_json"}[kind]
        try:
            if kind == "csv":
                sniffed, has_header = duck.execute(
                    "SELECT Columns, HasHeader FROM sniff_csv(?)", [str(path)]
                ).fetchone()
                columns = [(c["name"], c["type"]) for c in sniffed]
                rows = _estimate_csv_rows(path, size, has_header)
            else:
                described = duck.execute(f"DESCRIBE SELECT * FROM {reader}(?)", [str(path)])
                columns = [(str(row[0]), str(row[1])) for row in described.fetchall()]
                rows = self._rows(duck, kind, path, size)
        except duckdb.Error as err:
            detail = str(err).strip().split("\n")[0]
            raise common._failure(
                self.connection, self.options, "config",
                f"cannot read {name} as {kind.upper()}: {detail}",
                "fix the file, or leave it out with --tables",
            ) from None  # fmt: skip
        draft = common._Draft("", name, "file", rows, size)
        draft.columns = [
            Column(name=n, type=t, normalized_type=_duckdb_normalized(t)) for n, t in columns
        ]
        if self.options.samples:
            cur = duck.execute(
                f"SELECT * FROM {reader}(?) LIMIT ?", [str(path), self.options.samples]
            )
            names = [d[0] for d in cur.description or ()]
            draft.samples = tuple(common.sample_row(names, row) for row in cur.fetchall())
        return draft

    @staticmethod
    def _rows(duck: Any, kind: str, path: Path, size: int) -> int:
        if kind == "parquet":
            found = duck.execute("SELECT num_rows FROM parquet_file_metadata(?)", [str(path)])
            return int(found.fetchone()[0])
        with path.open("rb") as handle:
            first = handle.read(64).lstrip()[:1]
        if first == b"[":  # a JSON array: its objects, counted by DuckDB
            return int(duck.execute("SELECT count(*) FROM read_json(?)", [str(path)]).fetchone()[0])
        return _estimate_csv_rows(path, size, False)

    @staticmethod
    def failure_of(err: Exception) -> common.Failure | None:
        if isinstance(err, PermissionError):
            return ("permission", f"{err.strerror}: {err.filename}")
        if isinstance(err, OSError):
            return ("config", str(err))
        return _DuckDBReader.failure_of(err)


def _estimate_csv_rows(path: Path, size: int, has_header: bool) -> int:
    """Data rows: exact for a file under 64 KiB, else the first 64 KiB's rate scaled up."""
    with path.open("rb") as handle:
        head = handle.read(_CSV_SAMPLE_BYTES)
    if not head:
        return 0
    lines = head.count(b"\n")
    if len(head) >= size:
        lines += 0 if head.endswith(b"\n") else 1
    else:
        lines = round(lines * size / len(head))
    return max(lines - (1 if has_header else 0), 0)
