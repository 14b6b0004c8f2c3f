"""Bad input gets one clean message, never a traceback or a hang.

- The secret patterns (compiler and redactor) take time linear in their input: 5 MB of
  the texts that made the old regexes quadratic finish well under a generous cap (a
  `long` test: the cap is minutes, a quadratic pattern needed hours).
- Nesting is bounded (OML010) before any recursive stage sees the tree.
- A malformed osiris_connections.yaml or .env is one message with a hint from `osiris run`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from compiler.compile import validate_text
from tests.conftest import ROOT

#: Each of these made a quadratic pattern crawl: long runs of scheme characters, of
#: `://`, of `user:` before an `@`, of unterminated quoted `password='`.
HOSTILE = {
    "scheme characters": "a" * 5_000_000,
    "separators": "a://" * 1_250_000,
    "credentials": "x://" + "u:" * 2_500_000,
    "quoted passwords": "password='" * 500_000,
    "at signs": "p@" * 2_500_000,
    "query passwords": "?password=" * 500_000,
}

_LINEAR = """
import sys
from compiler.passes.secrets import embedded_password
from compiler.sql.safety import lexical_hazard
from components.sql.params import split_credentials
from runtime.redaction import Redactor
text = sys.stdin.read()
redactor = Redactor(["s3cret-value"])
redactor.text(text)
embedded_password(text)
lexical_hazard(text)
split_credentials(text)
print("done", len(text))
"""


@pytest.mark.long
@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_secret_patterns_are_linear_on_5_mb(kind: str) -> None:
    finished = subprocess.run(
        [sys.executable, "-c", _LINEAR],
        input=HOSTILE[kind],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,  # generous: linear work is seconds, quadratic was hours
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert finished.stdout.split() == ["done", str(len(HOSTILE[kind]))]


@pytest.mark.long
def test_a_huge_alias_validates_in_bounded_time() -> None:
    """A 4 MB scalar (under the 5 MB file limit) of `user:` runs goes through the whole
    compiler, secrets pass included."""
    source = (
        'oml_version: "0.1.0"\nname: big\nsteps:\n  - id: a\n    component: mysql.extractor\n'
        '    mode: read\n    config:\n      query: "SELECT 1"\n'
        '      description_note: "x://' + "u:" * 2_000_000 + '"\n'
    )
    script = "import sys\nfrom compiler.compile import validate_text\n"
    script += "print([d.code for d in validate_text(sys.stdin.read())])"
    finished = subprocess.run(
        [sys.executable, "-c", script],
        input=source,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "OML303" in finished.stdout  # the unknown key, reported; nothing hung


@pytest.mark.parametrize(
    "value",
    [
        "[" * 500 + "]" * 500,
        "{a: " * 300 + "1" + "}" * 300,
        "\n" + "".join("  " * (i + 3) + "- k:\n" for i in range(200)),
    ],
)
def test_deep_nesting_is_a_diagnostic(value: str) -> None:
    source = (
        'oml_version: "0.1.0"\nname: deep\nsteps:\n  - id: a\n    component: mysql.extractor\n'
        f'    mode: read\n    config:\n      query: "SELECT 1"\n      x: {value}\n'
    )
    codes = [d.code for d in validate_text(source)]
    assert codes == ["OML010"], codes


BROKEN_CONNECTIONS = [
    "connections: [",
    "{{{{",
    "connections:\n  mysql: 5\n",
    "connections:\n  filesystem: {a: [1]}\n",
    "connections:\n  filesystem:\n    a: {default: maybe, base_dir: .}\n",
    "connections:\n  filesystem:\n    a: {default: true, base_dir: .}\n    a: {}\n",
    "- just\n- a list\n",
    "connections:\n  1: {}\n",
    "\tconnections: {}\n",
]
BROKEN_DOTENV = [b'X="unterminated\n', b"\xff\xfe not utf-8", b"X='a\nY=1\n"]

PIPELINE = """oml_version: "0.1.0"
name: files
steps:
  - id: read
    component: filesystem.csv_extractor
    mode: read
    config: {path: in.csv}
  - id: write
    component: filesystem.csv_writer
    mode: write
    inputs: {df: "${read.df}"}
    config: {path: out.csv}
"""


def _run(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "osiris"), "run", "p.yaml"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("content", BROKEN_CONNECTIONS + BROKEN_DOTENV)
def test_a_malformed_connections_file_or_env_is_one_clean_message(
    tmp_path: Path, content: str | bytes
) -> None:
    (tmp_path / "p.yaml").write_text(PIPELINE)
    (tmp_path / "in.csv").write_text("id\n1\n")
    if isinstance(content, bytes):
        (tmp_path / ".env").write_bytes(content)
        (tmp_path / "osiris_connections.yaml").write_text(
            "connections:\n  filesystem:\n    local: {default: true, base_dir: .}\n"
        )
    else:
        (tmp_path / "osiris_connections.yaml").write_text(content)
    finished = _run(tmp_path)
    assert finished.returncode != 0
    assert "Traceback" not in finished.stderr + finished.stdout
    assert "error:" in finished.stderr and "hint:" in finished.stderr, finished.stderr
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.db
def test_connectorx_native_text_becomes_the_steps_error(
    pg_db: dict[str, Any], tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A read that fails mid-stream: connectorx's Rust side writes "cx writer failed: …"
    to fd 2. It is caught, scrubbed, and said in the step's error — not on stderr."""
    from components.postgres_extractor.driver import PostgresExtractor
    from components.protocol import DriverError
    from tests.components.stepcontext import make_context

    secret = "Cx-Secret-77aa"  # trust authentication on loopback ignores it
    fields = {**pg_db, "password": secret}
    ctx = make_context(tmp_path, fields, step_id="probe")
    query = f"SELECT 1 / (g - 50000) AS x, '{secret}' AS s FROM generate_series(1, 100000) g"
    with pytest.raises(DriverError) as failed:
        PostgresExtractor().run(ctx, {"query": query, "batch_size": 1000}, {})
    out, err = capfd.readouterr()
    assert "division by zero" in str(failed.value)
    assert "cx writer failed" not in err and secret not in err + out + str(failed.value)


@pytest.mark.db
def test_discovery_takes_a_dsn_that_sets_connect_timeout(tmp_path: Path) -> None:
    """A DSN carrying `connect_timeout` was given the setting twice (a TypeError traceback)."""
    (tmp_path / "osiris_connections.yaml").write_text(
        "connections:\n  postgres:\n    main:\n      default: true\n"
        '      dsn: "postgresql://postgres:x@127.0.0.1:5432/test?connect_timeout=5&sslmode=disable"\n'
    )
    finished = subprocess.run(
        [str(Path(sys.executable).parent / "osiris"), "discover", "@postgres.main"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "Traceback" not in finished.stderr
