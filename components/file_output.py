"""A data-plane table written to a file by DuckDB's `COPY`, atomically: what the Parquet and
JSON writers share (the CSV writer predates it and keeps its own append and transcoding).

DuckDB writes a temporary file, which is then renamed over the target (`os.replace`):
readers see the old file or the new one, never half of one, and a failure or a cancel
leaves the old file as it was and no temporary file behind. When the run's data plane is
locked against files (`enable_external_access = false`, the spill folder its one writable
place), DuckDB writes the temporary file in the spill folder and it is moved beside the
target before the rename; otherwise it is written beside the target directly.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from components.common.quoting import quote_identifier, quote_literal
from components.file_input import resolve_data_path
from components.protocol import (
    DriverError,
    StepContext,
    first_paragraph,
    missing_input,
    no_python_tables,
)

#: DuckDB's timestamp types without a time zone
TIMESTAMPS = ("TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS")


def target_path(ctx: StepContext, config: Mapping[str, Any]) -> Path:
    """The file a writer replaces: `path` under the connection's base_dir (see
    `resolve_data_path`), its folder created when `create_dirs` allows."""
    path = resolve_data_path(ctx, config.get("path"), config.get("base_dir"), writing=True)
    if path.is_dir():
        raise DriverError(f"{config['path']!r} is a directory", category="config")
    ensure_parent(path, config.get("create_dirs", True) is True)
    return path


def ensure_parent(path: Path, create: bool) -> None:
    """`path`'s folder exists: made when `create` (the spec's `create_dirs`) allows."""
    if path.parent.is_dir():
        return
    if not create:
        raise DriverError(
            f"the folder {path.parent} does not exist",
            category="config",
            hint="create it, or set create_dirs: true",
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DriverError(f"cannot create {path.parent}: {err.strerror}", category="io") from None


def input_table(inputs: Mapping[str, str], what: str) -> str:
    """The one data-plane table a writer reads: the runner hands each upstream under
    several names (input name, step id, df_<id>), so tables are counted, not names."""
    tables = set(inputs.values())
    if len(tables) != 1:
        raise DriverError(
            f"the {what} takes exactly one input, got {len(tables)}",
            category="config",
            hint="connect one upstream step with inputs or needs",
        )
    return tables.pop()


def input_columns(cur: Any, table: str) -> list[tuple[Any, ...]]:
    """DESCRIBE of the input table; a missing table is a config error."""
    import duckdb

    no_python_tables(cur)
    try:
        return list(cur.execute(f"DESCRIBE SELECT * FROM {table}").fetchall())
    except duckdb.Error as err:
        raise missing_input(err) from None


def export_select(table: str, columns: list[tuple[Any, ...]], naive: str, utc: str) -> str:
    """SELECT over the input in its column order, timestamps as text. `naive` and `utc` are
    SQL with a `{name}` slot: the text of a timestamp, of one with a time zone in UTC (an
    infinite one prints as DuckDB prints it)."""
    kinds = [(quote_identifier(str(column[0])), str(column[1]).upper()) for column in columns]
    if not any(kind in (*TIMESTAMPS, "TIMESTAMP WITH TIME ZONE") for _, kind in kinds):
        return f"SELECT * FROM {table}"
    parts = []
    for name, kind in kinds:
        if kind in TIMESTAMPS:
            parts.append(f"{naive.format(name=name)} AS {name}")
        elif kind == "TIMESTAMP WITH TIME ZONE":
            parts.append(
                f"CASE WHEN isfinite({name}) THEN {utc.format(name=name)} "
                f"ELSE CAST({name} AS VARCHAR) END AS {name}"
            )
        else:
            parts.append(name)
    return f"SELECT {', '.join(parts)} FROM {table}"


def copy_atomically(ctx: StepContext, select: str, path: Path, options: str) -> int:
    """`COPY (select) TO path (options)` through a temporary file; the rows written."""

    cur = ctx.data_plane
    staged, copied = staged_paths(cur, path)
    temporaries = [copied, staged]
    with writing(path, temporaries):
        result = cur.execute(f"COPY ({select}) TO {quote_literal(str(copied))} {options}")
        rows = int(result.fetchone()[0])
        if copied != staged:
            move_beside(copied, staged)
        publish(ctx, staged, path)
    return rows


def staged_paths(cur: Any, path: Path) -> tuple[Path, Path]:
    """Where a write of `path` is staged: a hidden file beside it (renamed over it at the
    end), and where DuckDB writes it first (`staging_dir`). Orphans of killed runs go."""
    remove_orphans(path)
    token = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
    staged = path.parent / f".{path.name}.{token}.tmp"
    return staged, staging_dir(cur, path) / staged.name


@contextlib.contextmanager
def writing(path: Path, temporaries: list[Path]) -> Iterator[None]:
    """Writing `path`: a failure becomes a DriverError that says what went wrong, and the
    temporary files (which the body may add to) go, whatever happens."""
    import duckdb

    try:
        yield
    except DriverError:
        raise
    except OSError as err:
        raise DriverError(f"cannot write {path}: {err.strerror or err}", category="io") from None
    except duckdb.Error as err:  # the query behind the input failed while copying
        category = "io" if isinstance(err, duckdb.IOException) else "data"
        message = f"writing {path.name} failed: {first_paragraph(err)}"
        raise DriverError(message, category=category) from None
    finally:
        for temporary in temporaries:
            temporary.unlink(missing_ok=True)


def publish(ctx: StepContext, staged: Path, path: Path) -> None:
    """Rename the finished file over the target, unless the run was cancelled: synced
    first, with the replaced file's permissions."""
    if ctx.cancelled():
        raise DriverError("cancelled: the file was left as it was", category="cancelled")
    with staged.open("rb") as handle:
        os.fsync(handle.fileno())
    if path.exists():
        shutil.copymode(path, staged)  # a replaced file keeps its permissions
    os.replace(staged, path)


def staging_dir(cur: Any, path: Path) -> Path:
    """Where DuckDB writes the file first: beside the target, unless the data plane is
    locked against files — then its spill folder, the one place it may write."""
    external, spill = cur.execute(
        "SELECT current_setting('enable_external_access'), current_setting('temp_directory')"
    ).fetchone()
    return path.parent if external or not spill else Path(spill)


def move_beside(source: Path, target: Path) -> None:
    """`source` renamed to `target`, copied when the two are on different file systems."""
    try:
        os.replace(source, target)
    except OSError:
        shutil.copyfile(source, target)
        source.unlink(missing_ok=True)


def remove_orphans(path: Path) -> None:
    """Delete temporary files a killed writer left beside `path`.

    Their names carry the writing process's id; a file whose process is gone is an
    orphan (SIGKILL, power loss), one whose process lives belongs to a concurrent run.
    """
    for candidate in path.parent.glob(f".{path.name}.*.tmp"):
        pid_text = candidate.name[len(path.name) + 2 :].split("-", 1)[0]
        if not pid_text.isdigit():
            continue
        try:
            os.kill(int(pid_text), 0)
        except ProcessLookupError:
            candidate.unlink(missing_ok=True)
        except PermissionError:
            continue


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
