"""`osiris discover @family.alias`: the real tables of a source, cached, with drift shown."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from osiris_mcp.commands.options import add_project, project_dir, usage_error

if TYPE_CHECKING:
    from compiler.catalog import Table
    from runtime.catalog import DiscoveryResult, DriftReport
    from runtime.discovery import DiscoveryError

HELP = "Discover a connection's tables and columns (exit 0 ok, 1 source error, 2 usage)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "connection", metavar="@FAMILY.ALIAS", help="the connection (@mysql means its default)"
    )
    parser.add_argument(
        "--tables",
        action="append",
        default=[],
        metavar="PATTERN",
        help="only tables matching this name or glob, e.g. 'order*' (repeatable)",
    )
    parser.add_argument(
        "--samples", type=_sample_count, default=0, metavar="N", help="sample rows per table, 0-100"
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, metavar="SECONDS", help="connect/read timeout"
    )
    parser.add_argument("--refresh", action="store_true", help="ignore the cache, read again")
    parser.add_argument(
        "--diff", action="store_true", help="show what changed since the cached discovery"
    )
    parser.add_argument("--json", action="store_true", help="print machine-readable output")
    add_project(parser)


def _sample_count(text: str) -> int:
    if not text.isdigit() or int(text) > 100:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to 100, got {text!r}")
    return int(text)


def run(args: argparse.Namespace) -> int:
    from runtime.catalog import CatalogStore
    from runtime.connections import ConnectionError, ConnectionsFile, parse_ref
    from runtime.discovery import DiscoveryError, DiscoveryOptions

    try:
        family, _ = parse_ref(args.connection)
    except ConnectionError as err:
        usage_error(f"{err.message} ({err.hint})")
        return 2
    if args.timeout <= 0:
        usage_error("--timeout must be more than 0 seconds")
        return 2
    project = project_dir(args)
    options = DiscoveryOptions(
        tables=tuple(args.tables), samples=args.samples, timeout_s=args.timeout
    )
    try:
        connection = ConnectionsFile.load(project).resolve(args.connection, family)
    except ConnectionError as err:
        return _show_error(args, DiscoveryError(err.message, "config", err.hint or ""))
    try:
        with CatalogStore(project) as store:
            if args.diff:
                return _show_diff(args, store.diff(connection, options))
            result = store.discover(
                connection, options, refresh=args.refresh, on_event=_trace_event
            )
    except DiscoveryError as err:
        return _show_error(args, err)
    if args.json:
        print(json.dumps(_json_result(result, project), indent=2, ensure_ascii=False))
    else:
        _print_summary(result, project, tables_asked=bool(args.tables))
    return 0


def _show_error(args: argparse.Namespace, err: DiscoveryError) -> int:
    if args.json:
        print(json.dumps({"error": err.to_dict()}, indent=2, ensure_ascii=False))
    else:
        print(f"osiris: discovery failed ({err.category}): {err.message}", file=sys.stderr)
        if err.hint:
            print(f"  hint: {err.hint}", file=sys.stderr)
    return 1


def _show_diff(args: argparse.Namespace, drift: DriftReport | None) -> int:
    ref = args.connection
    if drift is None:
        message = f"nothing cached for {ref} yet: run `osiris discover {ref}` first"
        if args.json:
            print(json.dumps({"error": {"message": message, "category": "config"}}, indent=2))
        else:
            print(f"osiris: {message}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"connection": ref, "drift": drift.to_dict()}, indent=2))
    elif not drift.changed:
        print(f"{ref}: no change since the cached discovery")
    else:
        lines = drift.lines()
        print(f"{ref}: {_count(len(lines), 'change')} since the cached discovery")
        print("\n".join(f"  {line}" for line in lines))
    return 0


def _json_result(result: DiscoveryResult, project: Path) -> dict[str, Any]:
    summary = result.summary()
    by_key = {(t.schema_name, t.name): t for t in result.catalog.tables}
    for entry in summary["tables"]:
        table = by_key[entry["schema"], entry["name"]]
        entry["column_details"] = [
            {"name": c.name, "type": c.type, "nullable": c.nullable, "key": _key_of(table, c.name)}
            for c in table.columns
        ]
    return {
        **summary,
        "cached": result.cached,
        "artifacts_dir": _shown_path(result.artifacts_dir, project),
    }


def _key_of(table: Table, column: str) -> str | None:
    """`PK`, `FK → table(column)`, both (`PK, FK → …`), or None."""
    keys = ["PK"] if column in table.primary_key else []
    for fk in table.foreign_keys:
        if column in fk.columns:
            target = fk.ref_columns[fk.columns.index(column)] if fk.ref_columns else ""
            keys.append(f"FK → {fk.ref_table}({target})")
    return ", ".join(keys) or None


def _print_columns(table: Table, label: str) -> None:
    """One table's columns as a table: name, type, nullable, key."""
    print(f"\n{label}")
    rows = [("COLUMN", "TYPE", "NULLABLE", "KEY")]
    for column in table.columns:
        nullable = "yes" if column.nullable else "no"
        rows.append((column.name, column.type, nullable, _key_of(table, column.name) or ""))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def _print_summary(result: DiscoveryResult, project: Path, tables_asked: bool = False) -> None:
    from runtime.catalog import table_label

    catalog = result.catalog
    views = sum(t.kind == "view" for t in catalog.tables)
    counts = _count(len(catalog.tables), "table") + (f" ({_count(views, 'view')})" if views else "")
    origin = "from the cache (schema unchanged)" if result.cached else "read from the source"
    print(f"{catalog.connection}: {counts}, {origin} · {result.discovery_id}")
    rows = [("TABLE", "KIND", "ROWS", "COLUMNS", "PRIMARY KEY")]
    for table in catalog.tables:
        in_default = table.schema_name == catalog.default_schema
        rows.append(
            (
                table.name if in_default else table_label(table),
                table.kind,
                "—" if table.row_estimate is None else f"{table.row_estimate:,}",
                str(len(table.columns)),
                ", ".join(table.primary_key) or "—",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2].rjust(widths[2])]
        cells += [row[3].rjust(widths[3]), row[4]]
        print("  ".join(cells).rstrip())
    if tables_asked:  # the tables asked for by name: their columns too
        for table in catalog.tables:
            in_default = table.schema_name == catalog.default_schema
            _print_columns(table, table.name if in_default else table_label(table))
    if result.drift is not None and result.drift.changed:
        print("changed since the cached discovery:")
        print("\n".join(f"  {line}" for line in result.drift.lines()))
    where = _shown_path(result.artifacts_dir, project)
    print(f"rows are estimates from engine statistics · full JSON in {where}/")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _shown_path(path: Path, project: Path) -> str:
    try:
        return str(path.relative_to(project))
    except ValueError:
        return str(path)


def _trace_event(event_type: str, **data: Any) -> None:
    """With OSIRIS_LOG_LEVEL=TRACE (or DEBUG), each discovery event on stderr as it happens."""
    if os.environ.get("OSIRIS_LOG_LEVEL", "").upper() in ("TRACE", "DEBUG"):
        print(json.dumps({"event_type": event_type, "data": data}, default=str), file=sys.stderr)
