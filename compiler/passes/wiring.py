"""wiring — each step's upstream tables, from `inputs`, `needs` or the previous step.

`needs` carries data, as in osiris-pipeline 0.5.7: every step a step `needs` (and every
`inputs` entry) is an upstream table — except a writer, which has no table, so needing
one only orders the step, as does `needs` on a writer whose `inputs:` names its one
table. A step that takes tables and names neither reads the nearest
step before it in the file that has a table, with a warning showing the `needs:` line.
A query may read an upstream by its input name, its step id, or as `df_<id>` (see
`df_name`); `program.tables` records which name stands for which step, and the manifest
hands that map to the runtime, so compiler and runtime can never disagree on a name.

>>> from compiler.compile import validate_text
>>> src = '''oml_version: "0.1.0"
... name: demo
... steps:
...   - {id: extract-movies, component: filesystem.csv_extractor, mode: read,
...      config: {path: movies.csv}}
...   - {id: top, component: duckdb.processor, mode: transform,
...      config: {query: "SELECT * FROM df_extract_movies"}}
... '''
>>> [(d.code, d.severity, d.hint) for d in validate_text(src)]
[('OML212', 'warning', 'add the line: needs: [extract-movies]')]
"""

from __future__ import annotations

import hashlib
import re

from compiler.loader import pointer
from compiler.model import Step
from compiler.program import CompileContext, Program
from grammar import StepRef

_OUTSIDE_NAME = re.compile(r"[^0-9A-Za-z_]")


def df_name(step_id: str) -> str:
    """The `df_<id>` name of an upstream step: safe as an unquoted SQL name.

    >>> df_name("extract-movies"), df_name("2024.sales")
    ('df_extract_movies', 'df__2024_sales')
    """
    safe = _OUTSIDE_NAME.sub("_", step_id)
    if safe[:1].isdigit():
        safe = "_" + safe
    return f"df_{safe}"


def df_names(upstream: tuple[str, ...]) -> dict[str, str]:
    """Upstream step id → its `df_` name; ids that would share one each get a hash suffix.

    >>> df_names(("a-b", "a_b", "c"))
    {'a-b': 'df_a_b_d44362d6', 'a_b': 'df_a_b_648fa9b3', 'c': 'df_c'}
    """
    plain = {step_id: df_name(step_id) for step_id in upstream}
    taken = [name.lower() for name in plain.values()]
    return {
        step_id: name
        if taken.count(name.lower()) == 1
        else f"{name}_{hashlib.sha256(step_id.encode()).hexdigest()[:8]}"
        for step_id, name in plain.items()
    }


def wiring(program: Program, context: CompileContext) -> Program:
    """Fill `program.upstreams` and `program.tables`; check each step's number of tables."""
    pipeline = program.pipeline
    registry = context.registry
    if pipeline is None or registry is None:
        return program
    writers = {step.id for step in pipeline.steps if step.canonical_mode == "write"}
    previous: Step | None = None  # the nearest step before this one that has a table
    for step in pipeline.steps:
        before = previous
        if step.id not in writers:
            previous = step
        spec = registry.get(step.component)
        if spec is None or step.id in program.broken:
            continue
        path = program.step_path(step.id)
        if spec.inputs_max == 0:  # a reader: `needs` only orders it
            if step.inputs:
                program.report(
                    "OML308",
                    f"{spec.name} reads no upstream table, step '{step.id}' has "
                    f"{len(step.inputs)} in inputs",
                    f"{path}/inputs",
                    hint="remove inputs; keep the step in needs if it must run after another",
                    step=step.id,
                )
            continue
        named = _input_targets(program, step)
        # a writer has no table: naming one in needs only orders the step after it
        needed = [up for up in step.needs if up not in writers]
        if named and spec.inputs_max == 1:  # a writer's `inputs:` names its table: needs orders
            needed = []
        upstream = tuple(dict.fromkeys([*named.values(), *needed]))
        if not upstream and before is not None:
            upstream = (before.id,)
            program.dependencies[step.id] = (*program.dependencies.get(step.id, ()), before.id)
            program.report(
                "OML212",
                f"step '{step.id}' names no upstream: it reads the step before it, '{before.id}'",
                f"{path}/id",
                severity="warning",
                hint=f"add the line: needs: [{before.id}]",
            )
        if _check_count(program, step, spec.name, spec.inputs_min, spec.inputs_max, upstream):
            program.upstreams[step.id] = upstream
            program.tables[step.id] = _names(named, upstream)
    return program


def _input_targets(program: Program, step: Step) -> dict[str, str]:
    """Input name → the step its `${step.df}` names (references checked them already)."""
    path = program.step_path(step.id)
    found: dict[str, str] = {}
    for name in step.inputs:
        template = program.templates.get(pointer(f"{path}/inputs", name))
        refs = template.references if template is not None else ()
        if len(refs) == 1 and isinstance(refs[0], StepRef):
            found[name] = refs[0].step
    return found


def _names(named: dict[str, str], upstream: tuple[str, ...]) -> dict[str, str]:
    """Every name the step may read → upstream step id.

    On a clash (DuckDB folds case) an input name wins over a step id, which wins over a
    `df_` name.
    """
    candidates = [
        *named.items(),
        *((step_id, step_id) for step_id in upstream),
        *((name, step_id) for step_id, name in df_names(upstream).items()),
    ]
    tables: dict[str, tuple[str, str]] = {}
    for name, step_id in candidates:
        tables.setdefault(name.lower(), (name, step_id))
    return dict(sorted(tables.values()))


def _check_count(
    program: Program,
    step: Step,
    component: str,
    low: int,
    high: int | None,
    upstream: tuple[str, ...],
) -> bool:
    path = program.step_path(step.id)
    count = len(upstream)
    if count < low:
        program.report(
            "OML308",
            f"{component} needs an upstream table; step '{step.id}' has none",
            f"{path}/component",
            hint="name the step it writes: needs: [extract_orders]",
            step=step.id,
        )
        return False
    if high is not None and count > high:
        where = f"{path}/needs" if step.needs else f"{path}/inputs"
        program.report(
            "OML308",
            f"{component} takes {high} upstream table{'s' if high > 1 else ''}, step "
            f"'{step.id}' has {count}: {', '.join(upstream)}",
            where,
            hint="join or union them in a duckdb.processor step first, and write that",
            step=step.id,
        )
        return False
    return True
