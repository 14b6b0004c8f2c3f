"""`--verify-sql`: the real MariaDB and PostgreSQL servers PREPARE each extract query.

The queries here pass every compiler check (no catalog: the compiler cannot know the
columns), so only the server can refuse them; the diagnostic points into the OML file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from osiris_mcp.cli import main
from tests.mcp.conftest import make_server, ok

pytestmark = pytest.mark.db


def project_with(tmp_path: Path, family: str, fields: dict[str, Any]) -> Path:
    lines = [f"      {k}: {v}" for k, v in fields.items() if k != "password" and v != ""]
    (tmp_path / "osiris_connections.yaml").write_text(
        "connections:\n"
        f"  {family}:\n"
        "    db:\n"
        "      default: true\n" + "\n".join(lines) + "\n"
        "    down: {host: 127.0.0.1, port: 1, user: nobody, database: nothing}\n"
        "  filesystem:\n    local: {default: true, base_dir: .}\n"
    )
    return tmp_path


def pipeline(tmp_path: Path, family: str, query: str, connection: str = "@{f}.db") -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(
        'oml_version: "0.1.0"\n'
        "name: verify\n"
        "steps:\n"
        "  - id: extract\n"
        f"    component: {family}.extractor\n"
        "    mode: read\n"
        "    config:\n"
        f'      connection: "{connection.format(f=family)}"\n'
        f"      query: {query}\n"
        "  - id: save\n"
        "    component: filesystem.csv_writer\n"
        "    mode: write\n"
        "    needs: [extract]\n"
        "    config: {path: out/movies.csv}\n"
    )
    return path


@pytest.fixture
def mysql_project(tmp_path: Path, mysql_db: dict[str, Any]) -> Path:
    import pymysql

    with pymysql.connect(**mysql_db, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE movies (movie_id INT PRIMARY KEY, title VARCHAR(80))")
        cur.execute("INSERT INTO movies VALUES (1, 'Alien')")
    return project_with(tmp_path, "mysql", mysql_db)


@pytest.fixture
def pg_project(tmp_path: Path, pg_db: dict[str, Any]) -> Path:
    import psycopg

    conninfo = "host={host} port={port} user={user} dbname={database}".format(**pg_db)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE TABLE "{pg_db["schema"]}".movies (movie_id int, title text)')
    return project_with(tmp_path, "postgres", pg_db)


def compile_json(path: Path, project: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    code = main(["compile", str(path), "--project", str(project), "--verify-sql", "--json"])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("family", ["mysql", "postgres"])
def test_the_server_refuses_an_unknown_column_at_its_place_in_the_file(
    family: str,
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = request.getfixturevalue(f"{'mysql' if family == 'mysql' else 'pg'}_project")
    path = pipeline(project, family, "SELECT movie_id, rating FROM movies")
    code, result = compile_json(path, project, capsys)
    assert code == 2 and result["ok"] is False
    [found] = result["diagnostics"]
    assert (found["code"], found["line"], found["column"]) == ("SQL413", 9, 31)
    assert "rating" in found["message"]
    assert not (project / "build").exists()  # a refused query writes no build

    # without --verify-sql the same pipeline compiles: only the server could tell
    assert main(["compile", str(path), "--project", str(project)]) == 0


@pytest.mark.parametrize("family", ["mysql", "postgres"])
def test_a_query_the_server_accepts_compiles_and_no_row_is_read(
    family: str, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    project = request.getfixturevalue(f"{'mysql' if family == 'mysql' else 'pg'}_project")
    path = pipeline(project, family, "SELECT movie_id, title FROM movies WHERE movie_id > 0")
    code, result = compile_json(path, project, capsys)
    assert (code, result["ok"], result["diagnostics"]) == (0, True, [])
    assert not (project / "out").exists()


def test_an_unreachable_server_is_a_clear_error_without_a_traceback(
    mysql_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = pipeline(mysql_project, "mysql", "SELECT movie_id FROM movies", "@mysql.down")
    assert main(["validate", str(path), "--project", str(mysql_project), "--verify-sql"]) == 1
    shown = capsys.readouterr()
    assert "error[SQL414]: the query could not be verified: cannot connect" in shown.out
    assert "Traceback" not in shown.out + shown.err


@pytest.mark.anyio
async def test_oml_validate_verifies_sql_only_when_asked(pg_project: Path) -> None:
    oml = pipeline(pg_project, "postgres", "SELECT movie_id, rating FROM movies").read_text()
    async with Client(make_server(pg_project)) as client:
        plain = await ok(client, "oml_validate", {"oml": oml})
        verified = await ok(client, "oml_validate", {"oml": oml, "verify_sql": True})
    assert plain["valid"] is True
    assert verified["valid"] is False
    [found] = verified["diagnostics"]
    assert (found["code"], found["line"], found["column"]) == ("SQL413", 9, 31)
