"""params — bind every declared param to one typed value and substitute it into configs.

Precedence, highest first: the caller's params (CLI `--param`, MCP `params`), the
environment (`OSIRIS_PARAM_<NAME>`), the selected profile, the declared default. A
value keeps its type: `limit: ${params.n}` with an integer param stays an integer.

>>> from compiler.compile import validate_text
>>> src = '''oml_version: "0.1.0"
... name: demo
... params: {n: {type: integer, default: 10, max: 100}}
... steps:
...   - {id: a, component: filesystem.csv_extractor, mode: read, config: {path: "d${params.n}.csv"}}
... '''
>>> [(d.code, d.message) for d in validate_text(src, params={"n": "500"})]
[('PAR604', "param 'n' = '500' (from --param) is above the maximum 100")]
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from typing import Any

from compiler.diagnostics import did_you_mean
from compiler.loader import pointer
from compiler.model import ParamSpec
from compiler.program import CompileContext, Program, param_text
from grammar import ParamRef

ENV_PREFIX = "OSIRIS_PARAM_"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


class _BadValue(ValueError):
    pass


def params(program: Program, context: CompileContext) -> Program:
    """Bind params, then render each step's config with them."""
    pipeline = program.pipeline
    if pipeline is None:
        return program
    declared = pipeline.params
    for name, spec in declared.items():
        _check_declaration(program, name, spec)
    profile_values = _profile_values(program, context)
    for name in context.params:
        if name not in declared:
            suggestions = did_you_mean(name, declared)
            program.report(
                "PAR605",
                f"--param {name} is not declared by this pipeline",
                "/params",
                suggestions=suggestions,
                hint=None
                if suggestions
                else (
                    "declared params: " + ", ".join(declared)
                    if declared
                    else "the pipeline declares no params"
                ),
            )
    used = _used_params(program)
    for name, spec in declared.items():
        for source, raw, from_text in _candidates(name, context, profile_values, spec):
            try:
                value = _coerce(spec, raw, from_text)
                _check_bounds(spec, value)
            except _BadValue as bad:
                code = getattr(bad, "code", "PAR602")
                program.report(
                    code,
                    f"param '{name}' = {_show(raw)} (from {source}) {bad}",
                    _param_path(program, name, source),
                )
                break
            program.params[name] = value
            program.param_sources[name] = source
            break
        else:
            if name in used:
                program.report(
                    "PAR601",
                    f"param '{name}' has no value",
                    f"/params/{name}",
                    hint=f"give it a default, or pass --param {name}=... "
                    f"(or set {ENV_PREFIX}{name.upper()})",
                    at_key=True,
                )
    _render_configs(program)
    return program


def _check_declaration(program: Program, name: str, spec: ParamSpec) -> None:
    path = f"/params/{name}"
    if spec.default is not None:
        try:
            _check_bounds(spec, _coerce(spec, spec.default, from_text=False))
        except _BadValue as bad:
            program.report("PAR607", f"default of param '{name}' {bad}", f"{path}/default")
    if spec.min is not None and spec.max is not None and spec.min > spec.max:
        program.report(
            "PAR607",
            f"param '{name}' has min {_show(spec.min)} above max {_show(spec.max)}",
            f"{path}/min",
        )
    for index, option in enumerate(spec.enum or ()):
        try:
            _coerce(spec, option, from_text=False)
        except _BadValue as bad:
            program.report("PAR607", f"enum value of param '{name}' {bad}", f"{path}/enum/{index}")


def _profile_values(program: Program, context: CompileContext) -> dict[str, Any]:
    assert program.pipeline is not None
    profiles = program.pipeline.profiles
    if context.profile is None:
        return {}
    profile = profiles.get(context.profile)
    if profile is None:
        suggestions = did_you_mean(context.profile, profiles)
        program.report(
            "PAR606",
            f"unknown profile '{context.profile}'",
            "/profiles",
            suggestions=suggestions,
            hint=None
            if suggestions
            else (
                "profiles: " + ", ".join(profiles)
                if profiles
                else "this pipeline defines no profiles"
            ),
        )
        return {}
    for name in profile.params:
        if name not in program.pipeline.params:
            program.report(
                "PAR605",
                f"profile '{context.profile}' sets undeclared param '{name}'",
                f"/profiles/{context.profile}/params/{name}",
                suggestions=did_you_mean(name, program.pipeline.params),
                at_key=True,
            )
    return dict(profile.params)


def _candidates(
    name: str, context: CompileContext, profile: dict[str, Any], spec: ParamSpec
) -> list[tuple[str, Any, bool]]:
    """(source, raw value, is it text to convert) in precedence order."""
    found: list[tuple[str, Any, bool]] = []
    if name in context.params:
        raw = context.params[name]
        found.append(("--param", raw, isinstance(raw, str)))
    env_name = ENV_PREFIX + name.upper()
    if env_name in context.env:
        found.append((f"${env_name}", context.env[env_name], True))
    if name in profile:
        found.append((f"profile '{context.profile}'", profile[name], False))
    if spec.default is not None:
        found.append(("default", spec.default, False))
    return found


def _coerce(spec: ParamSpec, raw: Any, from_text: bool) -> Any:
    kind = spec.type
    if from_text:
        text = str(raw).strip()
        try:
            if kind == "integer":
                return int(text)
            if kind == "number":
                number = float(text)
                return int(number) if re.fullmatch(r"[+-]?\d+", text) else number
        except ValueError:
            raise _BadValue(f"is not {'an integer' if kind == 'integer' else 'a number'}") from None
        if kind == "boolean":
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise _BadValue("is not a boolean (true/false)")
        raw = text if kind in ("date",) else str(raw)
    if kind == "integer" and not (isinstance(raw, int) and not isinstance(raw, bool)):
        raise _BadValue("is not an integer")
    if kind == "number" and (isinstance(raw, bool) or not isinstance(raw, int | float)):
        raise _BadValue("is not a number")
    if kind == "boolean" and not isinstance(raw, bool):
        raise _BadValue("is not a boolean (true/false)")
    if kind == "string" and not isinstance(raw, str):
        raise _BadValue("is not a string")
    if kind == "date":
        if isinstance(raw, dt.date):
            return raw.isoformat()
        if not isinstance(raw, str) or not _DATE.match(raw):
            raise _BadValue("is not a date (YYYY-MM-DD)")
        try:
            dt.date.fromisoformat(raw)
        except ValueError:
            raise _BadValue("is not a valid calendar date") from None
    return raw


def _check_bounds(spec: ParamSpec, value: Any) -> None:
    if spec.enum is not None and value not in spec.enum:
        bad = _BadValue("is not one of: " + ", ".join(_show(v) for v in spec.enum))
        bad.code = "PAR603"  # type: ignore[attr-defined]
        raise bad
    if isinstance(value, int | float) and not isinstance(value, bool):
        if spec.min is not None and value < spec.min:
            bad = _BadValue(f"is below the minimum {_show(spec.min)}")
            bad.code = "PAR604"  # type: ignore[attr-defined]
            raise bad
        if spec.max is not None and value > spec.max:
            bad = _BadValue(f"is above the maximum {_show(spec.max)}")
            bad.code = "PAR604"  # type: ignore[attr-defined]
            raise bad


def _show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _param_path(program: Program, name: str, source: str) -> str:
    if source.startswith("profile '"):
        return f"/profiles/{source[9:-1]}/params/{name}"
    if source == "default":
        return f"/params/{name}/default"
    return f"/params/{name}"


def _used_params(program: Program) -> set[str]:
    used: set[str] = set()
    for template in program.templates.values():
        used.update(r.name for r in template.references if isinstance(r, ParamRef))
    for condition in program.conditions.values():
        used.update(r.name for r in condition.references if isinstance(r, ParamRef))
    return used


def _render_configs(program: Program) -> None:
    assert program.pipeline is not None
    for step in program.pipeline.steps:
        config = copy.deepcopy(step.config)
        prefix = pointer(program.step_path(step.id), "config")
        for path, template in program.step_templates(step.id):
            if not path.startswith(prefix + "/"):
                continue
            refs = template.references
            if not refs or not all(isinstance(r, ParamRef) for r in refs):
                continue  # step references stay as written
            if any(r.name not in program.params for r in refs if isinstance(r, ParamRef)):
                # the param's own error (PAR6xx) is the diagnostic; checking this step's
                # config with `${params.x}` still in it would only add false ones
                program.broken.add(step.id)
                continue
            if template.is_single_reference:
                value: Any = program.params[refs[0].name]  # type: ignore[union-attr]
            else:
                value = template.render(lambda r: param_text(program.params[r.name]))  # type: ignore[union-attr]
            _set(config, path[len(prefix) + 1 :].split("/"), value)
        program.configs[step.id] = config


def _set(data: Any, parts: list[str], value: Any) -> None:
    for raw in parts[:-1]:
        part = raw.replace("~1", "/").replace("~0", "~")
        data = data[int(part)] if isinstance(data, list) else data[part]
    last = parts[-1].replace("~1", "/").replace("~0", "~")
    if isinstance(data, list):
        data[int(last)] = value
    else:
        data[last] = value
