"""`osiris preview FILE STEP`, `osiris run --dry-run` and `--limit N`: the words for what
`runtime.preview` finds (a plan's steps and targets, a step's first rows, a sample run)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from osiris_mcp.commands import options

HELP = (
    "Run a pipeline up to STEP on a scratch data plane and print STEP's first rows "
    "(writers never run; exit 0 ok, 1 a step failed, 2 bad input)."
)

#: A cell wider than this is cut in the text table (the JSON keeps it whole).
MAX_CELL_CHARS = 40


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target", metavar="FILE|BUILD_DIR", help="OML file, or a compiled build folder"
    )
    parser.add_argument("step", metavar="STEP", help="the step whose rows to show")
    parser.add_argument(
        "--rows", type=int, default=20, metavar="N", help="show the first N rows (20)"
    )
    parser.add_argument("--json", action="store_true", help="print {columns, rows} as JSON")
    options.add_no_optimize(parser)
    options.add_compile_inputs(parser)


def run(args: argparse.Namespace) -> int:
    from runtime.builds import Build, PlanError
    from runtime.preview import StepFailed, plan_up_to, run_up_to

    if args.rows < 1:
        options.usage_error("--rows must be at least 1")
        return 2
    project = options.project_dir(args)
    build_dir = compiled_build(Path(args.target), args, project)
    if build_dir is None:
        return 2
    try:
        plan = plan_up_to(Build.load(build_dir).current(), args.step, args.target)
        shown = run_up_to(plan, args.step, project, args.rows)
    except PlanError as err:
        options.usage_error(str(err) + (f"\n  hint: {err.hint}" if err.hint else ""))
        return 2
    except StepFailed as failure:
        options.usage_error(f"{failure}\n  hint: {failure.hint}")
        return 1
    if args.json:
        shown["rows"] = [[_json_value(v) for v in row] for row in shown["rows"]]
        print(json.dumps(shown, indent=2, ensure_ascii=False))
    else:
        print_rows(shown)
    return 0


# ---- the build ---------------------------------------------------------------------------


def compiled_build(target: Path, args: argparse.Namespace, project: Path) -> Path | None:
    """The build folder to preview: TARGET itself, or TARGET compiled as `osiris run`
    compiles it (cached); None after printing why there is none."""
    from compiler.diagnostics import render
    from runtime.app import compile_to_disk

    if target.name == "manifest.yaml" and target.is_file():
        target = target.parent
    if target.is_dir():
        return target
    context = options.compile_context(args, optimize=not args.no_optimize)
    source = options.read_source(target)
    if context is None or source is None:
        return None
    outcome = compile_to_disk(source, context, str(target), project, None)
    if outcome.ok:
        return outcome.build_dir
    if args.json:
        print(json.dumps({"status": "compile_error", "diagnostics": outcome.diagnostics_dicts()}))
    else:
        for diagnostic in outcome.diagnostics:
            print(render(diagnostic, str(target), outcome.source), file=sys.stderr)
    if outcome.error:
        options.usage_error(outcome.error)
    return None


def _json_value(value: Any) -> Any:
    """A cell as JSON keeps it: numbers and text as they are, a Decimal as its exact text
    (a float would round it), dates and anything else as their ISO or plain text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


# ---- printing ------------------------------------------------------------------------------


def print_rows(shown: dict[str, Any]) -> None:
    """The rows as aligned plain text: a header, a rule, numbers to the right."""
    columns: list[str] = shown["columns"]
    cells = [[_cell(v) for v in row] for row in shown["rows"]]
    numeric = [_numeric([row[i] for row in shown["rows"]]) for i in range(len(columns))]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    print(_line(columns, widths, numeric))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print(_line(row, widths, numeric))
    total, count = shown["total_rows"], len(cells)
    which = f"all {count:,} rows" if count == total else f"first {count:,} of {total:,} rows"
    print(f"\n{shown['step']}: {which} (nothing was written)")


def _line(cells: Sequence[str], widths: list[int], right: list[bool]) -> str:
    return "  ".join(
        c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)
    ).rstrip()


def _numeric(values: list[Any]) -> bool:
    """Whether a column holds numbers (NULLs aside): those read best right-aligned."""
    present = [v for v in values if v is not None]
    return bool(present) and all(
        isinstance(v, int | float | Decimal) and not isinstance(v, bool) for v in present
    )


def _cell(value: Any) -> str:
    text = "NULL" if value is None else str(value).replace("\n", "\\n")
    return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 1] + "…"


# ---- osiris run --dry-run ---------------------------------------------------------------------


def dry_run(build_dir: Path, as_json: bool) -> int:
    """`osiris run --dry-run`: print the compiled plan and what it would change; run nothing."""
    from runtime.builds import Build, PlanError
    from runtime.preview import describe_plan

    try:
        plan = Build.load(build_dir).current()
    except PlanError as err:
        options.usage_error(str(err) + (f"\n  hint: {err.hint}" if err.hint else ""))
        return 2
    described = describe_plan(plan)
    if as_json:
        print(json.dumps(described, indent=2, ensure_ascii=False))
    else:
        print_plan(described)
    return 0


def print_plan(described: dict[str, Any]) -> None:
    short = described["manifest_hash"][:12]
    print(f"dry run of '{described['pipeline']}' ({short}): nothing is read, written or opened")
    for number, step in enumerate(described["steps"], 1):
        print(f"\n{number}. {step['id']}  {step['component']}  {step['mode']}")
        if step.get("when"):
            print(f"     when    {step['when']}")
        reads = _read_text(step["reads"])
        if reads:
            print(f"     reads   {reads}")
        if step["writes"]:
            print(f"     writes  {_target_text(step['writes'])}")
    print("\nwould change:")
    for target in described["would_change"]:
        print(f"  {_target_text(target)}")
    if not described["would_change"]:
        print("  nothing")


def _read_text(reads: dict[str, Any]) -> str:
    parts = []
    if reads.get("steps"):
        noun = "step" if len(reads["steps"]) == 1 else "steps"
        parts.append(f"{noun} {', '.join(reads['steps'])}")
    if reads.get("connection"):
        parts.append(reads["connection"])
    if reads.get("tables"):
        noun = "table" if len(reads["tables"]) == 1 else "tables"
        parts.append(f"{noun} {', '.join(reads['tables'])}")
    if reads.get("path"):
        parts.append(f"file {reads['path']}")
    return " ".join(parts)


def _target_text(target: dict[str, Any]) -> str:
    kind = "table" if target["kind"] == "database_table" else "file"
    mode = f"{target['write_mode']}, " if target.get("write_mode") else ""
    return f"{kind} {target['target']} ({mode}{target['connection']})"


# ---- a sample run: osiris run --limit N ----------------------------------------------------


def sample_run(build_dir: Path, project: Path, rows: int, as_json: bool) -> int:
    """`osiris run --limit N`: run on at most N rows per source, writing no target."""
    from runtime.builds import Build, PlanError
    from runtime.preview import sample_run as run_sample

    if rows < 1:
        options.usage_error("--limit must be at least 1")
        return 2
    try:
        sampled = run_sample(Build.load(build_dir).current(), project, rows)
    except PlanError as err:
        options.usage_error(str(err) + (f"\n  hint: {err.hint}" if err.hint else ""))
        return 2
    status = sampled.outcome.status
    steps = [o.to_status() for o in sampled.outcome.steps]
    written = sampled.samples
    if as_json:
        print(json.dumps({"status": status, "limit": rows, "steps": steps, "samples": written}))
    else:
        for step in steps:
            print(f"{step['id']:<24} {step['status']:<9} {step.get('rows_written', 0):>8,} rows")
        print(f"\nsample run: at most {rows:,} rows per source; no target was written")
        for sample in written:
            print(f"  {sample['step']} would write {sample['rows']:,} rows: {sample['path']}")
        for step in steps:
            if step.get("error"):
                print(f"\nstep '{step['id']}' failed ({step.get('category')}): {step['error']}")
    return 0 if status == "success" else 1
