"""The component registry: every `*/spec.yaml` under `components/`, validated and typed.

A spec is data the compiler reads (config schema, secrets, SQL fields, connection
policy); nothing here imports a driver. Loading is strict: a broken spec raises
`SpecError` naming the file and the JSON pointer of the broken field, never a skip.

>>> registry = default_registry()
>>> spec = registry.get("mysql.writer")
>>> spec.modes, spec.aliases["upsert_keys"], spec.inputs_min, spec.inputs_max
(('write',), 'primary_key', 1, 1)
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, cast

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from jsonschema.protocols import Validator

from components.common import strict_yaml

jsonschema_version = importlib_metadata.version("jsonschema")

PACKAGE_DIR = Path(__file__).resolve().parent
SPEC_FILE = "spec.yaml"
SCHEMA_FILE = "spec.schema.json"

SqlRole = Literal["extract", "transform"]
OverridePolicy = Literal["allowed", "forbidden", "warning"]


@dataclass(frozen=True, slots=True)
class SqlField:
    """A config field that holds SQL, its dialect and what the SQL may do."""

    field: str
    dialect: str
    role: SqlRole


@dataclass(frozen=True, slots=True)
class ConnectionField:
    """A config field a connection supplies, and whether a step may set it inline."""

    field: str
    override: OverridePolicy


@dataclass(frozen=True, slots=True)
class Migration:
    """How a 0.5.7 config key reaches its Osiris form: rewritten (`set`) or refused (no `set`).

    `values` limits the rule to those values of the key (None: any value).
    """

    key: str
    values: tuple[Any, ...] | None
    set: Mapping[str, Any] | None
    hint: str

    def matches(self, value: Any) -> bool:
        # bool is an int in Python: `True == 1`; a rule for `true` must not match `1`
        return self.values is None or any(
            type(value) is type(v) and value == v for v in self.values
        )


@dataclass(frozen=True, eq=False)
class ComponentSpec:
    """One component's contract, as loaded from its `spec.yaml`.

    Compared by identity; compare `fingerprint` to tell whether two specs say the same.
    """

    name: str
    version: str
    title: str
    description: str
    family: str | None
    modes: tuple[str, ...]
    capabilities: Mapping[str, bool]
    config_schema: Mapping[str, Any]
    secrets: tuple[str, ...]
    connection_fields: tuple[ConnectionField, ...]
    sql_fields: tuple[SqlField, ...]
    inputs_min: int
    inputs_max: int | None
    aliases: Mapping[str, str]
    ignored: tuple[str, ...]
    migrations: tuple[Migration, ...]
    constraints: tuple[Mapping[str, Any], ...]
    examples: tuple[Mapping[str, Any], ...]
    llm_hints: tuple[str, ...]
    raw: Mapping[str, Any]
    fingerprint: str
    folder: Path
    _validator: Validator | None = field(default=None, init=False, repr=False)

    @property
    def properties(self) -> Mapping[str, Mapping[str, Any]]:
        """The config keys the component accepts, name -> JSON Schema."""
        return cast(Mapping[str, Mapping[str, Any]], self.config_schema.get("properties", {}))

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(self.config_schema.get("required", ()))

    @property
    def defaults(self) -> Mapping[str, Any]:
        """Top-level config defaults, key -> value (what the compiler fills in)."""
        return {k: p["default"] for k, p in self.properties.items() if "default" in p}

    def connection_field(self, name: str) -> ConnectionField | None:
        return next((c for c in self.connection_fields if c.field == name), None)

    def validator(self) -> Validator:
        """A Draft 2020-12 validator for `config_schema`, built on first use."""
        if self._validator is None:
            # Frozen dataclass: the cache slot is the one field set after construction.
            object.__setattr__(self, "_validator", Draft202012Validator(dict(self.config_schema)))
        assert self._validator is not None
        return self._validator


class SpecError(Exception):
    """A spec that cannot be used: names the file, the JSON pointer and what is wrong."""

    def __init__(self, file: Path | str, pointer: str, detail: str) -> None:
        self.file = str(file)
        self.pointer = pointer
        self.detail = detail
        where = f"{self.file}: {pointer}" if pointer else self.file
        super().__init__(f"{where}: {detail}")


class Registry:
    """Component specs by name."""

    def __init__(self, specs: Mapping[str, ComponentSpec]) -> None:
        self._specs: dict[str, ComponentSpec] = {name: specs[name] for name in sorted(specs)}

    @classmethod
    def load(cls, root: Path | None = None) -> Registry:
        """Load and check every `*/spec.yaml` under `root` (default: this package)."""
        root = PACKAGE_DIR if root is None else root
        specs: dict[str, ComponentSpec] = {}
        paths = sorted(root.glob(f"*/{SPEC_FILE}"))
        marker = _validated_marker(paths)
        trusted = marker is not None and marker.exists()
        for path in paths:
            # Errors name the file from the root's own name on (`components/x/spec.yaml`):
            # readable, and free of machine-specific absolute paths.
            # The folder must be the name (checked), so two specs can never share a name.
            display = f"{root.name}/{path.parent.name}/{SPEC_FILE}"
            spec = load_spec(path, display=display, trusted=trusted)
            specs[spec.name] = spec
        if not specs:
            raise SpecError(root.name, "", f"no */{SPEC_FILE} found under {root}")
        if marker is not None and not trusted:
            with contextlib.suppress(OSError):
                marker.touch()
        return cls(specs)

    def get(self, name: str) -> ComponentSpec | None:
        return self._specs.get(name)

    def names(self) -> tuple[str, ...]:
        return tuple(self._specs)

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self) -> Iterator[ComponentSpec]:
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)


@functools.cache
def default_registry() -> Registry:
    """The specs shipped with Osiris, loaded once per process."""
    return Registry.load()


def load_spec(path: Path, display: str | None = None, trusted: bool = False) -> ComponentSpec:
    """Read, check and type one spec file. `display` is the file name used in errors.

    `trusted` skips the JSON Schema checks for content already validated (see
    `_validated_marker`); the cheap structural checks always run.
    """
    where = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(where, "", f"cannot read the file: {err}") from None
    raw = _parse_yaml(text, where)
    _check_json_values(raw, "", where)
    if not trusted:
        _check_against_spec_schema(raw, where)
        _check_config_schema(raw["configSchema"], where)
    _check_cross_references(raw, path.parent.name, where)
    return _build(raw, path.parent)


def _validated_marker(paths: list[Path]) -> Path | None:
    """A file whose existence says: these exact spec bytes passed every schema check.

    Schema validation is two thirds of loading the registry, and it runs in every
    `osiris validate`. The marker's name hashes every spec, the spec schema and the
    jsonschema version, so any change to any of them validates again.
    """
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = Path(root) / "osiris"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if folder.stat().st_uid != os.getuid():
            return None
        digest = hashlib.sha256(jsonschema_version.encode())
        for path in [PACKAGE_DIR / "spec.schema.json", *paths]:
            digest.update(path.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    except OSError:
        return None
    return folder / f"specs-valid-{digest.hexdigest()[:24]}"


def fingerprint(raw: Mapping[str, Any]) -> str:
    """`sha256:<hex>` over the canonical JSON of a spec."""
    text = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- loading ----------------------------------------------------------------------------


def _parse_yaml(text: str, where: str) -> dict[str, Any]:
    try:
        data = strict_yaml.load(text)
    except strict_yaml.YamlError as err:
        if err.duplicate_key is not None:
            raise SpecError(where, "", f"{err} at line {err.line}") from None
        raise SpecError(where, "", str(err)) from None
    if not isinstance(data, dict):
        raise SpecError(where, "", "a spec must be a mapping")
    return data


def _check_json_values(value: Any, pointer: str, where: str) -> None:
    """Only JSON values: a YAML date or a non-string key would break fingerprints."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise SpecError(where, pointer, f"key {key!r} is not a string (quote it)")
            _check_json_values(item, _pointer(pointer, key), where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json_values(item, _pointer(pointer, index), where)
    elif not (value is None or isinstance(value, str | int | float | bool)):
        raise SpecError(
            where, pointer, f"{type(value).__name__} is not a JSON value (quote it as a string)"
        )


# Validation speed matters: the registry loads on every `osiris validate`. jsonschema pays
# for every `$ref` it follows, and the official 2020-12 meta-schema reaches each keyword
# through seven vocabulary documents and `$dynamicRef`. Both schemas are therefore
# flattened once per process into equivalent single documents (same errors, about a
# third of the time); `tests/components` checks the flat meta-schema against the official one.


@functools.cache
def _spec_schema_validator() -> Draft202012Validator:
    schema = json.loads((PACKAGE_DIR / SCHEMA_FILE).read_text(encoding="utf-8"))
    defs = schema.pop("$defs", {})
    return Draft202012Validator(_inline_refs(schema, defs))


def _inline_refs(node: Any, defs: Mapping[str, Any]) -> Any:
    """Replace `{"$ref": "#/$defs/x", ...}` by the definition (the spec schema has no cycles)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            target = _inline_refs(defs[ref.removeprefix("#/$defs/")], defs)
            rest = {k: _inline_refs(v, defs) for k, v in node.items() if k != "$ref"}
            return {"allOf": [target, rest]} if rest else target
        return {k: _inline_refs(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline_refs(v, defs) for v in node]
    return node


@functools.cache
def _meta_validator() -> Draft202012Validator:
    # With the format checker, every `pattern` in the schema must compile as a regex.
    return Draft202012Validator(
        flat_metaschema(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def flat_metaschema() -> dict[str, Any]:
    """The 2020-12 meta-schema as one document: vocabularies merged, `$dynamicRef` static.

    Equivalent for any schema that declares no `$dynamicAnchor` of its own (a config
    schema has no reason to). Falls back to the official one if its layout ever changes.
    """
    # jsonschema's own store of the official meta-schemas (it ships no type stubs).
    from jsonschema_specifications import REGISTRY  # type: ignore[import-untyped]

    official: dict[str, Any] = dict(Draft202012Validator.META_SCHEMA)
    base = official["$id"].rsplit("/", 1)[0] + "/"
    flat: dict[str, Any] = {"$schema": official["$id"], "type": ["object", "boolean"]}
    properties: dict[str, Any] = {}
    defs: dict[str, Any] = {}
    parts = [official] + [REGISTRY.contents(base + part["$ref"]) for part in official["allOf"]]
    layout = {"$schema", "$id", "$vocabulary", "$dynamicAnchor", "$comment", "title", "type"}
    for part in parts:
        extra = set(part) - layout - {"properties", "$defs", "allOf"}
        clash = (set(part.get("properties", {})) & set(properties)) | (
            set(part.get("$defs", {})) & set(defs)
        )
        if extra or clash or part.get("type") != ["object", "boolean"]:
            return official
        properties.update(_static_refs(part.get("properties", {})))
        defs.update(_static_refs(part.get("$defs", {})))
    flat["properties"] = properties
    flat["$defs"] = defs
    if not _refs_resolve(flat, defs):
        return official
    return flat


def _static_refs(node: Any) -> Any:
    """`$dynamicRef: #meta` -> `$ref: #`; `meta/<vocabulary>#/$defs/x` -> `#/$defs/x`."""
    if isinstance(node, dict):
        out = {k: _static_refs(v) for k, v in node.items()}
        if out.get("$dynamicRef") == "#meta":
            del out["$dynamicRef"]
            out["$ref"] = "#"
        ref = out.get("$ref")
        if isinstance(ref, str) and "#/$defs/" in ref:
            out["$ref"] = "#/$defs/" + ref.split("#/$defs/", 1)[1]
        return out
    if isinstance(node, list):
        return [_static_refs(v) for v in node]
    return node


def _refs_resolve(node: Any, defs: Mapping[str, Any]) -> bool:
    """Every `$ref` left is `#` or a merged definition (else the flat schema is wrong)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref != "#" and ref.removeprefix("#/$defs/") not in defs:
            return False
        return all(_refs_resolve(v, defs) for v in node.values())
    if isinstance(node, list):
        return all(_refs_resolve(v, defs) for v in node)
    return True


def _check_against_spec_schema(raw: Mapping[str, Any], where: str) -> None:
    error = best_match(_spec_schema_validator().iter_errors(raw))
    if error is not None:
        pointer, message = _locate(error, [])
        raise SpecError(where, pointer, message)


def _check_config_schema(config_schema: Mapping[str, Any], where: str) -> None:
    """configSchema must itself be a valid 2020-12 schema."""
    error = best_match(_meta_validator().iter_errors(config_schema))
    if error is not None:
        pointer, message = _locate(error, ["configSchema"])
        raise SpecError(where, pointer, f"not a valid JSON Schema: {message}")


def _check_cross_references(raw: Mapping[str, Any], folder: str, where: str) -> None:
    """What JSON Schema cannot say: every field a spec names must be a config key."""
    name: str = raw["name"]
    expected_folder = name.replace(".", "_")
    if folder != expected_folder:
        raise SpecError(where, "/name", f"{name!r} belongs in folder {expected_folder!r}")
    family = raw["family"]
    if family is not None and not name.startswith(f"{family}."):
        raise SpecError(where, "/family", f"{name!r} is not in family {family!r}")

    props: Mapping[str, Any] = raw["configSchema"]["properties"]

    def need_key(key: str, pointer: str) -> None:
        if key not in props:
            hint = _close(key, props)
            raise SpecError(where, pointer, f"{key!r} is not a key of configSchema{hint}")

    for i, key in enumerate(raw["configSchema"].get("required", [])):
        need_key(key, f"/configSchema/required/{i}")
    for i, secret in enumerate(raw["secrets"]):
        if _resolve_pointer(raw["configSchema"], secret) is None:
            raise SpecError(where, f"/secrets/{i}", f"{secret!r} points at no config key")
    for section in ("x-connection-fields", "x-sql"):
        for i, entry in enumerate(raw.get(section, [])):
            need_key(entry["field"], f"/{section}/{i}/field")
    seen: set[str] = set()
    for i, entry in enumerate(raw.get("x-connection-fields", [])):
        if entry["field"] in seen:
            raise SpecError(where, f"/x-connection-fields/{i}/field", "listed twice")
        seen.add(entry["field"])
    for old, new in raw.get("x-aliases", {}).items():
        pointer = f"/x-aliases/{old}"
        if old in props:
            raise SpecError(where, pointer, f"{old!r} is a config key; it cannot be an alias")
        need_key(new, pointer)
    for i, key in enumerate(raw.get("x-ignored", [])):
        if key in props or key in raw.get("x-aliases", {}):
            raise SpecError(where, f"/x-ignored/{i}", f"{key!r} is a config key or an alias")
    for i, rule in enumerate(raw.get("x-migrations", [])):
        key = rule["key"]
        if key in props or key in raw.get("x-aliases", {}) or key in raw.get("x-ignored", []):
            raise SpecError(
                where, f"/x-migrations/{i}/key", f"{key!r} is a config key, an alias or ignored"
            )
        for name in rule.get("set", {}):
            need_key(name, f"/x-migrations/{i}/set/{name}")
    inputs = raw["x-inputs"]
    if inputs["max"] is not None and inputs["max"] < inputs["min"]:
        raise SpecError(where, "/x-inputs/max", "max is below min")
    for i, rule in enumerate(raw.get("constraints", [])):
        base = f"/constraints/{i}"
        if "when" in rule:
            need_key(rule["when"]["field"], f"{base}/when/field")
        for verb in ("require", "one_of", "forbid"):
            for j, key in enumerate(rule.get(verb, [])):
                need_key(key, f"{base}/{verb}/{j}")
                if verb != "require" and "default" in props[key]:
                    # Rules see defaults filled in: such a key would always count as set.
                    raise SpecError(
                        where, f"{base}/{verb}/{j}", f"{key!r} has a default, so it is always set"
                    )


def _build(raw: dict[str, Any], folder: Path) -> ComponentSpec:
    inputs = raw["x-inputs"]
    return ComponentSpec(
        name=raw["name"],
        version=raw["version"],
        title=raw["title"],
        description=raw["description"].strip(),
        family=raw["family"],
        modes=tuple(raw["modes"]),
        capabilities=MappingProxyType(dict(raw["capabilities"])),
        config_schema=MappingProxyType(raw["configSchema"]),
        secrets=tuple(raw["secrets"]),
        connection_fields=tuple(
            ConnectionField(c["field"], c["override"]) for c in raw.get("x-connection-fields", [])
        ),
        sql_fields=tuple(
            SqlField(s["field"], s["dialect"], s["role"]) for s in raw.get("x-sql", [])
        ),
        inputs_min=inputs["min"],
        inputs_max=inputs["max"],
        aliases=MappingProxyType(dict(raw.get("x-aliases", {}))),
        ignored=tuple(raw.get("x-ignored", [])),
        migrations=tuple(_migration(m) for m in raw.get("x-migrations", [])),
        constraints=tuple(MappingProxyType(c) for c in raw.get("constraints", [])),
        examples=tuple(MappingProxyType(e) for e in raw["examples"]),
        llm_hints=tuple(raw["llmHints"]),
        raw=MappingProxyType(raw),
        fingerprint=fingerprint(raw),
        folder=folder,
    )


def _migration(rule: Mapping[str, Any]) -> Migration:
    values: tuple[Any, ...] | None = None
    if "equals" in rule:
        values = (rule["equals"],)
    elif "in" in rule:
        values = tuple(rule["in"])
    target = rule.get("set")
    return Migration(
        rule["key"],
        values,
        MappingProxyType(dict(target)) if target is not None else None,
        rule["hint"],
    )


# --- small pieces -----------------------------------------------------------------------


def _pointer(parent: str, key: str | int) -> str:
    text = str(key).replace("~", "~0").replace("/", "~1")
    return f"{parent}/{text}"


def _locate(error: ValidationError, prefix: list[str | int]) -> tuple[str, str]:
    """The JSON pointer and message for a schema error; an unknown key gets its own pointer."""
    parts: list[str | int] = [*prefix, *error.absolute_path]
    message = error.message
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        unknown = sorted(k for k in error.instance if k not in known)
        if unknown:
            parts.append(unknown[0])
            message = f"unknown key{_close(unknown[0], known)}"
    if len(message) > 300:  # a long instance makes an unreadable message
        message = message[:297] + "..."
    pointer = ""
    for part in parts:
        pointer = _pointer(pointer, part)
    return pointer, message


def _resolve_pointer(config_schema: Mapping[str, Any], pointer: str) -> Mapping[str, Any] | None:
    """The property schema a config pointer (`/a/b`) lands on, through `properties`."""
    schema: Mapping[str, Any] | None = config_schema
    for part in pointer.split("/")[1:]:
        key = part.replace("~1", "/").replace("~0", "~")
        if schema is None:
            return None
        props = schema.get("properties")
        schema = props.get(key) if isinstance(props, Mapping) else None
    return schema


def _close(word: str, pool: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(word, list(pool), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
