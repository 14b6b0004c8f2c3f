"""`osiris run` and `osiris logs` as a user sees them, and a secret that must never leak."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from osiris_mcp.cli import main
from runtime.redaction import Redactor
from tests.conftest import lay_out_quickstart


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return lay_out_quickstart(tmp_path, "params_and_profiles.yaml")


def test_run_json_and_logs(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "run",
        str(project / "pipelines" / "quickstart.yaml"),
        "--project",
        str(project),
        "--json",
    ]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["status"] == "success"
    assert [s["id"] for s in result["steps"]] == ["customers", "orders", "revenue", "write_revenue"]
    lines = (project / "output" / "revenue_by_customer.csv").read_text().splitlines()
    assert lines[0] == "customer_id,name,country,paid_orders,revenue"
    assert len(lines) == 9

    assert main(["logs", "list", "--project", str(project), "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert [r["session_id"] for r in runs] == [result["run_id"]]
    assert main(["logs", "show", "--last", "--project", str(project)]) == 0
    assert f"{result['run_id']}: success" in capsys.readouterr().out
    assert main(["logs", "bundle", "--session", result["run_id"], "--project", str(project)]) == 0
    bundle = capsys.readouterr().out
    for heading in (
        "## Steps",
        "## Manifest",
        "## Resolved configs",
        "## Event timeline",
        "## Metrics summary",
        "## Artifacts",
    ):
        assert heading in bundle
    assert "execution.step.complete [revenue]" in bundle
    assert "- id: revenue  # success: 68 rows read, 8 written," in bundle
    events = [
        json.loads(line)
        for line in (Path(result["session_dir"]) / "events.jsonl").read_text().splitlines()
    ]
    assert [e["event_type"] for e in events[:2]] == ["compilation.start", "compilation.complete"]


def test_run_exit_codes(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = project / "pipelines" / "broken.yaml"
    broken.write_text(
        (project / "pipelines" / "quickstart.yaml")
        .read_text()
        .replace("o.status = 'paid'", "CAST(o.status AS INTEGER) > 0")
    )
    assert main(["run", str(broken), "--project", str(project)]) == 1
    out = capsys.readouterr().out
    assert "step 'revenue' failed" in out
    invalid = project / "pipelines" / "invalid.yaml"
    invalid.write_text("oml_version: '0.1.0'\nname: x\nsteps: []\n")
    assert main(["run", str(invalid), "--project", str(project)]) == 2
    assert "error[OML107]" in capsys.readouterr().err
    # the failed attempt is on record, and its events say why
    assert main(["logs", "list", "--project", str(project), "--json"]) == 0
    latest = json.loads(capsys.readouterr().out)[0]
    assert (latest["pipeline"], latest["status"]) == ("invalid", "failed")  # file stem
    events = [
        json.loads(line)
        for line in (Path(latest["session_dir"]) / "events.jsonl").read_text().splitlines()
    ]
    assert [e["event_type"] for e in events] == ["compilation.start", "compilation.error"]
    assert events[1]["data"]["diagnostics"][0]["code"] == "OML107"
    assert main(["logs", "show", "--session", "run_nope", "--project", str(project)]) == 2
    assert main(["logs", "show", "--session", "../../etc", "--project", str(project)]) == 2


def test_run_a_build_folder_and_params(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pipeline = str(project / "pipelines" / "params_and_profiles.yaml")
    assert main(["compile", pipeline, "--project", str(project), "--profile", "dev", "--json"]) == 0
    build_dir = json.loads(capsys.readouterr().out)["build_dir"]
    assert main(["run", build_dir, "--project", str(project), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "success"
    rows = (project / "output" / "large_orders_dev.csv").read_text().splitlines()
    assert rows[0] == "order_id,customer_id,amount,ordered_at" and len(rows) == 11


def test_redactor_masks_values_urls_and_dsns() -> None:
    redactor = Redactor(["p@ss w0rd!"])
    record = {
        "error": "login failed for 'p@ss w0rd!'",
        "dsn": "host=x password=hunter2 dbname=y",
        "url": "postgresql://u:topsecret@h/db",
        "nested": ['quoted "p@ss w0rd!"'],
    }
    line = redactor.json_line(record)
    assert "p@ss w0rd!" not in line and "hunter2" not in line and "topsecret" not in line
    assert json.loads(line)["url"] == "postgresql://u:***@h/db"


CANARY = "Osiris-Canary-91c4e7"


@pytest.mark.db
def test_secret_canary_in_a_failing_database_login(project: Path, mysql_db: dict[str, Any]) -> None:
    """A wrong password whose value is a canary: it appears in no file and no output."""
    (project / "osiris_connections.yaml").write_text(
        "connections:\n  mysql:\n    main:\n      default: true\n"
        "      host: 127.0.0.1\n      port: 3306\n      user: root\n"
        f"      password: ${{CANARY_PASSWORD}}\n      database: {mysql_db['database']}\n"
    )
    (project / "pipelines" / "leak.yaml").write_text(
        'oml_version: "0.1.0"\nname: leak\nsteps:\n'
        "  - id: extract\n    component: mysql.extractor\n    mode: read\n"
        '    config: {connection: "@mysql.main", query: "SELECT 1 AS one"}\n'
    )
    env = {**os.environ, "CANARY_PASSWORD": CANARY, "OSIRIS_LOG_LEVEL": "TRACE"}
    outputs = []
    for extra in ([], ["--json"]):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "osiris_mcp.cli",
                "run",
                "pipelines/leak.yaml",
                "--project",
                ".",
                *extra,
            ],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 1, done.stderr
        outputs.append(done.stdout + done.stderr)
    assert all(CANARY not in out for out in outputs)
    assert "auth" in outputs[1]
    for path in project.rglob("*"):
        if path.is_file() and path.name != "osiris_connections.yaml":
            assert CANARY.encode() not in path.read_bytes(), path
