"""components — each step against its component spec: name, mode and config.

The config is checked after params are bound (a `limit: ${params.n}` is an integer by
then), against the spec's JSON Schema, with errors at the config key's own position.

>>> from compiler.compile import validate_text
>>> src = '''oml_version: "0.1.0"
... name: demo
... steps:
...   - {id: a, component: mysql.extractr, mode: read, config: {query: "SELECT 1"}}
... '''
>>> [(d.code, d.hint) for d in validate_text(src)]
[('OML300', "did you mean 'mysql.extractor'?")]
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from compiler.diagnostics import TYPE_WORDS, did_you_mean
from compiler.loader import Scalar, pointer
from compiler.model import Step
from compiler.program import CompileContext, Program

if TYPE_CHECKING:
    from components.registry import ComponentSpec, Migration


def components(program: Program, context: CompileContext) -> Program:
    """Look each step's component up and check its mode and config."""
    pipeline = program.pipeline
    registry = context.registry
    if pipeline is None or registry is None:
        return program
    for step in pipeline.steps:
        if step.id in program.broken:
            continue
        path = program.step_path(step.id)
        spec = registry.get(step.component)
        if spec is None:
            suggestions = did_you_mean(step.component, registry.names())
            program.report(
                "OML300",
                f"unknown component '{step.component}'",
                f"{path}/component",
                suggestions=suggestions,
                hint=None if suggestions else "components: " + ", ".join(registry.names()),
                step=step.id,
            )
            continue
        mode = step.canonical_mode
        modes = {"read" if m == "extract" else m for m in spec.modes}
        if mode not in modes:
            program.report(
                "OML301",
                f"{spec.name} cannot run in mode '{step.mode}'",
                f"{path}/mode",
                hint="use mode: " + " or ".join(sorted(modes)),
                step=step.id,
            )
        config = program.configs.get(step.id, dict(step.config))
        config = _apply_aliases(program, step, spec, config, path)
        _check_connection_fields(program, step, spec, config, path)
        before = len(program.diagnostics)
        _check_schema(program, step, spec, config, path)
        if len(program.diagnostics) == before:
            _check_constraints(program, step, spec, config, path)
        program.configs[step.id] = _with_defaults(spec, config)
    return program


def _apply_aliases(
    program: Program, step: Step, spec: ComponentSpec, config: dict[str, Any], path: str
) -> dict[str, Any]:
    """Rename keys of older pipelines (e.g. `mode` → `write_mode`), drop ignored ones and
    migrate or refuse the 0.5.7 keys the spec lists in `x-migrations`."""
    if not spec.aliases and not spec.ignored and not spec.migrations:
        return config
    renamed: dict[str, Any] = {}
    migrated: dict[str, Any] = {}
    # What the step says, under canonical names; a default value says nothing, so a
    # migration may replace it (`mode: append` + `truncate_before: true` is a replace).
    defaults = spec.defaults
    canonical = {
        name: v
        for name, v in ((spec.aliases.get(k, k), v) for k, v in config.items())
        if name not in defaults or defaults[name] != v
    }
    for key, value in config.items():
        key_path = pointer(f"{path}/config", key)
        rule = next((m for m in spec.migrations if m.key == key and m.matches(value)), None)
        if rule is not None:
            _migrate(program, step, rule, value, canonical, migrated, key_path)
        elif key in spec.aliases:
            new = spec.aliases[key]
            if new in config:
                program.report(
                    "OML303",
                    f"'{key}' is the older name of '{new}'; give only '{new}'",
                    key_path,
                    at_key=True,
                    step=step.id,
                )
                continue
            program.report(
                "OML309",
                f"'{key}' is the older name of '{new}'",
                key_path,
                severity="warning",
                hint=f"rename it to '{new}'",
                at_key=True,
            )
            renamed[new] = value
        elif key in spec.ignored:
            program.report(
                "OML310",
                f"'{key}' has no effect in Osiris and is ignored",
                key_path,
                severity="warning",
                hint="remove it",
                at_key=True,
            )
        else:
            renamed[key] = value
    return {**renamed, **migrated}


def _migrate(
    program: Program,
    step: Step,
    rule: Migration,
    value: Any,
    config: dict[str, Any],
    migrated: dict[str, Any],
    key_path: str,
) -> None:
    """One 0.5.7 key by its rule: refused (no `set`), dropped (`set: {}`) or rewritten.

    Messages name the key and the rule's hint, never the value: it may be a secret.
    """
    key = rule.key
    if rule.set is None:
        program.report(
            "OML311",
            f"'{key}' (osiris-pipeline 0.5.7) is not supported by Osiris",
            key_path,
            hint=rule.hint,
            at_key=True,
            step=step.id,
        )
        return
    if not rule.set:
        program.report(
            "OML310",
            f"'{key}' has no effect in Osiris and is ignored",
            key_path,
            severity="warning",
            hint=rule.hint,
            at_key=True,
        )
        return
    clashes = sorted(k for k, v in rule.set.items() if k in config and config[k] != v)
    if clashes:
        program.report(
            "OML311",
            f"'{key}' contradicts '{clashes[0]}' set in the same step",
            key_path,
            hint=rule.hint,
            at_key=True,
            step=step.id,
        )
        return
    # a value is shown only when it is one the spec names (the rule matched it): never a
    # free value from the step, which may be a secret
    said = f"'{key}'" if rule.values is None else f"'{key}: {_shown(value)}'"
    program.report(
        "OML309",
        f"{said} is the older form of "
        + ", ".join(f"'{k}: {_shown(v)}'" for k, v in rule.set.items()),
        key_path,
        severity="warning",
        hint=rule.hint,
        at_key=True,
    )
    migrated.update(rule.set)


def _shown(value: Any) -> str:
    """A spec value as YAML writes it (`true`, `replace`)."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _check_connection_fields(
    program: Program, step: Step, spec: ComponentSpec, config: dict[str, Any], path: str
) -> None:
    secret_fields = {pointer.lstrip("/") for pointer in spec.secrets}
    for field in spec.connection_fields:
        if field.field not in config or field.override == "allowed":
            continue
        if field.field in secret_fields:
            continue  # an inline secret is the secrets pass's error (SEC501), a worse one
        key_path = pointer(f"{path}/config", field.field)
        if field.override == "forbidden":
            program.report(
                "OML305",
                f"'{field.field}' comes from the connection and cannot be set in the step",
                key_path,
                hint="set it in osiris_connections.yaml and refer to it with "
                f"connection: '@{spec.family or 'family'}.alias'",
                at_key=True,
                step=step.id,
            )
        else:
            program.report(
                "OML306",
                f"'{field.field}' overrides the connection's value",
                key_path,
                severity="warning",
                hint="prefer setting it on the connection",
                at_key=True,
            )


@cache
def _validator(spec: ComponentSpec) -> Draft202012Validator:
    return Draft202012Validator(dict(spec.config_schema))


def _check_schema(
    program: Program, step: Step, spec: ComponentSpec, config: dict[str, Any], path: str
) -> None:
    properties = spec.config_schema.get("properties", {})
    errors = sorted(
        _validator(spec).iter_errors(config), key=lambda e: (list(e.absolute_path), e.validator)
    )
    for error in errors:
        where = "/".join(str(p) for p in error.absolute_path)
        key_path = f"{path}/config" + (f"/{where}" if where else "")
        kind = error.validator
        if kind == "required":
            missing = _missing_property(error)
            program.report(
                "OML302",
                f"{spec.name} needs config key '{missing}'",
                f"{path}/config",
                hint=_describe_property(properties.get(missing, {}), missing),
                at_key=True,
                step=step.id,
            )
        elif kind == "additionalProperties":
            for extra in _extra_properties(error, properties):
                suggestions = did_you_mean(extra, properties)
                program.report(
                    "OML303",
                    f"{spec.name} has no config key '{extra}'",
                    pointer(key_path, extra),
                    suggestions=suggestions,
                    hint=None if suggestions else "config keys: " + ", ".join(sorted(properties)),
                    at_key=True,
                    step=step.id,
                )
        else:
            _report_value(program, step, error, key_path)


def _report_value(program: Program, step: Step, error: ValidationError, key_path: str) -> None:
    """A bad value. Messages never quote the value itself: it may be a secret."""
    name = str(error.absolute_path[-1]) if error.absolute_path else "config"
    node = program.node(key_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    kind = error.validator
    if kind == "type":
        want: Any = error.validator_value
        wants = [want] if isinstance(want, str) else list(want)
        if (
            isinstance(node, Scalar)
            and node.style is None
            and "string" in wants
            and node.kind != "str"
        ):
            program.report(
                "OML105",
                f"YAML reads the unquoted value of '{name}' as {node.kind}, "
                "but a string is expected",
                key_path,
                hint="quote the value",
                step=step.id,
            )
            return
        words = " or ".join(TYPE_WORDS.get(w, w) for w in wants)
        message = f"'{name}' must be {words}"
    elif kind == "enum":
        allowed: Any = error.validator_value
        options = ", ".join(str(v) for v in allowed)
        message = f"'{name}' must be one of: {options}"
        value = error.instance
        if isinstance(value, str):
            suggestions = did_you_mean(value, [str(v) for v in allowed])
            program.report("OML304", message, key_path, suggestions=suggestions, step=step.id)
            return
    elif kind in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        message = f"'{name}' must be {_BOUND_WORDS[kind]} {error.validator_value}"
    elif kind in ("minLength", "maxLength", "minItems", "maxItems"):
        message = f"'{name}' must have {_BOUND_WORDS[kind]} {error.validator_value} " + (
            "characters" if "Length" in kind else "items"
        )
    elif kind == "pattern":
        message = f"'{name}' does not have the expected form"
        description = schema.get("description")
        program.report(
            "OML304",
            message,
            key_path,
            hint=str(description) if description else f"expected to match {error.validator_value}",
            step=step.id,
        )
        return
    else:
        # a rule JSON Schema cannot word (not, propertyNames): the spec's description says it
        description = schema.get("description")
        message = f"'{name}' is not valid here" + ("" if description else f" ({kind})")
        program.report(
            "OML304",
            message,
            key_path,
            hint=str(description) if description else None,
            step=step.id,
        )
        return
    program.report("OML304", message, key_path, step=step.id)


_BOUND_WORDS = {
    "minimum": "at least",
    "exclusiveMinimum": "more than",
    "maximum": "at most",
    "exclusiveMaximum": "less than",
    "minLength": "at least",
    "maxLength": "at most",
    "minItems": "at least",
    "maxItems": "at most",
}


def _missing_property(error: ValidationError) -> str:
    required: Any = error.validator_value
    instance = error.instance if isinstance(error.instance, dict) else {}
    return next((str(r) for r in required if r not in instance), str(required[0]))


def _extra_properties(error: ValidationError, properties: Any) -> list[str]:
    instance = error.instance if isinstance(error.instance, dict) else {}
    return sorted(str(k) for k in instance if k not in properties)


def _describe_property(schema: Any, name: str) -> str:
    description = schema.get("description") if isinstance(schema, dict) else None
    return f"add '{name}': {description}" if description else f"add '{name}' to config"


def _check_constraints(
    program: Program, step: Step, spec: ComponentSpec, config: dict[str, Any], path: str
) -> None:
    for rule in spec.constraints:
        condition = rule.get("when")
        if condition and not _matches(condition, config):
            continue
        message = str(rule.get("message") or "component constraint not met")
        present = [f for f in rule.get("require", ()) if f not in config]
        one_of = rule.get("one_of")
        hints = [
            *(["add: " + ", ".join(present)] if present else []),
            *(
                ["give exactly one of: " + ", ".join(one_of)]
                if one_of and sum(f in config for f in one_of) != 1
                else []
            ),
        ]
        for hint in hints:
            program.report(
                "OML307", message, f"{path}/config", at_key=True, step=step.id, hint=hint
            )
        forbidden = [f for f in rule.get("forbid", ()) if f in config]
        for name in forbidden:
            program.report(
                "OML307",
                message,
                pointer(f"{path}/config", name),
                at_key=True,
                step=step.id,
                hint=f"remove '{name}'",
            )


def _matches(condition: Any, config: dict[str, Any]) -> bool:
    field = condition.get("field")
    value = config.get(field)
    if "equals" in condition:
        return bool(value == condition["equals"])
    if "in" in condition:
        return value in condition["in"]
    if "present" in condition:
        return (field in config) == bool(condition["present"])
    return field in config


def _with_defaults(spec: ComponentSpec, config: dict[str, Any]) -> dict[str, Any]:
    """Fill the schema's top-level defaults, so the manifest says what will really run."""
    filled = dict(config)
    for name, schema in spec.config_schema.get("properties", {}).items():
        if name not in filled and isinstance(schema, dict) and "default" in schema:
            filled[name] = schema["default"]
    return filled
