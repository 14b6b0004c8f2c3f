"""A secret canary in the connection password: only ever an environment variable of the sandbox.

PostgreSQL on 127.0.0.1 trusts local connections, so the password is sent and ignored and
the run succeeds — the canary really travelled. It must not be in any file written into
the sandbox (the bundle, unpacked or not, and everything the run inside wrote), nor in
the local session or project, nor on any command line: only in the run command's
environment.
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path
from typing import Any

import pytest

from runtime.adapters.e2b import SECRET_VARIABLE
from runtime.adapters.sandbox import LocalProcessTransport
from tests.e2b.conftest import EXAMPLES, build, run_sandboxed

CANARY = "E2B-Canary-5f0c2a91d7"
PIPELINE = """oml_version: "0.1.0"
name: canary
steps:
  - id: orders
    component: filesystem.csv_extractor
    mode: read
    config: {path: data/orders.csv}
  - id: load
    component: postgres.writer
    mode: write
    inputs: {df: "${orders.df}"}
    config: {connection: "@postgres.main", table: canary_orders, write_mode: replace}
"""


def files_holding(root: Path, needle: bytes) -> list[str]:
    """Every file under `root` whose bytes (or gunzipped bytes) hold `needle`."""
    found = []
    for path in root.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        data = path.read_bytes()
        if path.suffix == ".gz":
            data += gzip.decompress(data)
        if needle in data:
            found.append(str(path))
    return found


@pytest.mark.db
def test_the_password_travels_only_as_an_environment_variable(
    tmp_path: Path,
    pg_db: dict[str, Any],
    keeping_transport: LocalProcessTransport,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    shutil.copy(EXAMPLES / "data" / "orders.csv", project / "data" / "orders.csv")
    (project / "osiris_connections.yaml").write_text(
        "connections:\n"
        "  filesystem:\n    local: {default: true, base_dir: .}\n"
        "  postgres:\n    main:\n      host: 127.0.0.1\n      port: 5432\n"
        "      user: postgres\n      password: ${CANARY_PASSWORD}\n      database: test\n"
        f"      schema: {pg_db['schema']}\n"
    )
    monkeypatch.setenv("CANARY_PASSWORD", CANARY)
    build_dir = build(project, PIPELINE)

    sandboxed = run_sandboxed(project, build_dir, keeping_transport)

    assert sandboxed.status == "success", sandboxed.steps
    (sandbox,) = keeping_transport.created
    assert sandbox.killed
    needle = CANARY.encode()
    assert files_holding(Path(sandbox.root), needle) == []
    assert sandbox.written and all(needle not in Path(p).read_bytes() for p in sandbox.written)
    assert files_holding(project, needle) == []
    for command in sandbox.commands:
        assert CANARY not in command.command
    run_command = next(c for c in sandbox.commands if "runtime.adapters.inside" in c.command)
    assert run_command.envs[SECRET_VARIABLE.format(1)] == CANARY
    connections = (Path(sandbox.root) / "project" / "osiris_connections.yaml").read_text()
    assert "password: ${OSIRIS_SECRET_1}" in connections
