"""`osiris connections list|doctor`: show the project's connections, or check that they answer."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from osiris_mcp.commands.options import add_project, project_dir, usage_error

if TYPE_CHECKING:
    from runtime.connections import ConnectionsFile, DoctorResult

HELP = "List the connections (secrets masked), or check that they answer (doctor)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action",
        nargs="?",
        choices=("list", "doctor"),
        default="list",
        help="list (the default) or doctor",
    )
    parser.add_argument(
        "ref",
        nargs="?",
        metavar="@FAMILY.ALIAS",
        help="doctor: check only this connection (default: all of them)",
    )
    parser.add_argument(
        "--family", metavar="F", help="doctor: only the connections of family F (e.g. mysql)"
    )
    parser.add_argument(
        "--alias", metavar="A", help="doctor: only aliases named A (with --family: @F.A)"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--timeout",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="doctor: seconds allowed per connection attempt (default 5)",
    )
    add_project(parser)


def run(args: argparse.Namespace) -> int:
    from runtime.connections import ConnectionError, ConnectionsFile

    if args.action == "list" and (args.ref or args.family or args.alias):
        usage_error("`connections list` takes no connection; did you mean `connections doctor`?")
        return 2
    if args.ref and (args.family or args.alias):
        usage_error("name the connection either as @FAMILY.ALIAS or with --family/--alias")
        return 2
    if args.timeout <= 0:
        usage_error("--timeout must be a positive number of seconds")
        return 2
    project = project_dir(args)
    try:
        file = ConnectionsFile.load(project)
    except ConnectionError as err:
        return _failure(args.json, err.message, err.hint)
    if not file.exists:
        return _failure(
            args.json,
            f"no {file.path.name} in {project}",
            "create one with `osiris init`, or choose the project with --project DIR",
        )
    if args.action == "doctor":
        refs = [args.ref] if args.ref else None
        if args.family or args.alias:
            refs = _chosen(file, args.family, args.alias)
            if isinstance(refs, tuple):
                return _failure(args.json, *refs)
        return _doctor(file, refs, args.timeout, args.json)
    return _list(file, args.json)


def _chosen(
    file: ConnectionsFile, family: str | None, alias: str | None
) -> list[str] | tuple[str, str | None]:
    """The references `--family`/`--alias` choose (0.5.7's doctor options), or (message,
    hint) when they choose none. Both given name one alias: a wrong one is the doctor's
    config failure, with its did-you-mean."""
    import difflib

    if family and alias:
        return [f"@{family}.{alias}"]
    infos = file.aliases()
    chosen = [i.ref for i in infos if (i.family == family if family else i.alias == alias)]
    if chosen:
        return chosen
    known = sorted({i.family for i in infos} if family else {i.alias for i in infos})
    wanted = family or alias or ""
    close = difflib.get_close_matches(wanted, known, n=1)
    what = "family" if family else "alias"
    hint = f"did you mean {close[0]}?" if close else (f"{what}s: " + ", ".join(known) or None)
    return f"no connection {what} {wanted!r} in {file.path}", hint


def _list(file: ConnectionsFile, as_json: bool) -> int:
    infos = file.aliases()
    if as_json:
        unknown = file.unknown_families()
        _print_json(
            {
                "connections_file": str(file.path),
                "connections": [info.to_dict() for info in infos],
                # families no Osiris component uses (kept for other tools), when there are any
                **({"unknown_families": unknown} if unknown else {}),
            }
        )
        return 0
    print(f"{file.path}")
    if not infos:
        print("no connections defined")
        return 0
    unknown = file.unknown_families()
    table = []
    for info in infos:
        fields = " ".join(f"{name}={_show(value)}" for name, value in info.fields.items())
        if info.missing_variables:
            fields += "  (unset: " + ", ".join(info.missing_variables) + ")"
        table.append((info.ref, "yes" if info.is_default else "", fields))
    print(_table(("CONNECTION", "DEFAULT", "FIELDS"), table))
    if unknown:
        print(
            "\nno Osiris component uses these families (kept for other tools): "
            + ", ".join(unknown)
        )
    return 0


def _doctor(file: ConnectionsFile, refs: list[str] | None, timeout_s: float, as_json: bool) -> int:
    from runtime.connections import doctor_all

    results = doctor_all(file, refs, timeout_s)
    ok = all(result.ok for _, result in results)
    if as_json:
        checks = [_check_dict(name, result) for name, result in results]
        _print_json({"ok": ok, "checks": checks})
        return 0 if ok else 1
    if not results:
        print("no connections defined")
        return 0
    table = []
    for name, result in results:
        latency = f"{result.latency_ms:.1f} ms" if result.latency_ms is not None else "-"
        detail = result.message + (f"\n  hint: {result.hint}" if result.hint else "")
        status = "skipped" if result.skipped else "ok" if result.ok else "FAILED"
        table.append((name, status, latency, result.category or "-", detail))
    print(_table(("CONNECTION", "STATUS", "LATENCY", "CATEGORY", "DETAIL"), table))
    failed = sum(1 for _, result in results if not result.ok)
    skipped = sum(1 for _, result in results if result.skipped)
    checked = len(results) - skipped
    note = f" ({skipped} not checked)" if skipped else ""
    print(f"\n{checked - failed} of {checked} connections ok{note}")
    return 0 if ok else 1


def _check_dict(ref: str, result: DoctorResult) -> dict[str, Any]:
    return {
        "ref": ref,
        "ok": result.ok,
        "latency_ms": result.latency_ms,
        "category": result.category,
        "message": result.message,
        "hint": result.hint,
        **({"skipped": True} if result.skipped else {}),  # no check for the family
    }


def _failure(as_json: bool, message: str, hint: str | None) -> int:
    if as_json:
        _print_json({"ok": False, "error": {"message": message, "hint": hint}})
    else:
        print(f"osiris: error: {message}", file=sys.stderr)
        if hint:
            print(f"  hint: {hint}", file=sys.stderr)
    return 1


def _show(value: Any) -> str:
    if isinstance(value, str) and value and not any(ch.isspace() for ch in value):
        return value
    return json.dumps(value, ensure_ascii=False)


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    """Columns padded to their widest cell; a cell's extra lines go under its column."""
    widths = [len(h) for h in header]
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths[i], len(cell))
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=False)).rstrip()]
    indent = sum(widths[:-1]) + 2 * (len(widths) - 1)
    for row in rows:
        first, *more = row[-1].split("\n")
        cells = [c.ljust(w) for c, w in zip(row[:-1], widths, strict=False)]
        lines.append("  ".join([*cells, first]).rstrip())
        lines.extend(" " * indent + extra for extra in more)
    return "\n".join(lines)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))
