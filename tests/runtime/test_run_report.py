"""`osiris logs html`: the run report page, opened in headless Chromium, shows what the run did.

The page is rendered by a real browser (Debian's `chromium`) and the assertions read the
DOM after rendering: step names, rows in and out, the failed step's error and hint, the
lineage, the timeline bars — and a secret of the project's connections, which the run
itself could not know (its step uses no connection with it) and which reached the logs
inside an error message, never appears on the page.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from osiris_mcp.cli import main

CANARY = "Canary-pw-html-5517"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

PIPELINE = """\
oml_version: "0.1.0"
name: report_demo
steps:
  - id: orders
    component: filesystem.csv_extractor
    mode: read
    config:
      path: orders.csv
  - id: paid
    component: duckdb.processor
    mode: transform
    inputs: {orders: "${orders.df}"}
    config:
      query: "SELECT id, amount FROM orders WHERE status = 'paid'"
  - id: write_paid
    component: filesystem.json_writer
    mode: write
    inputs: {df: "${paid.df}"}
    config:
      path: out/paid.json
  - id: codes
    component: filesystem.csv_extractor
    mode: read
    config:
      path: codes.csv
      dtype: {code: INTEGER}
"""


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        message = "Debian's chromium is not installed (apt-get install -y chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " — CI must run the browser tests", pytrace=False)
        pytest.skip(message)
    return found


def browse(page: Path, profile: Path, *extra: str) -> str:
    done = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return done.stdout


@pytest.fixture
def failed_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, str]:
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "osiris_connections.yaml").write_text(
        "connections:\n"
        "  filesystem:\n"
        "    local: {default: true, base_dir: data}\n"
        "  postgres:\n"
        "    other:\n"
        "      host: 127.0.0.1\n"
        "      user: someone\n"
        f"      password: ${{OTHER_PASSWORD:-{CANARY}}}\n"
        "      database: x\n"
    )
    (project / "data" / "orders.csv").write_text(
        "id,amount,status\n1,79.19,paid\n2,5.00,open\n3,0.10,paid\n"
    )
    (project / "data" / "codes.csv").write_text(f"code\n1\n{CANARY}\n")
    (project / "report_demo.yaml").write_text(PIPELINE)
    code = main(["run", str(project / "report_demo.yaml"), "--project", str(project), "--json"])
    run = json.loads(capsys.readouterr().out)
    assert code == 1 and run["status"] == "failed"
    return project, str(run["run_id"])


def test_the_page_shows_the_run_and_no_secret(
    failed_run: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project, run_id = failed_run
    session = next((project / "run_logs" / "report_demo").glob(run_id))
    # the canary reached the run's logs (quoted by DuckDB in the step's error)...
    assert CANARY in (session / "status.json").read_text()

    out = tmp_path / "report.html"
    argv = ["logs", "html", "--session", run_id, "--out", str(out), "--project", str(project)]
    assert main(argv) == 0
    assert capsys.readouterr().out == f"{out}\n"
    source = out.read_text("utf-8")
    assert CANARY not in source  # ...but not onto the page
    assert not re.search(r"<script|<link|src=|https?://(?!www\.w3\.org/2000/svg)", source)

    dom = browse(out, tmp_path / "profile", "--dump-dom")

    assert CANARY not in dom
    text = html.unescape(dom)
    assert f"Osiris run {run_id} — report_demo" in text
    rows = dict(
        (m[0], (m[1], m[2], m[3]))
        for m in re.findall(
            r'<tr data-step="([^"]+)">.*?<td class="status"[^>]*>(\w+)</td>'
            r'<td class="num rows-in">([\d,—]+)</td><td class="num rows-out">([\d,—]+)</td>',
            dom,
        )
    )
    assert rows == {
        "codes": ("failed", "0", "0"),
        "orders": ("success", "3", "3"),
        "paid": ("success", "3", "2"),
        "write_paid": ("success", "2", "2"),
    }
    errors = re.search(r'<div id="errors">(.*?)</div></div>', dom, re.S)
    assert errors is not None
    assert 'data-step="codes"' in errors.group(1)
    assert "hint: pin the column's type with dtype (e.g. {column: VARCHAR})" in html.unescape(
        errors.group(1)
    )
    assert "***" in errors.group(1)  # the secret is masked where it was
    assert sorted(re.findall(r'<g class="bar" data-step="([^"]+)">', dom)) == sorted(rows)
    lineage = re.search(r'<div id="lineage">(.*?)</div>', dom, re.S)
    assert lineage is not None
    assert re.findall(r"<td>paid</td><td>(\w+)</td><td>([^<]+)</td>", lineage.group(1)) == [
        ("amount", "orders.amount"),
        ("id", "orders.id"),
    ]
    assert 'id="run-status"' in dom and ">failed</span>" in dom


def test_the_page_renders_as_an_image(
    failed_run: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project, _ = failed_run
    assert main(["logs", "html", "--last", "--project", str(project)]) == 0
    page = Path(capsys.readouterr().out.strip())
    assert page.name == "report.html" and page.parent.parent.name == "report_demo"

    shot = tmp_path / "report.png"
    browse(page, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1000,1200")

    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_html_needs_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["logs", "html", "--last", "--project", str(tmp_path)]) == 2
    assert "no runs yet" in capsys.readouterr().err
    assert main(["logs", "html", "--session", "run_x", "--project", str(tmp_path)]) == 2


def test_a_run_that_never_compiled_shows_the_diagnostics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "broken.yaml").write_text(
        'oml_version: "0.1.0"\nname: broken\nsteps:\n'
        "  - {id: a, component: filesystem.csv_extractor, mode: read, config: {pathh: x.csv}}\n"
    )
    assert main(["run", str(tmp_path / "broken.yaml"), "--project", str(tmp_path)]) != 0
    capsys.readouterr()
    assert main(["logs", "html", "--last", "--project", str(tmp_path), "--json"]) == 0
    page = Path(json.loads(capsys.readouterr().out)["report"]).read_text("utf-8")

    diagnostics = re.findall(
        r'<div class="error diagnostic"><strong>(\w+)</strong> at (\d+:\d+)', page
    )
    assert diagnostics == [("OML302", "4:62"), ("OML303", "4:71")]
    assert "hint: did you mean 'path'?" in html.unescape(page)
