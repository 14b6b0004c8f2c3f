"""`osiris logs list|show|bundle|html`: read the session folders of earlier runs."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from osiris_mcp.commands.options import add_project, project_dir, usage_error

HELP = (
    "List runs, show one, print a logs bundle an AI can read, write a run's HTML report, "
    "or delete old runs (gc)."
)
#: 0.5.7's `osiris logs gc` defaults; DEFAULT_DAYS is also `maintenance clean`'s.
DEFAULT_DAYS = 7
DEFAULT_MAX_GB = 1.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action",
        choices=("list", "show", "last", "bundle", "html", "gc"),
        help="last = show --last; html writes a run's report page (see --out); "
        "gc deletes old run folders (see --days, --max-gb)",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--session", metavar="RUN_ID", help="the run id (see `osiris logs list`)")
    which.add_argument("--last", action="store_true", help="the most recent run")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--out",
        metavar="FILE",
        help="html: where to write the page (default: report.html in the run's folder)",
    )
    add_project(parser)
    add_gc_arguments(parser, with_limits=True)


def add_gc_arguments(parser: argparse.ArgumentParser, with_limits: bool) -> None:
    gc = parser.add_argument_group("gc (retention; shared with `osiris maintenance clean`)")
    if with_limits:
        gc.add_argument(
            "--days",
            type=float,
            default=None,
            metavar="N",
            help=f"gc: delete runs that ended more than N days ago (default {DEFAULT_DAYS})",
        )
        gc.add_argument(
            "--max-gb",
            type=float,
            default=None,
            metavar="G",
            help=f"gc: then delete the oldest runs until run_logs/ holds at most G GB "
            f"(default {DEFAULT_MAX_GB:g})",
        )
    gc.add_argument(
        "--dry-run", action="store_true", help="say what would be deleted; delete nothing"
    )


def run(args: argparse.Namespace) -> int:
    from runtime.sessions import bundle, find_run, list_runs, read_status

    project = project_dir(args)
    if args.action == "gc":
        days = DEFAULT_DAYS if args.days is None else args.days
        max_gb = DEFAULT_MAX_GB if args.max_gb is None else args.max_gb
        if days < 0 or max_gb < 0:
            usage_error("--days and --max-gb must not be negative")
            return 2
        return collect_garbage(project, days, int(max_gb * 1024**3), args.dry_run, args.json)
    if args.action != "gc" and (args.days is not None or args.max_gb is not None or args.dry_run):
        usage_error("--days, --max-gb and --dry-run go with `osiris logs gc`")
        return 2
    if args.action == "last":
        args.action, args.last = "show", True
    runs = list_runs(project)
    if args.action == "list":
        if args.json:
            print(json.dumps(runs, indent=2, ensure_ascii=False))
            return 0
        if not runs:
            print("no runs yet (run_logs/ is empty)", file=sys.stderr)
            return 0
        for status in runs:
            print(
                f"{status.get('session_id')}  {status.get('status', '?'):<9}  "
                f"{status.get('pipeline')}  {status.get('started_at')}  "
                f"{(status.get('duration_ms') or 0) / 1000:.2f}s"
            )
        return 0
    session_dir: Path | None
    if args.last:
        session_dir = Path(runs[0]["session_dir"]) if runs else None
        if session_dir is None:
            usage_error("no runs yet")
            return 2
    elif args.session:
        session_dir = find_run(project, args.session)
        if session_dir is None:
            usage_error(
                f"no run '{args.session}' under {project / 'run_logs'} (see `osiris logs list`)"
            )
            return 2
    else:
        usage_error(f"logs {args.action} needs --session RUN_ID or --last")
        return 2
    if args.action == "bundle":
        print(bundle(session_dir), end="")
        return 0
    if args.action == "html":
        return _write_html(session_dir, project, args.out, args.json)
    status = read_status(session_dir)
    if args.json:
        print(json.dumps({**status, "session_dir": str(session_dir)}, indent=2, ensure_ascii=False))
        return 0
    print(f"{status['session_id']}: {status['status']} ({status['pipeline']})")
    for step in status.get("steps", []):
        error = f"  error: {step['error']}" if step.get("error") else ""
        print(
            f"  {step['id']:<24} {step['status']:<9} read {step['rows_read']:>10,}  "
            f"written {step['rows_written']:>10,}{error}"
        )
    print(f"logs: {session_dir}")
    return 0


def _write_html(session_dir: Path, project: Path, out: str | None, as_json: bool) -> int:
    """The run's report page, written atomically; its path on stdout."""
    from components.common.atomic import write_atomic
    from runtime.connections import ConnectionError, ConnectionsFile
    from runtime.redaction import Redactor
    from runtime.run_report import render

    redactor = Redactor()
    # Mask any secret of the project's connections, should one be in the logs; without a
    # (readable) connections file the logs stand as they were redacted when written.
    with contextlib.suppress(ConnectionError, OSError):
        redactor.add(ConnectionsFile.load(project).secret_values())
    target = Path(out).expanduser() if out else session_dir / "report.html"
    if target.is_dir():
        target = target / f"{session_dir.name}.html"
    try:
        write_atomic(target, render(session_dir, redactor).encode("utf-8"))
    except OSError as err:
        usage_error(f"cannot write {target}: {err.strerror or err}")
        return 1
    print(json.dumps({"report": str(target)}) if as_json else target)
    return 0


def collect_garbage(
    project: Path, days: float | None, max_bytes: int | None, dry_run: bool, as_json: bool
) -> int:
    """Plan, then (unless `dry_run`) delete old run folders; print a summary. Shared with
    `osiris maintenance clean`."""
    from runtime.retention import apply_gc, plan_gc

    plan = plan_gc(project, days, max_bytes)
    result = None if dry_run else apply_gc(project, plan)
    if as_json:
        summary = {
            "dry_run": dry_run,
            "run_logs": str(project / "run_logs"),
            "limits": {"days": days, "max_bytes": max_bytes},
            "runs": [run.to_dict(project) for run in plan.delete],
            "planned": len(plan.delete),
            "planned_bytes": plan.bytes_to_free,
            "kept": len(plan.keep),
            "skipped": [{"path": path, "reason": why} for path, why in plan.skipped],
            **(
                {
                    "deleted": result.deleted,
                    "freed_bytes": result.freed_bytes,
                    "errors": result.errors,
                }
                if result is not None
                else {}
            ),
        }
        print(json.dumps(summary, indent=2, ensure_ascii=False))
        return 1 if result is not None and result.errors else 0
    verb = "would delete" if dry_run else "deleting"
    for run in plan.delete:
        print(f"{verb} {run.pipeline}/{run.run_id}  {_size(run.size_bytes)}  ({run.reason})")
    for path, why in plan.skipped:
        print(f"left alone: {path} ({why})")
    if result is None:
        print(
            f"dry run: {len(plan.delete)} run(s) would be deleted, freeing "
            f"{_size(plan.bytes_to_free)}; {len(plan.keep)} kept"
        )
        return 0
    for error in result.errors:
        print(f"not deleted: {error}", file=sys.stderr)
    print(
        f"deleted {result.deleted} run(s), freed {_size(result.freed_bytes)}; {len(plan.keep)} kept"
    )
    return 1 if result.errors else 0


def _size(count: int) -> str:
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"
