"""structure — the document's shape: required, forbidden and unknown keys, types, step ids.

>>> from compiler.compile import validate_text
>>> [d.code for d in validate_text('oml_version: "0.1.0"\\nname: demo\\nsteps: []\\n')]
['OML107']
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from compiler.diagnostics import TYPE_WORDS, did_you_mean
from compiler.loader import Mapping, Node, Scalar, Sequence, pointer
from compiler.model import (
    FORBIDDEN_TOP_LEVEL,
    OML_VERSION,
    ParamSpec,
    Pipeline,
    Profile,
    Retry,
    Step,
    pipeline_slug,
)
from compiler.program import CompileContext, Program

STEP_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$")
PIPELINE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")

_FIELDS: dict[str, tuple[str, ...]] = {
    "": tuple(Pipeline.model_fields),
    "step": tuple(Step.model_fields),
    "retry": tuple(Retry.model_fields),
    "param": tuple(ParamSpec.model_fields),
    "profile": tuple(Profile.model_fields),
}
_BOUNDS = {
    "greater_than": ("greater than", "gt"),
    "greater_than_equal": ("at least", "ge"),
    "less_than": ("less than", "lt"),
    "less_than_equal": ("at most", "le"),
}
_PARAM_TYPES = ("string", "integer", "number", "boolean", "date")
#: pydantic's error type for a value of the wrong type -> the JSON Schema type wanted
_WANTED_TYPES = {
    "string_type": "string",
    "int_type": "integer",
    "float_type": "number",
    "bool_type": "boolean",
    "dict_type": "object",
    "list_type": "array",
    "model_type": "object",
    "model_attributes_type": "object",
}


def structure(program: Program, context: CompileContext) -> Program:
    """Validate the document against the OML model and build `program.pipeline`."""
    document = program.document
    if document is None:
        return program
    try:
        program.pipeline = Pipeline.model_validate(document.to_python())
    except ValidationError as err:
        for error in err.errors():
            _report_validation_error(program, error)
        program.pipeline = _salvage(program)
    _index_steps(program)
    if program.pipeline is not None:
        _check_names(program)
    known = {s.id for s in program.pipeline.steps} if program.pipeline else set()
    program.broken.update(set(program.step_paths) - known)
    return program


def _kind_of(loc: tuple[int | str, ...]) -> str:
    """Which model a location is inside, to offer the right key names."""
    if len(loc) >= 3 and loc[0] == "steps" and loc[2] == "retry":
        return "retry"
    if len(loc) >= 2 and loc[0] == "steps":
        return "step"
    if len(loc) >= 2 and loc[0] == "params":
        return "param"
    if len(loc) >= 2 and loc[0] == "profiles":
        return "profile"
    return ""


def _report_validation_error(program: Program, error: Any) -> None:
    loc: tuple[int | str, ...] = tuple(error["loc"])
    path = "".join(pointer("", part) for part in loc)
    kind = error["type"]
    node = program.node(path)
    field_name = str(loc[-1]) if loc else ""
    step = _step_of(program, loc)

    if kind == "missing":
        where = _where(loc[:-1])
        hint = {
            "oml_version": 'add: oml_version: "0.1.0"',
            "steps": "add a list of steps, each with id, component, mode and config",
            "mode": "add mode: read, write or transform",
            "config": "add config: {} with the component's settings",
            "component": "add component: e.g. mysql.extractor (see `osiris components list`)",
            "id": "add id: a unique name for the step",
            "name": "add name: a short name for the pipeline (letters, digits, '-', '_')",
        }.get(field_name)
        program.report(
            "OML101", f"missing required key '{field_name}'{where}", path, hint=hint, step=step
        )
    elif kind == "extra_forbidden":
        if len(loc) == 1 and field_name in FORBIDDEN_TOP_LEVEL:
            program.report(
                "OML102",
                f"'{field_name}' is not part of OML v{OML_VERSION}",
                path,
                hint=FORBIDDEN_TOP_LEVEL[field_name],
                at_key=True,
            )
            return
        allowed = _FIELDS[_kind_of(loc)]
        suggestions = did_you_mean(field_name, allowed)
        hint = None if suggestions else "allowed keys: " + ", ".join(allowed)
        program.report(
            "OML103",
            f"unknown key '{field_name}'{_where(loc[:-1])}",
            path,
            suggestions=suggestions,
            hint=hint,
            at_key=True,
            step=step,
        )
    elif kind == "literal_error" and loc == ("oml_version",):
        program.report(
            "OML106",
            f'oml_version must be "{OML_VERSION}", found {_show(node)}',
            path,
            hint=f'write: oml_version: "{OML_VERSION}" (quoted)',
        )
    elif kind == "literal_error" and field_name == "mode":
        value = node.value if isinstance(node, Scalar) else None
        suggestions = did_you_mean(str(value), ("read", "write", "transform", "extract"))
        program.report(
            "OML110",
            f"mode must be read, write or transform, found {_show(node)}",
            path,
            suggestions=suggestions,
            hint=None
            if suggestions
            else "read (extractors), write (writers), transform (processors)",
            step=step,
        )
    elif kind == "literal_error" and len(loc) == 3 and loc[0] == "params" and loc[2] == "type":
        program.report(
            "PAR607",
            f"param '{loc[1]}' has unknown type {_show(node)}",
            path,
            suggestions=did_you_mean(str(getattr(node, "value", "")), _PARAM_TYPES),
            hint=None
            if did_you_mean(str(getattr(node, "value", "")), _PARAM_TYPES)
            else "types: " + ", ".join(_PARAM_TYPES),
        )
    elif kind == "literal_error":
        program.report("OML104", f"invalid value {_show(node)}: {error['msg']}", path, step=step)
    elif kind == "too_short" and loc == ("steps",):
        program.report(
            "OML107",
            "steps is empty: a pipeline needs at least one step",
            path,
            hint="add a step with id, component, mode and config",
        )
    elif kind in _WANTED_TYPES:
        _report_type(program, path, node, TYPE_WORDS[_WANTED_TYPES[kind]], step)
    elif kind in _BOUNDS:
        word, key = _BOUNDS[kind]
        limit = error.get("ctx", {}).get(key)
        program.report(
            "OML112", f"{field_name} must be {word} {limit}, found {_show(node)}", path, step=step
        )
    else:
        program.report("OML104", f"{field_name or 'value'}: {error['msg']}", path, step=step)


def _report_type(
    program: Program, path: str, node: Node | None, want: str, step: str | None
) -> None:
    if (
        isinstance(node, Scalar)
        and node.style is None
        and want == "a string"
        and node.kind != "str"
    ):
        program.report(
            "OML105",
            f"YAML reads the unquoted value {node.text} as {_kind_word(node)}, "
            "but a string is expected",
            path,
            hint=f'quote it: "{node.text}"',
            step=step,
        )
        return
    program.report(
        "OML104",
        f"{_last(path)} must be {want}, found {_describe(node)}",
        path,
        step=step,
    )


def _kind_word(node: Scalar) -> str:
    return {"bool": "a boolean", "int": "a number", "float": "a number", "null": "null"}.get(
        node.kind, node.kind
    )


def _describe(node: Node | None) -> str:
    if isinstance(node, Mapping):
        return "a mapping"
    if isinstance(node, Sequence):
        return "a list"
    if isinstance(node, Scalar):
        return {"str": "a string", "null": "null"}.get(node.kind, f"{_kind_word(node)}") + (
            f" ({node.text})" if node.kind not in ("str", "null") else ""
        )
    return "nothing"


def _show(node: Node | None) -> str:
    if isinstance(node, Scalar):
        return repr(node.value) if node.kind == "str" else node.text or "null"
    return _describe(node)


def _last(path: str) -> str:
    return path.rpartition("/")[2] or "document"


def _where(loc: tuple[int | str, ...]) -> str:
    if not loc:
        return ""
    if loc[0] == "steps" and len(loc) >= 2:
        rest = ".".join(str(p) for p in loc[2:])
        return f" in step {int(loc[1]) + 1}" + (f" ({rest})" if rest else "")
    return " in " + ".".join(str(p) for p in loc)


def _step_of(program: Program, loc: tuple[int | str, ...]) -> str | None:
    """The id of the step a location is inside (used to mark that step broken)."""
    if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
        node = program.node(f"/steps/{loc[1]}/id")
        if isinstance(node, Scalar):
            return str(node.value)
        return f"#{loc[1]}"
    return None


def _salvage(program: Program) -> Pipeline | None:
    """Build what can be built from a document with errors, so later passes still
    check the well-formed steps (one bad step should not hide problems in the others)."""
    data = program.document.to_python() if program.document else {}
    if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
        return None
    steps: list[Step] = []
    for raw in data["steps"]:
        try:
            steps.append(Step.model_validate(raw))
        except ValidationError:
            continue
    params: dict[str, ParamSpec] = {}
    for name, raw in (
        (data.get("params") or {}).items() if isinstance(data.get("params"), dict) else ()
    ):
        try:
            params[name] = ParamSpec.model_validate(raw)
        except ValidationError:
            continue
    profiles: dict[str, Profile] = {}
    raw_profiles = data.get("profiles")
    if isinstance(raw_profiles, dict):
        for name, raw in raw_profiles.items():
            try:
                profiles[name] = Profile.model_validate(raw)
            except ValidationError:
                continue
    if not steps:
        return None
    return Pipeline.model_construct(
        oml_version=OML_VERSION,
        name=str(data.get("name") or "pipeline"),
        steps=steps,
        description=None,
        metadata={},
        params=params,
        profiles=profiles,
    )


def _index_steps(program: Program) -> None:
    steps = program.node("/steps")
    if not isinstance(steps, Sequence):
        return
    for index, item in enumerate(steps.items):
        node = item.get("id") if isinstance(item, Mapping) else None
        if isinstance(node, Scalar) and node.kind == "str":
            program.step_paths.setdefault(str(node.value), f"/steps/{index}")


def _check_names(program: Program) -> None:
    pipeline = program.pipeline
    assert pipeline is not None
    name = pipeline.name
    if program.node("/name") is None or PIPELINE_NAME.match(name):
        pass
    elif not name.strip() or len(name) > 200 or any(not c.isprintable() for c in name):
        program.report(
            "OML108",
            f"pipeline name {name!r} is not a valid name",
            "/name",
            hint="write a one-line label of at most 200 characters, e.g. 'Orders daily'",
        )
    else:  # a free label, as in 0.5.7: only its folders need a plain name
        program.report(
            "OML108",
            f"pipeline name {name!r} is a label, not a folder name: its build and log "
            f"folders are named '{pipeline_slug(name)}'",
            "/name",
            severity="warning",
            hint="letters, digits, '_', '-' and '.' (starting with a letter or digit) name "
            "the folders as written",
        )
    steps = program.node("/steps")
    if not isinstance(steps, Sequence):
        return
    seen: dict[str, int] = {}
    for index, item in enumerate(steps.items):
        node = item.get("id") if isinstance(item, Mapping) else None
        if not isinstance(node, Scalar) or node.kind != "str":
            continue
        step_id = str(node.value)
        if not STEP_ID.match(step_id):
            program.report(
                "OML108",
                f"step id {step_id!r} is not a valid identifier",
                f"/steps/{index}/id",
                hint="letters, digits, '_' and '-' (at most 64), not starting with '-'",
                step=step_id,
            )
        if step_id in seen:
            program.report(
                "OML109",
                f"duplicate step id '{step_id}' (first used by step {seen[step_id] + 1})",
                f"/steps/{index}/id",
                hint="every step needs its own id",
                step=step_id,
            )
        else:
            seen[step_id] = index
