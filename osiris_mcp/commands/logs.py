"""`osiris logs list|show|bundle|html`: read the session folders of earlier runs."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from osiris_mcp.commands.options import project_dir, usage_error

HELP = "List runs, show one, print a logs bundle an AI can read, or write a run's HTML report."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("list", "show", "bundle", "html"))
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--session", metavar="RUN_ID", help="the run id (see `osiris logs list`)")
    which.add_argument("--last", action="store_true", help="the most recent run")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--out",
        metavar="FILE",
        help="html: where to write the page (default: report.html in the run's folder)",
    )
    parser.add_argument("--project", metavar="DIR", help="project directory")


def run(args: argparse.Namespace) -> int:
    from runtime.sessions import bundle, find_run, list_runs, read_status

    project = project_dir(args)
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
    from runtime.builds import write_atomic
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
