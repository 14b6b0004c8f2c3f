"""Secret canaries through the real `osiris` command line, TRACE logging on.

Every kind of secret — a MySQL password (from `.env`), a Supabase service-role key and
database password, a password inside a URL `pg_dsn` and inside a key=value `dsn` — is used
for real by a run that succeeds, by runs whose drivers fail (wrong password, unreachable
host, unknown role, SQL errors), by the doctor, discovery, validate, compile (`--json`,
`--debug`), and the logs commands (list, show, bundle). No spelling of any canary may
appear in any output or in any file under the project (its `.env` aside).

Narrower canary tests this suite builds on: tests/compiler/test_compile.py (inline
secrets in compiled files), tests/runtime/test_run_cli.py (a failing MySQL login),
tests/runtime/test_connections.py (the doctor), tests/components/test_*_drivers.py
(driver error messages), tests/mcp/test_security.py, tests/e2b/test_secrets.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.redaction import Redactor, encoded_forms
from tests.security.conftest import (
    CANARIES,
    DSN_KV_PASSWORD,
    DSN_URL_PASSWORD,
    FAILURES,
    MYSQL_PASSWORD,
    SUPABASE_KEY,
    Canary,
    CanaryProject,
    assert_no_leak,
    leaking_files,
    leaks,
    pg_kv,
    pg_url,
)

pytestmark = pytest.mark.db


def test_no_canary_leaves_through_the_command_line(canary_project: CanaryProject) -> None:
    project = canary_project
    # connections: listed (masked), checked for real (ok and failing)
    project.osiris("connections", "list")
    project.osiris("connections", "list", "--json")
    project.osiris("connections", "doctor", expect=None)
    doctor = project.osiris("connections", "doctor", "--json", expect=None).json()
    ok = {check["ref"]: check["ok"] for check in doctor["checks"]}
    assert ok["@mysql.canary"] and ok["@supabase.canary"] and ok["@supabase.pw"]
    assert ok["@postgres.canary"]
    assert not (ok["@mysql.wrong"] or ok["@mysql.down"] or ok["@supabase.down"])
    assert not (ok["@postgres.down"] or ok["@postgres.ghost"])

    # runs whose drivers fail, each with a canary in its connection
    for name, (_, category) in FAILURES.items():
        result = project.osiris("run", f"pipelines/{name}.yaml", "--json", expect=1).json()
        (failed,) = [s for s in result["steps"] if s["status"] == "failed"]
        assert (result["status"], failed.get("category")) == ("failed", category), result
        project.osiris("run", f"pipelines/{name}.yaml", expect=1)

    # the run that uses every secret and succeeds
    project.osiris("validate", "pipelines/transfer.yaml")
    compiled = project.osiris("compile", "pipelines/transfer.yaml", "--json").json()
    project.osiris("compile", "pipelines/transfer.yaml", "--debug")
    result = project.osiris("run", "pipelines/transfer.yaml", "--json").json()
    assert result["status"] == "success", result
    project.osiris("run", compiled["build_dir"])
    rows = (project.root / "output" / "people.csv").read_text().splitlines()
    assert rows == ["id,name", "1,Ada", "2,Grace"]

    # discovery, cached catalogs included
    for ref in ("@mysql.canary", "@supabase.canary", "@supabase.pw", "@postgres.canary"):
        project.osiris("discover", ref, "--json")
    for ref in ("@mysql.wrong", "@mysql.down", "@supabase.down", "@postgres.ghost"):
        project.osiris("discover", ref, expect=None)

    # every run's logs, every way they are shown
    project.osiris("logs", "list")
    project.osiris("logs", "show", "--last")
    project.osiris("logs", "show", "--last", "--json")
    runs = project.osiris("logs", "list", "--json").json()
    assert len(runs) == 2 * len(FAILURES) + 2
    for run in runs:
        project.osiris("logs", "show", "--session", run["session_id"], expect=None)
        project.osiris("logs", "bundle", "--session", run["session_id"])

    for output in project.outputs:
        assert_no_leak(output, output.splitlines()[0])
    assert leaking_files(project.root) == {}
    connections = (project.root / "osiris_connections.yaml").read_text()
    assert not leaks(connections)  # the file names variables, never values


def test_an_inline_secret_is_refused_and_never_echoed(canary_project: CanaryProject) -> None:
    """Secrets written into OML (SEC501-503), in the spellings YAML gives them: the
    diagnostics, the source lines they quote and the recorded failure show none."""
    project = canary_project
    key = json.dumps(DSN_URL_PASSWORD.value)  # a double-quoted YAML scalar: `\"` escapes
    kv = "'" + DSN_KV_PASSWORD.value.replace("'", "''") + "'"  # single-quoted: `''`
    source = (
        'oml_version: "0.1.0"\nname: inline\nsteps:\n'
        "  - id: a\n    component: mysql.extractor\n    mode: read\n    config:\n"
        '      query: "SELECT 1 AS one"\n'
        f"      password: {json.dumps(MYSQL_PASSWORD.value)}\n"
        "  - id: b\n    component: supabase.extractor\n    mode: read\n    config:\n"
        '      query: "SELECT 1 AS one"\n'
        f"      key: {key}\n"
        f"      pg_dsn: {json.dumps(pg_url(DSN_URL_PASSWORD.value))}\n"
        "  - id: c\n    component: postgres.extractor\n    mode: read\n"
        f"    description: {json.dumps(pg_kv(DSN_KV_PASSWORD.value))}\n    config:\n"
        '      query: "SELECT 1 AS one"\n'
        f"      password: {kv}\n"
    )
    (project.root / "pipelines" / "inline.yaml").write_text(source, encoding="utf-8")
    for command in (
        ("validate", "pipelines/inline.yaml"),
        ("validate", "pipelines/inline.yaml", "--json"),
        ("compile", "pipelines/inline.yaml"),
        ("compile", "pipelines/inline.yaml", "--json"),
        ("run", "pipelines/inline.yaml"),
        ("run", "pipelines/inline.yaml", "--json"),
    ):
        out = str(project.osiris(*command, expect=None))
        assert out.startswith("exit ") and not out.startswith("exit 0"), out
        assert "SEC501" in out and "SEC503" in out, out
        assert_no_leak(out, " ".join(command))
    assert leaking_files(project.root, ("pipelines/inline.yaml",)) == {}


@pytest.mark.parametrize("canary", CANARIES, ids=lambda c: c.variable)
def test_the_redactor_masks_every_spelling(canary: Canary) -> None:
    """The one redactor (runtime/redaction.py) knows each canary in every encoding the scan
    looks for (base64 aside: that is the scan's extra net, not a spelling text carries)."""
    redactor = Redactor([canary.value])
    for spelling in encoded_forms(canary.value):
        masked = redactor.text(f"error: {spelling} (retrying)")
        assert canary.marker not in masked, (spelling, masked)
    record = {"error": f"login failed with {canary.value!r}", "url": pg_url(canary.value)}
    assert canary.marker not in redactor.json_line(record)


def test_the_scan_finds_what_it_looks_for(tmp_path: Path) -> None:
    """The scan is not vacuous: a canary in any spelling, gzipped or not, is found."""
    import gzip

    (tmp_path / "a.txt").write_text(f"x {DSN_KV_PASSWORD.value!r} y")
    (tmp_path / "b.gz").write_bytes(gzip.compress(pg_url(DSN_URL_PASSWORD.value).encode()))
    (tmp_path / ".env").write_text(MYSQL_PASSWORD.value)  # the secret's own home
    assert sorted(leaking_files(tmp_path)) == ["a.txt", "b.gz"]


def test_a_param_named_like_a_credential_is_refused(tmp_path: Path) -> None:
    """A param's value goes into manifest.yaml, meta.json and the run logs: a param named
    like a credential is SEC502, and its value shows nowhere."""
    (tmp_path / "p.yaml").write_text(
        'oml_version: "0.1.0"\nname: p\nparams:\n  api_token: {type: string}\nsteps:\n'
        "  - id: a\n    component: duckdb.processor\n    mode: transform\n"
        '    config: {query: "SELECT 1 AS one"}\n'
    )
    param = f"api_token={SUPABASE_KEY.value}"
    for command in ("validate", "compile", "run"):
        done = subprocess.run(
            [sys.executable, "-m", "osiris_mcp.cli", command, "p.yaml", "--param", param],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode != 0 and "SEC502" in done.stdout + done.stderr, done
        assert_no_leak(done.stdout + done.stderr, command)
    assert leaking_files(tmp_path) == {}
