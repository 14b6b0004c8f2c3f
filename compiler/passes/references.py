"""references — every expression through the grammar; params, steps and connections resolve.

>>> from compiler.compile import validate_text
>>> src = '''oml_version: "0.1.0"
... name: demo
... steps:
...   - id: load
...     component: duckdb.processor
...     mode: transform
...     config: {query: "SELECT 1"}
...     inputs: {src: "${lod.df}"}
... '''
>>> [(d.code, d.line, d.column, d.hint) for d in validate_text(src)]
[('OML201', 8, 20, "did you mean 'load'?")]
"""

from __future__ import annotations

from compiler.diagnostics import did_you_mean
from compiler.loader import Mapping, Node, Scalar, Sequence
from compiler.model import STEP_RESULTS
from compiler.program import CompileContext, Program
from grammar import (
    ExpressionError,
    ParamRef,
    ResultRef,
    StepRef,
    has_expression,
    parse_condition,
    parse_connection,
    parse_template,
)

Reference = ParamRef | StepRef | ResultRef


def references(program: Program, context: CompileContext) -> Program:
    """Parse every `${...}`, `@family.alias` and `when:`; check each name exists."""
    pipeline = program.pipeline
    if pipeline is None:
        return program
    for step in pipeline.steps:
        path = program.step_path(step.id)
        node = program.node(path)
        if not isinstance(node, Mapping):
            continue
        depends: dict[str, None] = {}
        config = node.get("config")
        if config is not None:
            for string in _strings(config):
                _check_template(program, step.id, string, depends, context)
        inputs = node.get("inputs")
        if isinstance(inputs, Mapping):
            for name, value in inputs.items():
                _check_input(program, step.id, name, value, depends)
        needs = node.get("needs")
        if isinstance(needs, Sequence):
            for item in needs.items:
                _check_need(program, step.id, item, depends)
        when = node.get("when")
        if isinstance(when, Scalar) and when.kind == "str":
            _check_when(program, step.id, when, depends)
        program.dependencies[step.id] = tuple(depends)
    return program


def _strings(node: Node) -> list[Scalar]:
    if isinstance(node, Scalar):
        return [node] if node.kind == "str" else []
    children = (
        [value for _, value in node.items()] if isinstance(node, Mapping) else node.items  # type: ignore[attr-defined]
    )
    found: list[Scalar] = []
    for child in children:
        found.extend(_strings(child))
    return found


def _check_template(
    program: Program,
    step_id: str,
    node: Scalar,
    depends: dict[str, None],
    context: CompileContext,
) -> None:
    text = str(node.value)
    if node.path.endswith("/connection") and node.path.count("/") == 4:
        _check_connection(program, step_id, node, context)
        return
    if not has_expression(text):
        return
    try:
        template = parse_template(text)
    except ExpressionError as err:
        _syntax_error(program, step_id, node, err)
        return
    program.templates[node.path] = template
    for ref in template.references:
        if isinstance(ref, ResultRef):
            program.report(
                "OML206",
                f"'${{steps.{ref.step}.{ref.result}}}' is a run-time result; "
                "it can only be used in a step's 'when' condition",
                node.path,
                offset=(ref.span.start, ref.span.end),
                hint="move the test into 'when:'; config is fixed at compile time",
                step=step_id,
            )
        else:
            _check_reference(program, step_id, node, ref, depends)


def _check_connection(
    program: Program, step_id: str, node: Scalar, context: CompileContext
) -> None:
    text = str(node.value)
    try:
        ref = parse_connection(text)
    except ExpressionError as err:
        program.report(
            "OML210",
            f"invalid connection reference {text!r}: {err.message}",
            node.path,
            offset=(err.offset, max(err.end_offset, err.offset + 1)),
            hint="write '@family.alias', e.g. '@mysql.primary', or '@mysql' for the default",
            step=step_id,
        )
        return
    program.connection_refs[node.path] = ref
    known = context.connections
    if known is None:
        return
    name = f"@{ref.family}.{ref.alias}" if ref.alias else f"@{ref.family}"
    if name not in known:
        suggestions = did_you_mean(name, known)
        program.report(
            "OML209",
            f"no connection {name} in osiris_connections.yaml",
            node.path,
            suggestions=suggestions,
            hint=None
            if suggestions
            else (
                "known connections: " + ", ".join(sorted(known))
                if known
                else "add it to osiris_connections.yaml"
            ),
            step=step_id,
        )


def _check_reference(
    program: Program,
    step_id: str,
    node: Scalar,
    ref: ParamRef | StepRef,
    depends: dict[str, None],
) -> None:
    assert program.pipeline is not None
    offset = (ref.span.start, ref.span.end)
    if isinstance(ref, ParamRef):
        declared = program.pipeline.params
        if ref.name not in declared:
            suggestions = did_you_mean(ref.name, declared)
            program.report(
                "OML202",
                f"param '{ref.name}' is not declared",
                node.path,
                offset=offset,
                suggestions=suggestions,
                hint=None
                if suggestions
                else f"declare it under params: {{{ref.name}: {{type: string}}}}",
                step=step_id,
            )
        return
    _check_step_name(program, step_id, node, ref.step, offset, depends)


def _check_step_name(
    program: Program,
    step_id: str,
    node: Node,
    target: str,
    offset: tuple[int, int] | None,
    depends: dict[str, None],
    code: str = "OML201",
) -> None:
    if target == step_id:
        program.report(
            "OML205",
            f"step '{step_id}' refers to itself",
            node.path,
            offset=offset,
            hint="a step can only read the output of steps before it",
            step=step_id,
        )
        return
    if target not in program.step_paths:
        what = "needs" if code == "OML203" else "refers to"
        program.report(
            code,
            f"step '{step_id}' {what} unknown step '{target}'",
            node.path,
            offset=offset,
            suggestions=program.suggest_step(target),
            hint=None
            if program.suggest_step(target)
            else "known steps: " + ", ".join(program.step_ids()),
            step=step_id,
        )
        return
    depends[target] = None


def _check_input(
    program: Program, step_id: str, name: str, node: Node, depends: dict[str, None]
) -> None:
    hint = "an input is one upstream table: '${extract_orders.df}'"
    if not isinstance(node, Scalar) or node.kind != "str":
        program.report(
            "OML208",
            f"input '{name}' must be a step reference string",
            node.path,
            hint=hint,
            step=step_id,
        )
        return
    text = str(node.value)
    try:
        template = parse_template(text)
    except ExpressionError as err:
        _syntax_error(program, step_id, node, err)
        return
    refs = template.references
    if not template.is_single_reference or not isinstance(refs[0], StepRef):
        program.report(
            "OML208",
            f"input '{name}' must be a single step reference, found {text!r}",
            node.path,
            hint=hint,
            step=step_id,
        )
        return
    program.templates[node.path] = template
    ref = refs[0]
    _check_step_name(program, step_id, node, ref.step, (ref.span.start, ref.span.end), depends)


def _check_need(program: Program, step_id: str, node: Node, depends: dict[str, None]) -> None:
    if not isinstance(node, Scalar) or node.kind != "str":
        program.report("OML104", "needs lists step ids (strings)", node.path, step=step_id)
        return
    _check_step_name(program, step_id, node, str(node.value), None, depends, code="OML203")


def _check_when(program: Program, step_id: str, node: Scalar, depends: dict[str, None]) -> None:
    assert program.pipeline is not None
    try:
        condition = parse_condition(str(node.value))
    except ExpressionError as err:
        _syntax_error(program, step_id, node, err)
        return
    program.conditions[node.path] = condition
    for ref in condition.references:
        offset = (ref.span.start, ref.span.end)
        if isinstance(ref, ResultRef):
            _check_step_name(program, step_id, node, ref.step, offset, depends)
            if ref.result not in STEP_RESULTS:
                program.report(
                    "OML207",
                    f"'{ref.result}' is not a step result",
                    node.path,
                    offset=offset,
                    suggestions=did_you_mean(ref.result, STEP_RESULTS),
                    hint=None
                    if did_you_mean(ref.result, STEP_RESULTS)
                    else "results: " + ", ".join(STEP_RESULTS),
                    step=step_id,
                )
        elif isinstance(ref, StepRef):
            program.report(
                "OML211",
                f"'${{{ref.step}.df}}' is a table; a condition can test "
                f"'${{steps.{ref.step}.rows_written}}' instead",
                node.path,
                offset=offset,
                step=step_id,
            )
        else:
            _check_reference(program, step_id, node, ref, depends)


def _syntax_error(program: Program, step_id: str, node: Scalar, err: ExpressionError) -> None:
    expected = ""
    hint: str | None = None
    if err.expected:
        expected = "expected " + " or ".join(err.expected[:6])
        hint = expected
    program.report(
        "OML200",
        err.message,
        node.path,
        offset=(err.offset, max(err.end_offset, err.offset + 1)),
        hint=hint,
        step=step_id,
    )
