"""Entry points: check OML text (every pass) and compile it (checks, then emit).

The compiler is a pure function of its inputs: it reads no files, opens no
connections and reads no clock. Callers (CLI, MCP server, runtime) do the I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from compiler.diagnostics import Diagnostic, sort_key
from compiler.loader import load
from compiler.passes import ENGINE_PASSES, PASSES
from compiler.passes.secrets import scrub
from compiler.program import CompileContext, Program
from compiler.program import default_context as default_context  # its old home, re-exported


def check(
    source: str | bytes, context: CompileContext | None = None, filename: str = "<oml>"
) -> Program:
    """Run every checking pass over `source`; the program carries the diagnostics."""
    context = context or default_context()
    text = source if isinstance(source, str) else source.decode("utf-8", "replace")
    program = Program(filename=filename, source=text)
    program.document, program.diagnostics = load(source)
    if program.document is not None:
        for run_pass in PASSES:
            program = run_pass(program, context)
        for engine in context.engines:
            for run_pass in ENGINE_PASSES.get(engine, ()):
                program = run_pass(program, context)
    if program.secret_values:
        program.diagnostics = [_scrubbed(d, program.secret_values) for d in program.diagnostics]
        # the source is shown under diagnostics (the line and a caret): mask it there too
        program.source = scrub(program.source, program.secret_values)
    program.diagnostics.sort(key=sort_key)
    return program


def _scrubbed(diagnostic: Diagnostic, values: set[str]) -> Diagnostic:
    return replace(
        diagnostic,
        message=scrub(diagnostic.message, values),
        hint=scrub(diagnostic.hint, values) if diagnostic.hint else None,
        suggestions=tuple(scrub(s, values) for s in diagnostic.suggestions),
    )


def validate_text(
    source: str | bytes,
    *,
    params: Mapping[str, Any] | None = None,
    profile: str | None = None,
) -> list[Diagnostic]:
    """The diagnostics for an OML text (a convenience for tests and doctests)."""
    context = default_context(params=dict(params or {}), profile=profile)
    return check(source, context).diagnostics
