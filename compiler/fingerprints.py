"""Fingerprints of what a build depends on: the program's meaning and the compiler itself.

`oml_fp` hashes the *semantic* program: step order in the file, key order, comments,
whitespace and SQL formatting do not change it; a changed predicate does. Params are
hashed on their own (`params_fp`), so the program's fingerprint sees `${params.x}`
placeholders, not their values.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from compiler import canonical
from compiler.program import CompileContext, Program
from grammar import GRAMMAR_PATH

_PLACEHOLDER = re.compile(r"\$\{\s*([^}]*?)\s*\}")


@cache
def compiler_fingerprint() -> str:
    from compiler.passes import PASSES
    from osiris_mcp import __version__

    return canonical.fingerprint(
        {
            "osiris": __version__,
            "grammar": canonical.sha256(GRAMMAR_PATH.read_bytes()),
            "passes": [p.__name__ for p in PASSES],
        }
    )


def canonical_sql(text: str, dialect: str) -> str:
    """SQL as sqlglot regenerates it: no comments, one spacing, one keyword case.

    `${...}` references are swapped for stable placeholder identifiers first, so a
    template canonicalizes without its values.
    """
    import sqlglot
    from sqlglot.errors import SqlglotError

    marked = _PLACEHOLDER.sub(lambda m: "__osiris_" + re.sub(r"\W", "_", m.group(1)) + "__", text)
    try:
        statements = sqlglot.parse(marked, read=dialect)
        return ";\n".join(
            s.sql(dialect=dialect, comments=False) for s in statements if s is not None
        )
    except SqlglotError:
        return " ".join(marked.split())


def oml_fingerprint(program: Program, context: CompileContext) -> str:
    pipeline = program.pipeline
    assert pipeline is not None
    steps: list[dict[str, Any]] = []
    for step in sorted(pipeline.steps, key=lambda s: s.id):
        config = dict(step.config)
        spec = context.registry.get(step.component) if context.registry else None
        for sql_field in spec.sql_fields if spec else ():
            value = config.get(sql_field.field)
            if isinstance(value, str):
                config[sql_field.field] = canonical_sql(value, sql_field.dialect)
        steps.append(
            {
                "id": step.id,
                "component": step.component,
                "mode": step.canonical_mode,
                "config": config,
                "needs": sorted(step.needs),
                "inputs": {k: " ".join(v.split()) for k, v in step.inputs.items()},
                "when": " ".join(step.when.split()) if step.when else None,
                "retry": step.retry.model_dump() if step.retry else None,
                "timeout_s": step.timeout_s,
            }
        )
    return canonical.fingerprint(
        {
            "oml_version": pipeline.oml_version,
            "name": pipeline.name,
            "params": {
                k: v.model_dump(exclude={"description"}) for k, v in pipeline.params.items()
            },
            "profiles": {k: v.params for k, v in pipeline.profiles.items()},
            "steps": steps,
        }
    )
