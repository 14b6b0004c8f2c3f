"""Connection resolution as 0.5.7 documents it, and connections files written for 0.5.7.

Order: the step's inline fields > `@family.alias` > the family's default alias > the
family's environment variables. Families Osiris has no component for load and are listed.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from compiler.compile import default_context
from compiler.emit import compile_source
from runtime.connections import (
    ENVIRONMENT_FIELDS,
    ConnectionsFile,
    ConnectionsFileError,
    UnknownConnectionError,
)

SHOPIFY_AND_GRAPHQL = """\
connections:
  mysql:
    main:
      default: true
      host: db.internal
      port: 3306
      user: app
      password: ${DB_PASSWORD}
      database: shop
    replica:
      host: replica.internal
      user: reader
      password: ${DB_PASSWORD}
      database: shop
  graphql:
    github:
      endpoint: https://api.github.com/graphql
      headers: {Authorization: "Bearer ${GITHUB_TOKEN}"}
  shopify:
    store:
      shop: acme
      token: ${SHOPIFY_TOKEN}
"""
SECRETS = {"DB_PASSWORD": "pw-4f9a-secret", "GITHUB_TOKEN": "ghp_canary_77", "SHOPIFY_TOKEN": "shp"}


def project(tmp_path: Path, text: str | None = SHOPIFY_AND_GRAPHQL) -> Path:
    if text is not None:
        (tmp_path / "osiris_connections.yaml").write_text(textwrap.dedent(text), "utf-8")
    return tmp_path


# -- families Osiris does not know ------------------------------------------------------------


def test_unknown_families_load_are_listed_and_resolve(tmp_path: Path) -> None:
    file = ConnectionsFile.load(project(tmp_path), env=SECRETS)

    assert file.unknown_families() == ["graphql", "shopify"]
    assert [info.ref for info in file.aliases()] == [
        "@mysql.main",
        "@mysql.replica",
        "@graphql.github",
        "@shopify.store",
    ]
    assert {"@graphql", "@graphql.github", "@shopify.store"} <= file.refs()
    # a component for the family (another branch adds graphql.extractor) resolves it
    github = file.resolve("@graphql.github", "graphql")
    assert github.fields["headers"] == {"Authorization": "Bearer ghp_canary_77"}
    assert github.secret_values == frozenset()  # by name: an Authorization header is not


def test_a_family_name_that_is_not_a_name_is_still_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConnectionsFileError) as broken:
        ConnectionsFile.load(project(tmp_path, "connections:\n  'my db':\n    a: {}\n"), env={})
    assert broken.value.line == 2
    assert broken.value.message.endswith("invalid connection family 'my db'")


# -- the order ----------------------------------------------------------------------------------


def test_inline_fields_override_the_alias(tmp_path: Path) -> None:
    file = ConnectionsFile.load(project(tmp_path), env=SECRETS)

    resolved = file.resolve(
        "@mysql.replica", "mysql", {"host": "127.0.0.1", "database": "test", "user": "root"}
    )

    assert resolved.ref == "@mysql.replica"
    assert resolved.fields == {
        "host": "127.0.0.1",
        "user": "root",
        "password": "pw-4f9a-secret",
        "database": "test",
    }


def test_without_a_reference_the_default_alias_then_inline(tmp_path: Path) -> None:
    file = ConnectionsFile.load(project(tmp_path), env=SECRETS)

    resolved = file.resolve(None, "mysql", {"database": "reporting"})

    assert resolved.ref == "@mysql.main"
    assert (resolved.fields["host"], resolved.fields["database"]) == ("db.internal", "reporting")


def test_an_alias_named_default_is_the_default_as_in_0_5_7(tmp_path: Path) -> None:
    text = "connections:\n  mysql:\n    other: {host: a}\n    default: {host: b}\n"
    file = ConnectionsFile.load(project(tmp_path, text), env={})

    assert file.resolve(None, "mysql").ref == "@mysql.default"
    assert file.resolve("@mysql", "mysql").fields == {"host": "b"}


def test_the_environment_comes_last_when_the_file_has_no_such_family(tmp_path: Path) -> None:
    env = {
        "MYSQL_HOST": "127.0.0.1",
        "MYSQL_PORT": "3307",
        "MYSQL_USER": "root",
        "MYSQL_PASSWORD": "env-secret-9",
        "MYSQL_DATABASE": "test",
    }
    text = "connections:\n  filesystem:\n    local: {base_dir: data}\n"
    file = ConnectionsFile.load(project(tmp_path, text), env=env)

    resolved = file.resolve(None, "mysql", {"database": "inline_db"})

    assert resolved.ref == "@mysql (environment)"
    assert resolved.from_environment
    assert resolved.fields == {
        "host": "127.0.0.1",
        "port": 3307,
        "database": "inline_db",
        "user": "root",
        "password": "env-secret-9",
    }
    assert resolved.secret_values == frozenset({"env-secret-9"})
    assert "@mysql" in file.refs()
    assert file.resolve("@mysql", "mysql").fields["database"] == "test"


def test_the_environment_never_answers_for_a_named_alias(tmp_path: Path) -> None:
    file = ConnectionsFile.load(project(tmp_path, None), env={"MYSQL_HOST": "h"})

    with pytest.raises(UnknownConnectionError) as refused:
        file.resolve("@mysql.main", "mysql")
    assert str(refused.value).startswith("no connection @mysql.main in ")


def test_the_environment_never_overrides_a_connection_in_the_file(tmp_path: Path) -> None:
    env = {**SECRETS, "MYSQL_HOST": "elsewhere", "MYSQL_PASSWORD": "not-this-one"}
    resolved = ConnectionsFile.load(project(tmp_path), env=env).resolve(None, "mysql")

    assert (resolved.fields["host"], resolved.fields["password"]) == (
        "db.internal",
        "pw-4f9a-secret",
    )


@pytest.mark.parametrize("family", sorted(ENVIRONMENT_FIELDS))
def test_each_familys_variables_are_the_ones_0_5_7_reads(tmp_path: Path, family: str) -> None:
    variables = ENVIRONMENT_FIELDS[family]
    env = {name: "3306" if name.endswith("_PORT") else name.lower() for name in variables.values()}

    resolved = ConnectionsFile.load(project(tmp_path, None), env=env).resolve(None, family)

    expected = {field: env[name] for field, name in variables.items()}
    assert resolved.fields == {k: int(v) if k == "port" else v for k, v in expected.items()}


def test_no_connection_and_no_variables_says_both_ways_out(tmp_path: Path) -> None:
    with pytest.raises(UnknownConnectionError) as refused:
        ConnectionsFile.load(project(tmp_path, None), env={}).resolve(None, "supabase")
    assert refused.value.hint == (
        "add a supabase connection to osiris_connections.yaml (`osiris init` writes an example)"
        ", or set SUPABASE_URL, SUPABASE_PROJECT_ID, SUPABASE_SERVICE_ROLE_KEY, "
        "SUPABASE_ANON_PUBLIC_KEY"
    )


# -- what the manifest records ------------------------------------------------------------------

OML = """\
oml_version: "0.1.0"
name: inline_fields
steps:
  - id: extract
    component: mysql.extractor
    mode: read
    config:
      connection: "@mysql.replica"
      host: 127.0.0.1
      database: test
      user: root
      query: SELECT 1 AS x
  - id: write
    component: filesystem.csv_writer
    mode: write
    inputs: {df: "${extract.df}"}
    config: {path: out.csv}
"""


def manifest_connection(facts: dict[str, object], oml: str = OML) -> object:
    import yaml

    result = compile_source(oml, default_context(connection_facts=facts))
    assert result.ok, [d.to_dict() for d in result.diagnostics]
    steps = yaml.safe_load(result.files["manifest.yaml"])["steps"]
    return {step["id"]: step.get("connection") for step in steps}


def test_the_manifest_records_values_and_origins_never_secrets(tmp_path: Path) -> None:
    facts = ConnectionsFile.load(project(tmp_path), env=SECRETS).facts()

    recorded = manifest_connection(facts)

    assert recorded == {
        "extract": {
            "ref": "@mysql.replica",
            "fields": {
                "database": {"from": "inline", "value": "test"},
                "host": {"from": "inline", "value": "127.0.0.1"},
                "password": {"from": "@mysql.replica", "variable": "DB_PASSWORD", "secret": True},
                "user": {"from": "inline", "value": "root"},
            },
        },
        "write": None,  # no filesystem connection in the file: the project folder
    }
    everything = repr(facts)
    assert not any(secret in everything for secret in SECRETS.values())
    # a token inside a nested value, or a secret-named variable, is recorded as present only
    assert facts["@graphql.github"]["fields"]["headers"] == {
        "from": "@graphql.github",
        "variable": "GITHUB_TOKEN",
        "secret": True,
    }


def test_the_recorded_connection_is_deterministic_and_follows_the_file(tmp_path: Path) -> None:
    facts = ConnectionsFile.load(project(tmp_path), env=SECRETS).facts()
    first = compile_source(OML, default_context(connection_facts=facts))
    again = compile_source(OML, default_context(connection_facts=dict(reversed(facts.items()))))
    assert first.files == again.files

    moved = SHOPIFY_AND_GRAPHQL.replace("replica.internal", "replica2.internal")
    facts = ConnectionsFile.load(project(tmp_path, moved), env=SECRETS).facts()
    changed = compile_source(OML.replace("      host: 127.0.0.1\n", ""), default_context())
    with_facts = compile_source(
        OML.replace("      host: 127.0.0.1\n", ""), default_context(connection_facts=facts)
    )
    assert b"replica2.internal" in with_facts.files["manifest.yaml"]
    assert b"connection:" not in changed.files["manifest.yaml"]  # no facts handed in


def test_the_environment_fallback_is_recorded_with_its_variables(tmp_path: Path) -> None:
    env = {"MYSQL_HOST": "127.0.0.1", "MYSQL_PASSWORD": "env-secret-9", "MYSQL_USER": "root"}
    facts = ConnectionsFile.load(project(tmp_path, None), env=env).facts()

    recorded = manifest_connection(facts, OML.replace('      connection: "@mysql.replica"\n', ""))

    assert recorded["extract"] == {  # type: ignore[index]
        "ref": "@mysql",
        "from": "(environment)",
        "fields": {
            "database": {"from": "inline", "value": "test"},
            "host": {"from": "inline", "value": "127.0.0.1"},
            "password": {"from": "(environment)", "variable": "MYSQL_PASSWORD", "secret": True},
            "user": {"from": "inline", "value": "root"},
        },
    }


def test_an_inline_password_is_still_refused(tmp_path: Path) -> None:
    facts = ConnectionsFile.load(project(tmp_path), env=SECRETS).facts()
    oml = OML.replace("      user: root\n", "      user: root\n      password: hunter2x\n")

    result = compile_source(oml, default_context(connection_facts=facts))

    codes = [(d.code, d.hint) for d in result.diagnostics if d.is_error]
    assert [code for code, _ in codes] == ["SEC501"]
    assert "osiris_connections.yaml" in str(codes[0][1])
    assert not result.files


def test_an_e2b_sandbox_gets_the_environment_connection_as_an_alias(tmp_path: Path) -> None:
    """The sandbox has none of the local variables: an environment-resolved connection goes
    into its connections file as the family's default, its secret as a sandbox variable."""
    import yaml

    from runtime.adapters.e2b import _Layout, sandbox_connections

    env = {"MYSQL_HOST": "db.example", "MYSQL_USER": "etl", "MYSQL_PASSWORD": "env-secret-9"}
    root = project(tmp_path, "connections:\n  filesystem:\n    local: {base_dir: .}\n")

    text, secret_env = sandbox_connections(
        root, env, [("extract", "mysql", None), ("write", "filesystem", "local")], _Layout(root)
    )

    written = yaml.safe_load(text)["connections"]
    assert written["mysql"] == {
        "environment": {
            "default": True,
            "host": "db.example",
            "user": "etl",
            "password": "${OSIRIS_SECRET_1}",
        }
    }
    assert secret_env == {"OSIRIS_SECRET_1": "env-secret-9"}
    assert b"env-secret-9" not in text
    inside = tmp_path / "sandbox"
    inside.mkdir()
    (inside / "osiris_connections.yaml").write_bytes(text)
    resolved = ConnectionsFile.load(inside, env=secret_env).resolve(None, "mysql")
    assert resolved.fields["password"] == "env-secret-9"
