"""Fingerprints of what a build depends on: the program's meaning and the compiler itself.

`oml_fp` hashes the *semantic* program: step order in the file, key order, comments,
whitespace and SQL formatting do not change it; a changed predicate does. SQL enters as
the sql pass's canonical text from before any optimize rewrite, with `${params.x}` in
place of param values: params are hashed on their own (`params_fp`).
"""

from __future__ import annotations

from typing import Any

from compiler import canonical
from compiler.program import CompileContext, Program


def oml_fingerprint(program: Program, context: CompileContext) -> str:
    pipeline = program.pipeline
    assert pipeline is not None
    steps: list[dict[str, Any]] = []
    for step in sorted(pipeline.steps, key=lambda s: s.id):
        config = dict(step.config)
        spec = context.registry.get(step.component) if context.registry else None
        units = program.sql.get(step.id, {})
        for sql_field in spec.sql_fields if spec else ():
            unit = units.get(sql_field.field)
            if isinstance(config.get(sql_field.field), str) and unit is not None and unit.written:
                config[sql_field.field] = unit.written
        steps.append(
            {
                "id": step.id,
                "component": step.component,
                "mode": step.canonical_mode,
                "config": config,
                "needs": sorted(step.needs),
                "inputs": {k: " ".join(v.split()) for k, v in step.inputs.items()},
                # the implicit previous-step upstream depends on file order: hash what it is
                "upstreams": list(program.upstreams.get(step.id, ())),
                "when": " ".join(step.when.split()) if step.when else None,
                "retry": step.retry.manifest_form() if step.retry else None,
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
            # only when set, so that pipelines without it keep their fingerprints
            **(
                {"trusted_functions": sorted(set(pipeline.trusted_functions))}
                if pipeline.trusted_functions
                else {}
            ),
        }
    )
