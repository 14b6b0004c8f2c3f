"""`osiris init` and `osiris connections list|doctor`, through the real CLI entry point."""

from __future__ import annotations

import json
import socket
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from osiris_mcp.cli import main
from runtime.connections import ConnectionsFile, read_dotenv


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write_project(root: Path, connections: str, dotenv: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "osiris_connections.yaml").write_text(textwrap.dedent(connections), "utf-8")
    if dotenv is not None:
        (root / ".env").write_text(dotenv, "utf-8")
    return root


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(autouse=True)
def no_osiris_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OSIRIS_HOME", raising=False)


# -- init --------------------------------------------------------------------------------------


def test_init_scaffolds_a_project(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "shop"

    code, out, err = run_cli(capsys, "init", str(target))

    assert (code, err) == (0, "")
    assert sorted(p.name for p in target.iterdir()) == [
        ".env.example",
        ".gitignore",
        "data",
        "osiris_connections.yaml",
        "pipelines",
    ]
    assert out.splitlines()[:6] == [
        f"created in {target}:",
        "  osiris_connections.yaml",
        "  .env.example",
        "  .gitignore",
        "  pipelines/",
        "  data/",
    ]
    ignored = [
        line
        for line in (target / ".gitignore").read_text("utf-8").splitlines()
        if line and not line.startswith("#")
    ]
    assert ignored == [".env", "run_logs/", "build/", ".osiris/"]


#: sha256 of what `osiris init` wrote while its templates were Python strings in
#: osiris_mcp/commands/init.py; they moved to osiris_mcp/scaffold/ unchanged. A change to
#: a template is a reviewed change: update its digest here with it.
SCAFFOLD_SHA256 = {
    "osiris_connections.yaml": "42a553d2a2a521c46a13ee766ed0ea1da5438bfc207d655c26966f10fe6ddc7a",
    ".env.example": "ce4fcd43aff3c05b94ba8c507ad1a1aed8fc326107c4c04bb64242f369c33fbf",
    ".gitignore": "5510c3f16d69e91db213754943c30ccc2c2bad5331769d4d86adbf224a0b3c58",
}


def test_init_writes_the_scaffold_byte_for_byte(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import hashlib

    run_cli(capsys, "init", str(tmp_path))

    written = {
        name: hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() for name in SCAFFOLD_SHA256
    }
    assert written == SCAFFOLD_SHA256


def test_init_connections_have_one_default_per_family_and_secrets_as_variables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_cli(capsys, "init", str(tmp_path))

    example = read_dotenv(tmp_path / ".env.example")
    file = ConnectionsFile.load(tmp_path, env=example)
    infos = file.aliases()

    assert [(info.ref, info.is_default) for info in infos] == [
        ("@mysql.main", True),
        ("@postgres.main", True),
        ("@supabase.main", True),
        ("@filesystem.local", True),
    ]
    assert all(info.missing_variables == () for info in infos)
    text = (tmp_path / "osiris_connections.yaml").read_text("utf-8")
    assert "password: ${MYSQL_PASSWORD}" in text
    assert "password: ${PG_PASSWORD}" in text
    assert "password: ${SUPABASE_DB_PASSWORD}" in text
    assert file.resolve("@filesystem", "filesystem").fields == {"base_dir": str(tmp_path / "data")}
    assert sorted(example) == [
        "MYSQL_DATABASE",
        "MYSQL_HOST",
        "MYSQL_PASSWORD",
        "MYSQL_PORT",
        "MYSQL_USER",
        "PG_DATABASE",
        "PG_HOST",
        "PG_PASSWORD",
        "PG_PORT",
        "PG_USER",
        "SUPABASE_DB_HOST",
        "SUPABASE_DB_PASSWORD",
        "SUPABASE_DB_USER",
    ]


def test_init_refuses_to_overwrite_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".gitignore").write_text("mine\n", "utf-8")
    (tmp_path / ".env.example").write_text("MINE=1\n", "utf-8")

    code, out, err = run_cli(capsys, "init", str(tmp_path))

    assert (code, out) == (1, "")
    assert err == (
        f"osiris: error: {tmp_path} already has .env.example, .gitignore; nothing was written\n"
        "  hint: use --force to overwrite them\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env.example", ".gitignore"]
    assert (tmp_path / ".gitignore").read_text("utf-8") == "mine\n"


def test_init_force_overwrites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / ".gitignore").write_text("mine\n", "utf-8")

    code, out, _ = run_cli(capsys, "init", str(tmp_path), "--force")

    assert code == 0
    assert out.splitlines()[0] == f"wrote (overwriting .gitignore) in {tmp_path}:"
    assert (tmp_path / ".gitignore").read_text("utf-8").splitlines()[1] == ".env"


# -- connections list --------------------------------------------------------------------------

LISTED = """\
connections:
  mysql:
    main:
      default: true
      host: 127.0.0.1
      user: root
      password: ${MYSQL_PASSWORD}
    replica:
      host: replica.internal
      user: reader
      password: ${REPLICA_PASSWORD}
  postgres:
    dw:
      pg_dsn: postgresql://etl:${PG_PASSWORD}@pg.internal/dw
      url: postgresql://etl:${PG_PASSWORD}@pg.internal/dw
"""


def test_connections_list_json_masks_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = f"canary-{uuid.uuid4().hex}"
    monkeypatch.delenv("REPLICA_PASSWORD", raising=False)
    project = write_project(tmp_path, LISTED, f"MYSQL_PASSWORD={secret}\nPG_PASSWORD={secret}\n")

    code, out, err = run_cli(capsys, "connections", "list", "--json", "--project", str(project))

    assert (code, err) == (0, "")
    assert secret not in out
    assert json.loads(out) == {
        "connections_file": str(project / "osiris_connections.yaml"),
        "connections": [
            {
                "ref": "@mysql.main",
                "family": "mysql",
                "alias": "main",
                "default": True,
                "fields": {"host": "127.0.0.1", "user": "root", "password": "***"},
                "missing_variables": [],
            },
            {
                "ref": "@mysql.replica",
                "family": "mysql",
                "alias": "replica",
                "default": False,
                "fields": {"host": "replica.internal", "user": "reader", "password": "***"},
                "missing_variables": ["REPLICA_PASSWORD"],
            },
            {
                "ref": "@postgres.dw",
                "family": "postgres",
                "alias": "dw",
                "default": True,
                "fields": {"pg_dsn": "***", "url": "postgresql://etl:***@pg.internal/dw"},
                "missing_variables": [],
            },
        ],
    }


def test_connections_list_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REPLICA_PASSWORD", raising=False)
    project = write_project(tmp_path, LISTED, "MYSQL_PASSWORD=\nPG_PASSWORD=pw-pg\n")
    monkeypatch.setenv("OSIRIS_HOME", str(project))

    code, out, _ = run_cli(capsys, "connections")

    assert code == 0
    assert out == (
        f"{project / 'osiris_connections.yaml'}\n"
        "CONNECTION      DEFAULT  FIELDS\n"
        '@mysql.main     yes      host=127.0.0.1 user=root password=""\n'
        "@mysql.replica           host=replica.internal user=reader password=***"
        "  (unset: REPLICA_PASSWORD)\n"
        "@postgres.dw    yes      pg_dsn=*** url=postgresql://etl:***@pg.internal/dw\n"
    )


def test_connections_without_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "connections", "list", "--project", str(tmp_path))

    assert (code, out) == (1, "")
    assert err == (
        f"osiris: error: no osiris_connections.yaml in {tmp_path}\n"
        "  hint: create one with `osiris init`, or choose the project with --project DIR\n"
    )


def test_connections_with_a_broken_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_project(tmp_path, "connections:\n  mysql:\n    main: {host: a}\n    main: {host: b}\n")

    code, out, _ = run_cli(capsys, "connections", "list", "--json", "--project", str(tmp_path))

    assert code == 1
    assert json.loads(out) == {
        "ok": False,
        "error": {
            "message": f"{tmp_path / 'osiris_connections.yaml'}:4: duplicate key 'main'",
            "hint": None,
        },
    }


def test_connections_list_takes_no_reference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(capsys, "connections", "list", "@mysql.main")

    assert code == 2
    assert err == (
        "osiris: error: `connections list` takes no connection; "
        "did you mean `connections doctor`?\n"
    )


# -- connections doctor ------------------------------------------------------------------------


def doctor_project(root: Path, mysql: dict[str, Any], port: int) -> Path:
    return write_project(
        root,
        f"""\
        connections:
          mysql:
            main:
              host: {mysql["host"]}
              port: {mysql["port"]}
              user: {mysql["user"]}
              password: "${{MYSQL_PASSWORD}}"
              database: {mysql["database"]}
            wrong:
              host: {mysql["host"]}
              port: {mysql["port"]}
              user: {mysql["user"]}
              password: "${{CANARY}}"
            gone:
              host: 127.0.0.1
              port: {port}
              user: nobody
        """,
        "MYSQL_PASSWORD=\n",
    )


@pytest.mark.db
def test_doctor_one_connection_json(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    mysql_db: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CANARY", "unused")
    project = doctor_project(tmp_path, mysql_db, closed_port())

    code, out, err = run_cli(
        capsys, "connections", "doctor", "@mysql.main", "--json", "--project", str(project)
    )

    assert (code, err) == (0, "")
    report = json.loads(out)
    assert report["ok"] is True
    [check] = report["checks"]
    assert (check["ref"], check["ok"], check["category"], check["hint"]) == (
        "@mysql.main",
        True,
        None,
        None,
    )
    assert check["latency_ms"] > 0


@pytest.mark.db
def test_doctor_all_reports_each_failure_and_never_a_secret(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    mysql_db: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = f"canary-{uuid.uuid4().hex}"
    monkeypatch.setenv("CANARY", secret)
    port = closed_port()
    project = doctor_project(tmp_path, mysql_db, port)

    code, out, err = run_cli(capsys, "connections", "doctor", "--project", str(project))
    json_code, json_out, _ = run_cli(
        capsys, "connections", "doctor", "--json", "--timeout", "30", "--project", str(project)
    )

    assert (code, json_code) == (1, 1)
    assert secret not in out + err + json_out
    lines = out.splitlines()
    assert lines[0].split() == ["CONNECTION", "STATUS", "LATENCY", "CATEGORY", "DETAIL"]
    assert lines[1].split()[:2] == ["@mysql.main", "ok"]
    assert lines[2].split()[:2] == ["@mysql.wrong", "FAILED"]
    assert "auth" in lines[2]
    assert lines[3].strip() == (
        "hint: check `user` and `password` (or the variable they come from, e.g. in .env)"
    )
    assert lines[4].split()[:2] == ["@mysql.gone", "FAILED"]
    assert "network" in lines[4] and f"127.0.0.1:{port}" in lines[4]
    assert lines[-1] == "1 of 3 connections ok"
    checks = json.loads(json_out)["checks"]
    assert [(c["ref"], c["ok"], c["category"]) for c in checks] == [
        ("@mysql.main", True, None),
        ("@mysql.wrong", False, "auth"),
        ("@mysql.gone", False, "network"),
    ]


def test_doctor_unknown_reference(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = write_project(tmp_path, "connections:\n  mysql:\n    main: {host: h, user: u}\n")

    code, out, _ = run_cli(
        capsys, "connections", "doctor", "@mysql.mian", "--json", "--project", str(project)
    )

    assert code == 1
    assert json.loads(out) == {
        "ok": False,
        "checks": [
            {
                "ref": "@mysql.mian",
                "ok": False,
                "latency_ms": None,
                "category": "config",
                "message": f"no connection @mysql.mian in {project / 'osiris_connections.yaml'}",
                "hint": "did you mean @mysql.main?",
            }
        ],
    }
