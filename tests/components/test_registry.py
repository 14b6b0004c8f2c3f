"""The component registry: every spec loads and is self-consistent; broken specs fail loudly."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from components.registry import (
    PACKAGE_DIR,
    ComponentSpec,
    Registry,
    SpecError,
    default_registry,
    flat_metaschema,
)
from osiris_mcp.cli import main

ROOT = Path(__file__).resolve().parents[2]
NAMES = (
    "duckdb.processor",
    "duckdb.writer",
    "filesystem.csv_extractor",
    "filesystem.csv_writer",
    "filesystem.json_extractor",
    "filesystem.json_writer",
    "filesystem.parquet_extractor",
    "filesystem.parquet_writer",
    "graphql.extractor",
    "mysql.extractor",
    "mysql.writer",
    "postgres.extractor",
    "postgres.writer",
    "posthog.extractor",
    "supabase.extractor",
    "supabase.writer",
)
EXTRACTORS = ("mysql.extractor", "postgres.extractor", "supabase.extractor")
DB_WRITERS = ("mysql.writer", "postgres.writer", "supabase.writer")
SQL_DIALECT = {"mysql": "mysql", "postgres": "postgres", "supabase": "postgres", None: "duckdb"}


def spec_of(name: str) -> ComponentSpec:
    spec = default_registry().get(name)
    assert spec is not None, name
    return spec


def migrate(spec: ComponentSpec, config: Mapping[str, Any]) -> dict[str, Any]:
    """What the compiler does with an old config: rename aliases, drop ignored keys, and
    rewrite the keys an `x-migrations` rule with `set` matches."""
    migrated: dict[str, Any] = {}
    for key, value in config.items():
        rule = next((m for m in spec.migrations if m.key == key and m.matches(value)), None)
        if rule is not None and rule.set is not None:
            migrated.update(rule.set)
        elif key not in spec.ignored:
            migrated[spec.aliases.get(key, key)] = value
    return migrated


def broken_rules(spec: ComponentSpec, config: Mapping[str, Any]) -> list[str]:
    """The messages of the spec's constraints a config breaks (the documented semantics)."""
    effective = {**spec.defaults, **config}

    def is_set(key: str) -> bool:
        return effective.get(key) is not None

    broken = []
    for rule in spec.constraints:
        when = rule.get("when")
        if when:
            value = effective.get(when["field"])
            if "equals" in when and value != when["equals"]:
                continue
            if "in" in when and value not in when["in"]:
                continue
            if "present" in when and is_set(when["field"]) != when["present"]:
                continue
        if "require" in rule:
            ok = all(is_set(k) for k in rule["require"])
        elif "one_of" in rule:
            ok = sum(is_set(k) for k in rule["one_of"]) == 1
        else:
            ok = not any(is_set(k) for k in rule["forbid"])
        if not ok:
            broken.append(rule["message"])
    return broken


# --- the shipped specs ------------------------------------------------------------------


def test_every_spec_loads() -> None:
    registry = Registry.load()
    assert registry.names() == NAMES
    assert [spec.name for spec in registry] == list(NAMES)
    assert len(registry) == len(NAMES) == 16
    assert "mysql.writer" in registry and "mysql.writerx" not in registry
    assert registry.get("nope") is None
    assert default_registry() is default_registry()


def test_spec_files_are_the_registry_folders() -> None:
    folders = sorted(p.parent.name for p in PACKAGE_DIR.glob("*/spec.yaml"))
    assert folders == sorted(name.replace(".", "_") for name in NAMES)
    for spec in default_registry():
        assert spec.folder == PACKAGE_DIR / spec.name.replace(".", "_")


@pytest.mark.parametrize("name", NAMES)
def test_examples_are_valid_configs(name: str) -> None:
    spec = spec_of(name)
    assert spec.examples
    for example in spec.examples:
        errors = [e.message for e in spec.validator().iter_errors(dict(example["config"]))]
        assert errors == [], example["title"]
        assert broken_rules(spec, example["config"]) == [], example["title"]


@pytest.mark.parametrize("name", NAMES)
def test_examples_teach_no_secrets_and_the_right_family(name: str) -> None:
    spec = spec_of(name)
    secret_keys = {pointer.split("/")[1] for pointer in spec.secrets}
    for example in spec.examples:
        config = example["config"]
        assert not secret_keys & set(config), example["title"]
        if "connection" in config:
            assert config["connection"].startswith(f"@{spec.family}."), example["title"]


@pytest.mark.parametrize("name", NAMES)
def test_named_fields_exist_in_the_config_schema(name: str) -> None:
    spec = spec_of(name)
    props = spec.properties
    for pointer in spec.secrets:
        assert pointer.startswith("/") and pointer[1:] in props, pointer
    for sql in spec.sql_fields:
        assert props[sql.field]["type"] == "string"
        assert sql.dialect == SQL_DIALECT[spec.family]
    for conn in spec.connection_fields:
        assert conn.field in props
    for old, new in spec.aliases.items():
        assert new in props and old not in props
    for key in spec.ignored:
        assert key not in props and key not in spec.aliases
    for key in spec.required:
        assert key in props
    assert spec.config_schema["additionalProperties"] is False


@pytest.mark.parametrize("name", NAMES)
def test_defaults_satisfy_their_own_schema(name: str) -> None:
    spec = spec_of(name)
    for key, value in spec.defaults.items():
        assert Draft202012Validator(dict(spec.properties[key])).is_valid(value), key


@pytest.mark.parametrize("name", NAMES)
def test_connection_reference_on_every_component_with_a_family(name: str) -> None:
    spec = spec_of(name)
    if spec.family is None:
        assert "connection" not in spec.properties
        return
    check = Draft202012Validator(dict(spec.properties["connection"]))
    assert check.is_valid(f"@{spec.family}")
    assert check.is_valid(f"@{spec.family}.primary-2")
    assert not check.is_valid(f"{spec.family}.primary")
    assert not check.is_valid(f"@{spec.family}.a.b")


def test_secret_fields_per_family() -> None:
    assert spec_of("mysql.extractor").secrets == ("/password",)
    assert spec_of("postgres.writer").secrets == ("/password",)
    assert set(spec_of("supabase.extractor").secrets) == {"/password", "/pg_dsn", "/key"}
    assert spec_of("filesystem.csv_extractor").secrets == ()
    for name in NAMES:
        spec = spec_of(name)
        for pointer in spec.secrets:
            policy = spec.connection_field(pointer[1:])
            assert policy is not None and policy.override == "forbidden", (name, pointer)


@pytest.mark.parametrize("name", DB_WRITERS)
def test_database_writers_share_the_canonical_write_keys(name: str) -> None:
    spec = spec_of(name)
    props = spec.properties
    assert props["write_mode"]["enum"] == ["append", "replace", "upsert"]
    assert spec.defaults["write_mode"] == "append"
    assert spec.defaults["create_if_missing"] is True
    check = Draft202012Validator(dict(props["primary_key"]))
    assert check.is_valid("id") and check.is_valid(["day", "id"])
    assert not check.is_valid([]) and not check.is_valid(3)
    assert spec.inputs_min == spec.inputs_max == 1
    assert spec.modes == ("write",)
    upsert = {"table": "t", "write_mode": "upsert"}
    assert broken_rules(spec, upsert), "upsert without primary_key must break a rule"
    assert broken_rules(spec, {**upsert, "primary_key": ["id"]}) == []


def test_csv_writer_replaces_by_default() -> None:
    spec = spec_of("filesystem.csv_writer")
    assert spec.properties["write_mode"]["enum"] == ["append", "replace"]
    assert spec.defaults["write_mode"] == "replace"
    assert spec.defaults["newline"] == "lf"


@pytest.mark.parametrize("name", EXTRACTORS)
def test_extractors_take_a_query_or_a_table(name: str) -> None:
    spec = spec_of(name)
    assert spec.inputs_min == spec.inputs_max == 0
    assert spec.sql_fields[0].field == "query" and spec.sql_fields[0].role == "extract"
    assert broken_rules(spec, {"table": "t"}) == []
    assert broken_rules(spec, {"query": "SELECT 1"}) == []
    assert broken_rules(spec, {}) != []
    assert broken_rules(spec, {"table": "t", "query": "SELECT 1"}) != []
    assert broken_rules(spec, {"query": "SELECT 1", "columns": ["a"]}) != []
    assert spec.defaults["batch_size"] == 100_000


def test_duckdb_processor_transforms_any_number_of_inputs_even_none() -> None:
    spec = spec_of("duckdb.processor")
    assert spec.family is None and spec.modes == ("transform",)
    assert (spec.inputs_min, spec.inputs_max) == (0, None)  # no upstream: a generating query
    assert [(s.field, s.dialect, s.role) for s in spec.sql_fields] == [
        ("query", "duckdb", "transform")
    ]


# Configs as pipelines written for osiris-pipeline 0.5.7 have them: after the compiler's
# rewrite (aliases renamed, ignored keys dropped) they must be valid here.
OLD_CONFIGS = [
    (
        "mysql.writer",
        {
            "connection": "@mysql.primary",
            "table": "metrics",
            "mode": "upsert",
            "upsert_keys": ["day", "customer_id"],
            "create_table": True,
            "batch_size": 5000,
            "pool_size": 10,
            "echo": False,
        },
    ),
    (
        "mysql.extractor",
        {"connection": "@mysql.primary", "query": "SELECT 1", "batch_size": 50000, "pool_size": 3},
    ),
    (
        "supabase.writer",
        {
            "connection": "@supabase.main",
            "table": "daily_stats",
            "schema": "public",
            "write_mode": "upsert",
            "primary_key": ["date", "user_id"],
            "batch_size": 500,
            "returning": "minimal",
            "ddl_channel": "auto",
            "timeout": 30,
        },
    ),
    ("supabase.extractor", {"connection": "@supabase.main", "table": "users", "limit": 100}),
    (
        "filesystem.csv_extractor",
        {
            "connection": "@filesystem.local",
            "path": "data/transactions.csv",
            "columns": ["id", "amount"],
            "parse_dates": ["created_at"],
            "header": 0,
            "chunk_size": 10000,
            "na_values": ["N/A"],
        },
    ),
    (
        "filesystem.csv_writer",
        {"path": "out/data.tsv", "delimiter": "\t", "header": False, "newline": "crlf"},
    ),
    ("duckdb.processor", {"query": "SELECT i AS id FROM generate_series(1, 10) AS s(i)"}),
]


@pytest.mark.parametrize(("name", "config"), OLD_CONFIGS, ids=[n for n, _ in OLD_CONFIGS])
def test_reference_tool_configs_validate_after_migration(name: str, config: dict[str, Any]) -> None:
    spec = spec_of(name)
    migrated = migrate(spec, config)
    # Old keys are unknown to configSchema: only the rewrite makes such a config valid.
    assert spec.validator().is_valid(config) == (migrated == config)
    assert [e.message for e in spec.validator().iter_errors(migrated)] == []
    assert broken_rules(spec, migrated) == []


def test_mysql_writer_aliases_rewrite_old_keys() -> None:
    spec = spec_of("mysql.writer")
    assert dict(spec.aliases) == {
        "mode": "write_mode",
        "upsert_keys": "primary_key",
        "create_table": "create_if_missing",
    }
    assert {"pool_size", "pool_recycle", "echo"} <= set(spec.ignored)


def test_validator_is_cached_and_strict() -> None:
    spec = spec_of("mysql.writer")
    assert spec.validator() is spec.validator()
    assert spec.validator().is_valid({"table": "t"})
    assert not spec.validator().is_valid({"table": "t", "tabel": "t"})
    assert not spec.validator().is_valid({"table": "t", "write_mode": "merge"})
    assert not spec.validator().is_valid({"write_mode": "append"})


# --- fingerprints -----------------------------------------------------------------------


def test_fingerprint_is_sha256_of_canonical_json() -> None:
    for spec in default_registry():
        canonical = json.dumps(
            dict(spec.raw), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        expected = "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
        assert spec.fingerprint == expected


def test_fingerprints_are_stable_across_loads() -> None:
    first = {s.name: s.fingerprint for s in Registry.load()}
    second = {s.name: s.fingerprint for s in Registry.load()}
    assert first == second
    assert len(set(first.values())) == len(first)


def test_fingerprint_ignores_yaml_layout_but_not_content(tmp_path: Path) -> None:
    root = copy_specs(tmp_path, ["mysql_writer"])
    before = Registry.load(root).get("mysql.writer")
    assert before is not None
    path = root / "mysql_writer" / "spec.yaml"
    data = yaml.safe_load(path.read_text())

    # Same content, other key order, no comments, flow style: same fingerprint.
    reordered = dict(reversed(list(data.items())))
    path.write_text(yaml.safe_dump(reordered, sort_keys=False, default_flow_style=True))
    same = Registry.load(root).get("mysql.writer")
    assert same is not None and same.fingerprint == before.fingerprint

    data["configSchema"]["properties"]["batch_size"]["default"] = 5000
    path.write_text(yaml.safe_dump(data))
    changed = Registry.load(root).get("mysql.writer")
    assert changed is not None and changed.fingerprint != before.fingerprint


# --- broken specs -----------------------------------------------------------------------


def copy_specs(tmp_path: Path, folders: list[str]) -> Path:
    root = tmp_path / "components"
    for folder in folders:
        (root / folder).mkdir(parents=True)
        shutil.copy(PACKAGE_DIR / folder / "spec.yaml", root / folder / "spec.yaml")
    return root


def edit(data: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    change(data)
    return data


def props(data: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = data["configSchema"]["properties"]
    return result


BREAKAGES: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    (
        "misspelled type",
        lambda d: props(d)["write_mode"].update(type="strng"),
        "/configSchema/properties/write_mode/type",
        "not valid under any of the given schemas",
    ),
    (
        "unknown top-level key",
        lambda d: d.update(colour="blue"),
        "/colour",
        "unknown key",
    ),
    ("missing title", lambda d: d.pop("title"), "", "'title' is a required property"),
    (
        "mode outside the vocabulary",
        lambda d: d.update(modes=["write", "extract"]),
        "/modes/1",
        "is not one of",
    ),
    (
        "secret pointing nowhere",
        lambda d: d.update(secrets=["/passwd"]),
        "/secrets/0",
        "points at no config key",
    ),
    (
        "connection field not in the config",
        lambda d: d["x-connection-fields"].append({"field": "sslmode", "override": "allowed"}),
        "/x-connection-fields/5/field",
        "'sslmode' is not a key of configSchema",
    ),
    (
        "bad override policy",
        lambda d: d["x-connection-fields"][0].update(override="sometimes"),
        "/x-connection-fields/0/override",
        "is not one of",
    ),
    (
        "sql field not in the config",
        lambda d: d.update({"x-sql": [{"field": "sql", "dialect": "mysql", "role": "extract"}]}),
        "/x-sql/0/field",
        "'sql' is not a key of configSchema",
    ),
    (
        "alias to nothing",
        lambda d: d["x-aliases"].update(mode="writemode"),
        "/x-aliases/mode",
        "did you mean 'write_mode'?",
    ),
    (
        "alias shadowing a key",
        lambda d: d["x-aliases"].update(table="primary_key"),
        "/x-aliases/table",
        "cannot be an alias",
    ),
    (
        "constraint on a misspelled key",
        lambda d: d["constraints"][0].update(require=["primary_keys"]),
        "/constraints/0/require/0",
        "did you mean 'primary_key'?",
    ),
    (
        "constraint with two verbs",
        lambda d: d["constraints"][0].update(forbid=["schema"]),
        "/constraints/0",
        "is valid under each of",
    ),
    (
        "forbid on a key with a default",
        lambda d: d["constraints"].append({"forbid": ["batch_size"], "message": "no"}),
        "/constraints/1/forbid/0",
        "has a default",
    ),
    (
        "config key without description",
        lambda d: props(d)["table"].pop("description"),
        "/configSchema/properties/table",
        "'description' is a required property",
    ),
    (
        "component with a family but no connection key",
        lambda d: props(d).pop("connection"),
        "/configSchema/properties",
        "'connection' is a required property",
    ),
    (
        "config schema open to unknown keys",
        lambda d: d["configSchema"].update(additionalProperties=True),
        "/configSchema/additionalProperties",
        "False was expected",
    ),
    (
        "invalid regular expression",
        lambda d: props(d)["table"].update(pattern="(unclosed"),
        "/configSchema/properties/table/pattern",
        "is not a 'regex'",
    ),
    (
        "invalid JSON Schema inside a key",
        lambda d: props(d)["batch_size"].update(minimum="ten"),
        "/configSchema/properties/batch_size/minimum",
        "not a valid JSON Schema",
    ),
    (
        "inputs max below min",
        lambda d: d.update({"x-inputs": {"min": 2, "max": 1}}),
        "/x-inputs/max",
        "below min",
    ),
    (
        "family not matching the name",
        lambda d: d.update(family="postgres"),
        "/family",
        "not in family 'postgres'",
    ),
    (
        "bad version",
        lambda d: d.update(version="1.0"),
        "/version",
        "does not match",
    ),
    (
        "no examples",
        lambda d: d.update(examples=[]),
        "/examples",
        "should be non-empty",
    ),
]


@pytest.mark.parametrize(
    ("change", "pointer", "message"),
    [b[1:] for b in BREAKAGES],
    ids=[b[0] for b in BREAKAGES],
)
def test_broken_spec_names_file_and_field(
    tmp_path: Path, change: Callable[[dict[str, Any]], None], pointer: str, message: str
) -> None:
    root = copy_specs(tmp_path, ["mysql_extractor", "mysql_writer", "postgres_writer"])
    path = root / "mysql_writer" / "spec.yaml"
    path.write_text(yaml.safe_dump(edit(yaml.safe_load(path.read_text()), change)))
    with pytest.raises(SpecError) as caught:
        Registry.load(root)
    err = caught.value
    assert err.file == "components/mysql_writer/spec.yaml"
    assert err.pointer == pointer
    assert message in err.detail
    where = f"components/mysql_writer/spec.yaml: {pointer}: " if pointer else ""
    assert str(err).startswith(where or "components/mysql_writer/spec.yaml: ")


TEXT_BREAKAGES = [
    ("yaml syntax", "name: [unclosed\n", "not valid YAML at line 2"),
    ("duplicate key", None, "duplicate key 'title' at line"),
    ("a date", None, "date is not a JSON value"),
    ("not a mapping", "- just\n- a list\n", "a spec must be a mapping"),
    ("empty file", "", "a spec must be a mapping"),
]


@pytest.mark.parametrize(
    ("text", "message"), [b[1:] for b in TEXT_BREAKAGES], ids=[b[0] for b in TEXT_BREAKAGES]
)
def test_unreadable_spec_names_the_file(tmp_path: Path, text: str | None, message: str) -> None:
    root = copy_specs(tmp_path, ["duckdb_processor"])
    path = root / "duckdb_processor" / "spec.yaml"
    original = path.read_text()
    if text is None and "duplicate" in message:
        text = original.replace("title:", "title: Twice\ntitle:", 1)
    elif text is None:
        text = original.replace("version: 1.0.0", "version: 1.0.0\nreleased: 2024-01-01")
    path.write_text(text)
    with pytest.raises(SpecError) as caught:
        Registry.load(root)
    assert caught.value.file == "components/duckdb_processor/spec.yaml"
    assert message in str(caught.value)
    if "date" in message:
        assert caught.value.pointer == "/released"


def test_spec_in_the_wrong_folder(tmp_path: Path) -> None:
    root = tmp_path / "components"
    (root / "mysql_reader").mkdir(parents=True)
    shutil.copy(PACKAGE_DIR / "mysql_extractor" / "spec.yaml", root / "mysql_reader" / "spec.yaml")
    with pytest.raises(SpecError, match=r"mysql_reader/spec.yaml: /name: .*'mysql_extractor'"):
        Registry.load(root)


def test_a_root_without_specs_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "components" / "mysql_extractor").mkdir(parents=True)
    with pytest.raises(SpecError, match=r"no \*/spec\.yaml found"):
        Registry.load(tmp_path / "components")
    with pytest.raises(SpecError, match=r"no \*/spec\.yaml found"):
        Registry.load(tmp_path / "missing")


def test_one_broken_spec_is_never_skipped(tmp_path: Path) -> None:
    root = copy_specs(tmp_path, [n.replace(".", "_") for n in NAMES])
    assert len(Registry.load(root)) == len(NAMES)
    path = root / "supabase_writer" / "spec.yaml"
    path.write_text(path.read_text().replace("x-inputs: {min: 1, max: 1}", "x-inputs: {min: 1}"))
    with pytest.raises(
        SpecError, match=r"supabase_writer/spec\.yaml: /x-inputs: 'max' is a required"
    ):
        Registry.load(root)


# --- the flat meta-schema -----------------------------------------------------------------

SCHEMAS = [
    {"type": "object", "properties": {"a": {"type": "strin"}}},
    {"properties": {"a": {"pattern": "(("}}},
    {"items": {"minimum": "x"}},
    {"prefixItems": [{"enum": 3}]},
    {"$defs": {"x": {"required": "a"}}},
    {"oneOf": []},
    {"allOf": [{"not": {"type": 1}}]},
    {"dependentRequired": {"a": [1]}},
    {"if": {"const": 1}, "then": {"minLength": -1}},
    {"additionalProperties": {"uniqueItems": "yes"}},
    {"unevaluatedProperties": {"maxItems": 1.5}},
    {"contentSchema": {"type": ["string", "string"]}},
    {"type": "object", "properties": {"a": {"type": ["boolean", "integer"], "minimum": 0}}},
    {"properties": {"a": {"oneOf": [{"type": "string"}, {"type": "array"}]}}},
    {"dependencies": {"a": {"type": 5}}},
    {"definitions": {"a": {"format": 3}}},
    True,
    {"$ref": "#/$defs/a", "$defs": {"a": {"type": "string"}}},
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_flat_metaschema_agrees_with_the_official_one(schema: Any) -> None:
    checker = Draft202012Validator.FORMAT_CHECKER
    official = Draft202012Validator(Draft202012Validator.META_SCHEMA, format_checker=checker)
    flat = Draft202012Validator(flat_metaschema(), format_checker=checker)

    def errors(validator: Draft202012Validator) -> set[tuple[str, str]]:
        return {(str(list(e.absolute_path)), e.message) for e in validator.iter_errors(schema)}

    assert errors(flat) == errors(official)


def test_flat_metaschema_is_one_document() -> None:
    refs: list[str] = []

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            assert not isinstance(node.get("$dynamicRef"), str)
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    flat = flat_metaschema()
    collect(flat)
    assert "allOf" not in flat and "#" in refs
    assert all(ref == "#" or ref.removeprefix("#/$defs/") in flat["$defs"] for ref in refs)


# --- CLI ------------------------------------------------------------------------------------


def test_cli_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["components", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "MODES", "FAMILY", "TITLE"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert tuple(rows) == NAMES
    assert rows["mysql.writer"][1:3] == ["write", "mysql"]
    assert rows["duckdb.processor"][1:3] == ["transform", "-"]
    assert rows["supabase.extractor"][1:3] == ["read", "supabase"]


def test_cli_list_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["components", "list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in data["components"]] == list(NAMES)
    writer = data["components"][NAMES.index("mysql.writer")]
    assert writer["modes"] == ["write"]
    assert writer["fingerprint"] == spec_of("mysql.writer").fingerprint


def test_cli_without_action_lists(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["components"]) == 0
    assert "mysql.extractor" in capsys.readouterr().out


def test_cli_show(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["components", "show", "mysql.writer"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("mysql.writer 1.0.0 — MySQL writer\n")
    assert re.search(r"^  write_mode +append\|replace\|upsert +default \"append\"$", out, re.M)
    assert re.search(r"^  table +string +required$", out, re.M)
    assert re.search(r"^  password +string +secret, from the connection$", out, re.M)
    assert re.search(r"^  primary_key +string or list of string$", out, re.M)
    # as in 0.5.7, the step may set non-secret connection fields; never the password
    assert re.search(r"^  database +allowed +may be set in the step$", out, re.M)
    assert re.search(r"^  password +forbidden +only the connection may set it$", out, re.M)
    assert 'when write_mode = "upsert": requires primary_key' in out
    assert "  upsert_keys -> primary_key" in out
    assert "  pool_size, pool_recycle, echo" in out
    assert "    primary_key: [day, customer_id]" in out
    assert "inputs: exactly 1" in out
    assert not any(line != line.rstrip() for line in out.splitlines())


def test_cli_show_sql_fields(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["components", "show", "supabase.extractor"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^  query +postgres +extract$", out, re.M)
    assert re.search(r"^  sslmode +warning +may be set in the step, with a warning$", out, re.M)
    assert "exactly one of query, table" in out
    assert "    query: |\n      SELECT id, email, created_at\n" in out


def test_cli_show_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["components", "show", "duckdb.processor", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    spec = spec_of("duckdb.processor")
    assert data["fingerprint"] == spec.fingerprint
    assert data["spec"]["x-inputs"] == {"min": 0, "max": None}
    assert data["spec"] == json.loads(json.dumps(dict(spec.raw)))


def test_cli_show_unknown_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["components", "show", "mysql.extracter"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "unknown component 'mysql.extracter'" in captured.err
    assert "'mysql.extractor'" in captured.err.splitlines()[1]


def test_cli_show_unknown_name_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["components", "show", "postgres.writter", "--json"]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["name"] == "postgres.writter"
    assert error["suggestions"][0] == "postgres.writer"


def test_cli_module_imports_light() -> None:
    code = (
        "import sys, osiris_mcp.commands.components as c; "
        "assert c.HELP and callable(c.run) and callable(c.add_arguments); "
        "heavy = {'jsonschema', 'yaml', 'components.registry'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# --- docs -----------------------------------------------------------------------------------


def test_docs_cover_every_component_and_key() -> None:
    text = (ROOT / "docs" / "components.md").read_text(encoding="utf-8")
    for spec in default_registry():
        section = text.split(f"## `{spec.name}`", 1)
        assert len(section) == 2, f"docs/components.md has no section for {spec.name}"
        body = section[1].split("\n## ", 1)[0]
        for key in spec.properties:
            assert f"`{key}`" in body, f"{spec.name}: key {key} undocumented"
