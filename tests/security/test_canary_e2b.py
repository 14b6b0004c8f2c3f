"""Secret canaries through `osiris run --e2b` (the local process sandbox stands in for E2B).

Every kind of secret goes up with the plan: the sandbox gets a connections file whose
secrets are `${OSIRIS_SECRET_<n>}` placeholders and the values only as environment
variables of its run command. Nothing written into the sandbox (the bundle, unpacked or
not, and everything the run inside wrote), no command line, no file of the local project
or session holds a canary — for a run that succeeds and for runs that fail in a driver.
tests/e2b/test_secrets.py is the narrower first version (one PostgreSQL password).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.adapters import RunRequest
from runtime.adapters.e2b import SECRET_VARIABLE, E2BOptions, run_in_sandbox
from runtime.adapters.sandbox import LocalProcessTransport
from tests.e2b.conftest import build
from tests.security.conftest import (
    CANARIES,
    DSN_KV_PASSWORD,
    FAILURES,
    MYSQL_WRONG,
    SUPABASE_KEY,
    SUPABASE_PASSWORD,
    TRANSFER,
    Canary,
    CanaryProject,
    assert_no_leak,
    leaking_files,
    leaks,
)

pytestmark = pytest.mark.db


@pytest.mark.parametrize(
    ("source", "status", "travelling"),
    [
        (TRANSFER, "success", set(CANARIES) - {MYSQL_WRONG}),
        (FAILURES["mysql_wrong_password"][0], "failed", {MYSQL_WRONG}),
        (FAILURES["postgres_unreachable"][0], "failed", {DSN_KV_PASSWORD}),
        (FAILURES["supabase_sql_error"][0], "failed", {SUPABASE_KEY, SUPABASE_PASSWORD}),
    ],
    ids=["success", "wrong_password", "unreachable", "sql_error"],
)
def test_secrets_reach_the_sandbox_only_as_environment_variables(
    canary_project: CanaryProject,
    sandbox_cache: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    source: str,
    status: str,
    travelling: set[Canary],
) -> None:
    project = canary_project
    for name, value in project.env.items():
        if name.startswith("CANARY_"):
            monkeypatch.setenv(name, value)
    transport = LocalProcessTransport(sandbox_cache, workdir=tmp_path / "sandboxes", keep=True)
    build_dir = build(project.root, source)

    collected = run_in_sandbox(
        RunRequest(build_dir, project.root), E2BOptions(data=True), transport
    )

    assert (collected.status, collected.error) == (status, None), collected.steps
    (sandbox,) = transport.created
    assert sandbox.killed and sandbox.written
    root = Path(sandbox.root)
    assert leaking_files(root) == {}  # the bundle, the unpacked project, the run inside
    for command in sandbox.commands:
        assert_no_leak(command.command, "a sandbox command line")
        assert_no_leak(command.cwd, "a sandbox working directory")
        carriers = {name for name, value in command.envs.items() if leaks(value)}
        assert all(name.startswith(SECRET_VARIABLE.format("")) for name in carriers), carriers
    run_command = next(c for c in sandbox.commands if "runtime.adapters.inside" in c.command)
    carried = "\n".join(run_command.envs.values())
    # the secrets really travelled (else the test would prove nothing), and only these
    assert {c for c in CANARIES if c.marker in carried} == travelling
    assert leaking_files(project.root) == {}  # the local session and project
    assert_no_leak(repr(collected), "the collected result")


def test_a_link_to_a_hidden_file_is_not_uploaded(
    canary_project: CanaryProject,
    sandbox_cache: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A CSV path that is a symlink to `.env` fails the run, and its target is not packed
    into the upload: the secrets it holds stay on this machine. (The scans skip files named
    `.env`, so the test lists what the sandbox's project holds.)"""
    project = canary_project
    for name, value in project.env.items():
        if name.startswith("CANARY_"):
            monkeypatch.setenv(name, value)
    (project.root / "data" / "people.csv").symlink_to(project.root / ".env")
    transport = LocalProcessTransport(sandbox_cache, workdir=tmp_path / "sandboxes", keep=True)
    build_dir = build(
        project.root,
        'oml_version: "0.1.0"\nname: link\nsteps:\n  - id: read\n'
        "    component: filesystem.csv_extractor\n    mode: read\n"
        "    config: {path: data/people.csv, header: false}\n",
    )

    collected = run_in_sandbox(
        RunRequest(build_dir, project.root), E2BOptions(data=True), transport
    )

    assert (collected.status, collected.steps[0].get("category")) == ("failed", "config")
    (sandbox,) = transport.created
    sandbox_project = Path(sandbox.root) / "project"
    assert sorted(p.name for p in sandbox_project.iterdir()) == [
        "osiris_connections.yaml",
        "run_logs",
    ]
    assert leaking_files(Path(sandbox.root)) == {}
    assert leaking_files(project.root) == {}
