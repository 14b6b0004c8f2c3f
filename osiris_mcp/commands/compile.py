"""`osiris compile FILE`: check, then write the manifest and its files to a build folder."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from osiris_mcp.commands.options import (
    add_compile_inputs,
    add_verify_sql,
    compile_context,
    project_dir,
    read_source,
    usage_error,
)

HELP = "Compile an OML file into a hashed, deterministic manifest (exit 0 ok, 2 diagnostics)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="OML pipeline file")
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="write the build files directly into DIR: a new or empty folder, or an earlier "
        "build (a folder holding anything else is refused, never replaced)",
    )
    parser.add_argument(
        "--compile",
        choices=("auto", "force", "never"),
        default="auto",
        help="auto: reuse an identical earlier build; force: always compile; "
        "never: only reuse, fail when there is none",
    )
    parser.add_argument("--no-optimize", action="store_true", help="turn off pushdown rewrites")
    parser.add_argument("--json", action="store_true", help="print a machine-readable summary")
    parser.add_argument("--debug", action="store_true", help="also print the manifest")
    add_verify_sql(parser)
    add_compile_inputs(parser)


def run(args: argparse.Namespace) -> int:
    from compiler.diagnostics import render

    context = compile_context(args, optimize=not args.no_optimize)
    if context is None:
        return 2
    path = Path(args.file)
    source = read_source(path)
    if source is None:
        return 2
    try:
        outcome = compile_to_disk(
            source,
            context,
            str(path),
            project_dir(args),
            args.out,
            args.compile,
            verify_sql=args.verify_sql,
        )
    except Exception as err:  # a bug: say so, never a traceback
        return _internal_error(err, args.json)
    if outcome["ok"]:
        from runtime.builds import record_last_build

        record_last_build(project_dir(args), Path(outcome["build_dir"]))
    if args.json:
        private = ("diagnostics_objects", "source", "program")
        public = {k: v for k, v in outcome.items() if k not in private}
        print(json.dumps(public, indent=2, ensure_ascii=False))
    else:
        for diagnostic in outcome["diagnostics_objects"]:
            print(render(diagnostic, str(path), outcome["source"]))
        if outcome["ok"]:
            _print_summary(outcome)
            if args.debug:
                print()
                print((Path(outcome["build_dir"]) / "manifest.yaml").read_text("utf-8"), end="")
        elif outcome.get("error"):
            usage_error(outcome["error"])
    return 0 if outcome["ok"] else 2


def compile_to_disk(
    source: bytes,
    context: Any,
    filename: str,
    project: Path,
    out: str | None,
    mode: str = "auto",
    *,
    verify_sql: bool = False,
) -> dict[str, Any]:
    """Compile (or reuse a cached build) and write the build folder. Shared with `run`.

    `verify_sql` PREPAREs each extract query on its server first (runtime/sql_verify.py):
    it asks the servers about now, so it never reuses a cached build.
    """
    from compiler.emit import compile_source
    from compiler.fingerprints import compiler_fingerprint
    from runtime.builds import (
        BuildDirError,
        CompileCache,
        cache_key,
        default_build_dir,
        write_build,
    )

    inputs = {
        "compiler_fp": compiler_fingerprint(),
        "params": {k: str(v) for k, v in sorted(context.params.items())},
        "env": dict(sorted(context.env.items())),
        "profile": context.profile,
        "optimize": context.optimize,
        "registry": sorted(s.fingerprint for s in context.registry),
        "out": str(Path(out).resolve()) if out else None,
        # schema checks on or off give different builds; which catalogs were seen is
        # checked at lookup (a discovery since the build makes it stale)
        "catalogs": "project" if hasattr(context.catalogs, "observed") else "off",
        # the manifest records what the connections resolve to, so they key the build too
        "connections": sorted(context.connections) if context.connections is not None else None,
        "connection_facts": context.connection_facts,
    }
    key = cache_key(source, inputs)
    cache = CompileCache(project)
    if mode != "force" and not verify_sql:
        entry = cache.lookup(key)
        if entry is not None and not _same_catalogs(entry.get("catalogs") or {}, project):
            entry = None
        if entry is not None:
            return {
                **entry,
                "ok": True,
                "cached": True,
                "diagnostics": [],
                "diagnostics_objects": [],
                "source": "",
            }
        if mode == "never":
            return {
                "ok": False,
                "cached": False,
                "diagnostics": [],
                "diagnostics_objects": [],
                "source": "",
                "error": "--compile never: no earlier build of these inputs",
            }
    result = compile_source(source, context, filename)
    refused = False
    if verify_sql and result.ok:
        from compiler.diagnostics import has_errors
        from runtime.sql_verify import verify_sql as verify

        refused = has_errors(verify(result.program, context, project))
    base: dict[str, Any] = {
        "program": result.program,
        "diagnostics": [d.to_dict() for d in result.program.diagnostics],
        "diagnostics_objects": result.program.diagnostics,
        "source": result.program.source,
        "cached": False,
    }
    if not result.ok or refused:
        return {**base, "ok": False}
    target = (
        Path(out)
        if out
        else default_build_dir(project, result.pipeline_name, result.manifest_short)
    )
    try:
        build_dir = write_build(result.files, target)
    except BuildDirError as err:
        return {**base, "ok": False, "error": str(err)}
    except OSError as err:  # a full disk, a read-only folder: say which, not "a bug"
        problem = f"cannot write the build to {target}: {err.strerror or err}"
        return {**base, "ok": False, "error": problem}
    entry = {
        "pipeline": result.pipeline_name,
        "manifest_hash": result.manifest_hash,
        "manifest_short": result.manifest_short,
        "build_dir": str(build_dir),
        "order": list(result.program.order),
        "rewrites": result.program.rewrites,
        "fingerprints": result.fingerprints,
        "catalogs": context.catalogs.observed() if hasattr(context.catalogs, "observed") else {},
    }
    with contextlib.suppress(OSError):  # a cache that cannot be written only costs time
        cache.store(key, entry)
    return {**base, **entry, "ok": True}


def _same_catalogs(seen: dict[str, str | None], project: Path) -> bool:
    """Whether every catalog a cached build was checked against is still the same."""
    if not seen:
        return True
    from runtime.project_catalogs import ProjectCatalogs

    return ProjectCatalogs(project).observed_now(seen) == seen


def _print_summary(outcome: dict[str, Any]) -> None:
    cached = " (cached)" if outcome.get("cached") else ""
    print(f"compiled '{outcome['pipeline']}'{cached}")
    print(f"  manifest_hash  {outcome['manifest_hash']}")
    print(f"  order          {' -> '.join(outcome['order'])}")
    rewrites = outcome.get("rewrites") or []
    print(f"  rewrites       {len(rewrites) or 'none'}")
    for rewrite in rewrites:
        print(f"    {rewrite.get('kind')} into '{rewrite.get('step')}'")
    print(f"  files          {outcome['build_dir']}")


def _internal_error(err: Exception, as_json: bool) -> int:
    import os

    message = f"internal error ({type(err).__name__}): this is a bug in Osiris, please report it"
    if as_json:
        diagnostic = {"code": "INT900", "severity": "error", "message": message}
        print(json.dumps({"ok": False, "diagnostics": [diagnostic]}, indent=2))
    else:
        print(f"osiris: error[INT900]: {message}", file=sys.stderr)
    if os.environ.get("OSIRIS_DEBUG"):
        raise err
    return 1
