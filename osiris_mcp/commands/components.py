"""`osiris components list|show NAME`: print the component registry."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from components.registry import ComponentSpec, Registry

HELP = "List the components, or show one's config keys, connection fields, rules and examples."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    listing = actions.add_parser("list", help="one line per component (the default)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    show = actions.add_parser("show", help="everything about one component")
    show.add_argument("name", metavar="NAME", help="component name, e.g. mysql.extractor")
    show.add_argument("--json", action="store_true", help="print the spec as JSON")


def run(args: argparse.Namespace) -> int:
    from components.registry import SpecError, default_registry

    try:
        registry = default_registry()
    except SpecError as err:
        # Specs ship with Osiris: a broken one is our bug, not the user's.
        print(f"osiris: internal error: broken component spec: {err}", file=sys.stderr)
        return 1
    as_json = bool(getattr(args, "json", False))
    if getattr(args, "action", None) == "show":
        return _show(registry, args.name, as_json)
    return _list(registry, as_json)


def _list(registry: Registry, as_json: bool) -> int:
    if as_json:
        rows = [
            {
                "name": spec.name,
                "version": spec.version,
                "title": spec.title,
                "family": spec.family,
                "modes": list(spec.modes),
                "fingerprint": spec.fingerprint,
            }
            for spec in registry
        ]
        _print_json({"components": rows})
        return 0
    table = [(spec.name, ",".join(spec.modes), spec.family or "-", spec.title) for spec in registry]
    print(_table(("NAME", "MODES", "FAMILY", "TITLE"), table))
    return 0


def _show(registry: Registry, name: str, as_json: bool) -> int:
    spec = registry.get(name)
    if spec is None:
        from compiler.diagnostics import did_you_mean, suggestion_hint

        suggestions = did_you_mean(name, registry.names())
        if as_json:
            error = {"code": "unknown_component", "name": name, "suggestions": list(suggestions)}
            _print_json({"error": error})
        else:
            print(f"osiris: unknown component '{name}'", file=sys.stderr)
            hint = suggestion_hint(suggestions) or "`osiris components list` shows them all"
            print(f"  {hint}", file=sys.stderr)
        return 2
    if as_json:
        _print_json({"name": spec.name, "fingerprint": spec.fingerprint, "spec": dict(spec.raw)})
    else:
        print(describe(spec))
    return 0


def describe(spec: ComponentSpec) -> str:
    """The human reference of one component, as `osiris components show` prints it."""
    lines = [f"{spec.name} {spec.version} — {spec.title}", ""]
    lines += _wrap(spec.description, 88)
    lines.append("")
    inputs = _inputs_text(spec.inputs_min, spec.inputs_max)
    lines.append(f"modes: {', '.join(spec.modes)}    family: {spec.family or '-'}    {inputs}")
    on = [name for name, enabled in sorted(spec.capabilities.items()) if enabled]
    lines.append(f"capabilities: {', '.join(on) or '-'}")

    secret_keys = {pointer.split("/")[1] for pointer in spec.secrets}
    from_connection = {c.field: c.override for c in spec.connection_fields}
    required = set(spec.required)
    rows = []
    for key, prop in spec.properties.items():
        marks = []
        if key in required:
            marks.append("required")
        if "default" in prop:
            marks.append("default " + json.dumps(prop["default"], ensure_ascii=False))
        if key in secret_keys:
            marks.append("secret")
        if key in from_connection:
            marks.append("from the connection")
        rows.append((key, _type_text(prop), ", ".join(marks)))
    lines += ["", "Config keys"]
    table = _table(("KEY", "TYPE", ""), rows).splitlines()
    lines += _indent(table[:1])
    for row, key in zip(table[1:], spec.properties, strict=True):
        lines += _indent([row])
        lines += _indent(_wrap(spec.properties[key]["description"], 80), 6)

    if spec.connection_fields:
        policy = {
            "allowed": "may be set in the step",
            "warning": "may be set in the step, with a warning",
            "forbidden": "only the connection may set it",
        }
        lines += ["", f"Connection fields (supplied by @{spec.family}.<alias>)"]
        lines += _indent(
            _table(
                ("FIELD", "OVERRIDE", ""),
                [(c.field, c.override, policy[c.override]) for c in spec.connection_fields],
            )
        )
    if spec.sql_fields:
        lines += ["", "SQL fields"]
        lines += _indent(
            _table(
                ("FIELD", "DIALECT", "ROLE"),
                [(s.field, s.dialect, s.role) for s in spec.sql_fields],
            )
        )
    if spec.constraints:
        lines += ["", "Rules"]
        for rule in spec.constraints:
            lines.append(f"  - {_rule_text(rule)}")
            lines += _indent(_wrap(rule["message"], 80), 4)
    if spec.aliases:
        lines += ["", "Old key names (rewritten, with a warning)"]
        lines += [f"  {old} -> {new}" for old, new in sorted(spec.aliases.items())]
    if spec.ignored:
        lines += ["", "Ignored old keys (dropped, with a warning)"]
        lines.append("  " + ", ".join(spec.ignored))
    lines += ["", "Examples"]
    for example in spec.examples:
        lines.append(f"  # {example['title']}")
        lines.append(f"  component: {spec.name}")
        lines.append("  config:")
        lines += _indent(_yaml(example["config"]), 4)
        lines.append("")
    if spec.llm_hints:
        lines.append("Hints")
        lines += [f"  - {hint}" for hint in spec.llm_hints]
    return "\n".join(line.rstrip() for line in lines).rstrip() + "\n"


# --- text pieces ------------------------------------------------------------------------


def _type_text(prop: Mapping[str, Any]) -> str:
    if "enum" in prop:
        return "|".join("null" if v is None else str(v) for v in prop["enum"])
    for combinator in ("oneOf", "anyOf"):
        if combinator in prop:
            return " or ".join(_type_text(option) for option in prop[combinator])
    kind = prop.get("type", "any")
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind == "array":
        return f"list of {_type_text(prop.get('items', {}))}"
    if kind == "object" and isinstance(prop.get("additionalProperties"), Mapping):
        return f"map of {_type_text(prop['additionalProperties'])}"
    return str(kind)


def _inputs_text(low: int, high: int | None) -> str:
    if high == 0:
        return "inputs: none"
    if high is None:
        return f"inputs: {low} or more"
    if low == high:
        return f"inputs: exactly {low}"
    return f"inputs: {low} to {high}"


def _rule_text(rule: Mapping[str, Any]) -> str:
    if "require" in rule:
        what = "requires " + ", ".join(rule["require"])
    elif "one_of" in rule:
        what = "exactly one of " + ", ".join(rule["one_of"])
    else:
        what = "forbids " + ", ".join(rule["forbid"])
    when = rule.get("when")
    if when:
        if "equals" in when:
            cond = f"{when['field']} = {json.dumps(when['equals'])}"
        elif "in" in when:
            cond = f"{when['field']} in {json.dumps(when['in'])}"
        else:
            cond = f"{when['field']} is {'set' if when['present'] else 'not set'}"
        what = f"when {cond}: {what}"
    return what


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    out = []
    for row in (header, *rows):
        cells = [str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out)


def _indent(text: str | list[str], by: int = 2) -> list[str]:
    lines = text.splitlines() if isinstance(text, str) else text
    return [(" " * by + line) if line else "" for line in lines]


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(" ".join(text.split()), width) or [""]


def _yaml(config: Mapping[str, Any]) -> str:
    import yaml

    class _Dumper(yaml.SafeDumper):
        pass

    def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    def _list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.SequenceNode:
        flow = all(not isinstance(item, dict | list) for item in value)
        return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)

    _Dumper.add_representer(str, _str)
    _Dumper.add_representer(list, _list)
    text: str = yaml.dump(
        dict(config), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=88
    )
    return text


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))
