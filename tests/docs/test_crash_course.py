"""Every command of docs/crash-course.md runs, in order, exactly as the guide shows it.

The guide is read block by block:

- a fenced ```sh or ```bash block: each line that is not blank or a comment is one command
  (a line ending in a backslash continues on the next), run through bash in the project
  with the virtual environment's `bin/` first on PATH. It must exit 0, or with the status
  a trailing `# exit: N` comment states. `<id>` becomes the id of the newest run;
- `<!-- setup -->` before a ```sh block: the whole block is one script, run in a folder
  holding a copy of `examples/`; it must create the project, `crash-course/`;
- `<!-- file: NAME -->` before a ```yaml block: the block is saved as NAME in the project
  (the guide tells the reader to save it);
- `<!-- runnable -->` before a ```python block: the block runs with the same Python, in
  the project.

The database commands use the example connections; the test points them at a fresh
MariaDB database and a fresh PostgreSQL database through `MYSQL_DATABASE` and
`PG_DATABASE`, and drops both afterwards.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "crash-course.md"
EXAMPLES = ROOT / "examples"
BIN = Path(sys.executable).parent
COMMAND_TIMEOUT_S = 60

FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[A-Za-z]*)\s*$")
MARKER = re.compile(r"^\s*<!--\s*(?P<marker>setup|runnable|file:\s*(?P<file>\S+))\s*-->\s*$")
EXIT = re.compile(r"#\s*exit:\s*(?P<status>\d+)\s*$")


@dataclass(frozen=True)
class Block:
    lang: str
    text: str
    marker: str | None  # "setup", "runnable", "file" or None
    file: str | None
    line: int  # of the opening fence, 1-based


@dataclass(frozen=True)
class Step:
    kind: str  # "setup", "file", "command", "python"
    text: str
    line: int
    expected: int = 0
    file: str | None = None


def read_blocks(markdown: str) -> list[Block]:
    """The fenced blocks of a Markdown text, each with the marker comment right above it."""
    blocks: list[Block] = []
    lines = markdown.splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening or not opening["lang"]:
            index += 1
            continue
        marker = MARKER.match(lines[index - 1]) if index else None
        indent = len(opening["indent"])
        body: list[str] = []
        end = index + 1
        while end < len(lines) and not re.match(r"^\s*```\s*$", lines[end]):
            body.append(lines[end][indent:] if lines[end][:indent].isspace() else lines[end])
            end += 1
        kind = None
        if marker:
            kind = "file" if marker["file"] else marker["marker"]
        blocks.append(
            Block(
                lang=opening["lang"],
                text="\n".join(body) + "\n",
                marker=kind,
                file=marker["file"] if marker else None,
                line=index + 1,
            )
        )
        index = end + 1
    return blocks


def commands(block: Block) -> Iterator[tuple[str, int]]:
    """(command, expected exit status) for each command line of a shell block."""
    pending = ""
    for line in block.text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        command = pending + line
        pending = ""
        found = EXIT.search(command)
        yield command.strip(), int(found["status"]) if found else 0


def guide_steps(markdown: str) -> list[Step]:
    steps: list[Step] = []
    for block in read_blocks(markdown):
        if block.marker == "setup":
            steps.append(Step("setup", block.text, block.line))
        elif block.marker == "file":
            steps.append(Step("file", block.text, block.line, file=block.file))
        elif block.marker == "runnable" and block.lang == "python":
            steps.append(Step("python", block.text, block.line))
        elif block.lang in ("sh", "bash"):
            for command, expected in commands(block):
                steps.append(Step("command", command, block.line, expected))
    return steps


# -- the guide's structure, no servers needed --------------------------------------------


def test_the_guide_is_well_formed() -> None:
    markdown = GUIDE.read_text("utf-8")
    steps = guide_steps(markdown)
    shown = [s.text for s in steps if s.kind == "command"]
    for required in (
        "osiris compile pipeline.oml --debug",
        "OSIRIS_LOG_LEVEL=TRACE osiris run pipeline.oml",
        "osiris logs bundle --session <id> > analysis.txt",
    ):
        assert required in shown, f"the guide must show `{required}`"
    assert [s.kind for s in steps].count("setup") == 1 and steps[0].kind == "setup"
    for step in steps:
        if step.kind == "command":
            # each command runs in a fresh shell: a `cd` or `export` would not carry over
            assert not re.match(r"(cd|export)\s", step.text), f"line {step.line}: {step.text}"
    for block in read_blocks(markdown):
        if block.marker == "file":
            assert block.lang == "yaml", f"line {block.line}: a file block must be yaml"
        if block.marker == "runnable":
            assert block.lang == "python", f"line {block.line}: only python blocks run"
    assert "EVENT:" not in markdown and "METRIC:" not in markdown, "an example line is missing"


def test_every_event_type_and_metric_has_a_real_example() -> None:
    markdown = GUIDE.read_text("utf-8")
    lines = [
        line
        for block in read_blocks(markdown)
        if block.lang == "json"
        for line in block.text.splitlines()
    ]
    events = {m for line in lines for m in re.findall(r'"event_type": "([a-z_.]+)"', line)}
    metrics = {m for line in lines for m in re.findall(r'"metric": "([a-z0-9_]+)"', line)}
    expected_events = {
        "compilation.start",
        "compilation.complete",
        "connection.resolve",
        "execution.start",
        "execution.step.start",
        "execution.step.complete",
        "execution.step.skipped",
        "execution.step.retry",
        "execution.step.error",
        "execution.complete",
        "execution.error",
        "execution.cancelled",
        "read.progress",
        "read.fallback",
        "read.kept_as_text",
        "write.progress",
        "discovery.start",
        "discovery.schema",
        "discovery.complete",
        "discovery.cache_hit",
        "discovery.cache_miss",
    }
    assert expected_events <= events, sorted(expected_events - events)
    expected_metrics = {
        "rows_read",
        "rows_written",
        "execution_time_ms",
        "memory_usage_mb",
        "e2b_overhead_ms",
    }
    assert expected_metrics <= metrics, sorted(expected_metrics - metrics)


# -- running it ---------------------------------------------------------------------------


def _unavailable(what: str, err: Exception) -> None:
    message = f"{what} is not reachable on 127.0.0.1 ({type(err).__name__}: {err})"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " — CI must run the database tests", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database (the example connection fixes the schema to public)."""
    psycopg = pytest.importorskip("psycopg")
    try:
        admin = psycopg.connect(
            "host=127.0.0.1 port=5432 user=postgres dbname=test",
            autocommit=True,
            connect_timeout=5,
        )
    except psycopg.Error as err:
        _unavailable("PostgreSQL", err)
    name = f"osiris_cc_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _environment(tmp_path: Path, mysql_database: str, pg_database: str) -> dict[str, str]:
    drop = ("OSIRIS_", "MYSQL_", "PG_", "E2B_", "SUPABASE_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        MYSQL_DATABASE=mysql_database,
        PG_DATABASE=pg_database,
        # the local sandbox keeps its virtual environments here, not in ~/.cache
        OSIRIS_SANDBOX_CACHE=str(tmp_path / "sandbox-cache"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def _newest_run_id(project: Path) -> str:
    from runtime.sessions import list_runs

    runs = list_runs(project)
    assert runs, "the guide uses <id> before any run"
    return str(runs[0]["session_id"])


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


def _explain(step: Step, result: subprocess.CompletedProcess[str], expected: int) -> str:
    tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
    return (
        f"docs/crash-course.md:{step.line}: `{step.text.strip()[:200]}` exited "
        f"{result.returncode}, the guide says {expected}\n{tail}"
    )


def test_every_command_of_the_guide_runs(
    tmp_path: Path, mysql_db: dict[str, Any], pg_database: str
) -> None:
    if not (BIN / "osiris").exists():
        pytest.skip(f"no osiris command beside {sys.executable}")
    steps = guide_steps(GUIDE.read_text("utf-8"))
    env = _environment(tmp_path, mysql_db["database"], pg_database)

    checkout = tmp_path / "checkout"  # the reader's Osiris checkout, as far as the guide sees
    (checkout / "examples").mkdir(parents=True)
    shutil.copy(EXAMPLES / "osiris_connections.yaml", checkout / "examples")
    for folder in ("data", "pipelines"):
        shutil.copytree(EXAMPLES / folder, checkout / "examples" / folder)

    setup, rest = steps[0], steps[1:]
    result = _run(["bash", "-euo", "pipefail", "-c", setup.text], checkout, env)
    assert result.returncode == 0, _explain(setup, result, 0)
    project = checkout / "crash-course"
    assert (project / "pipeline.oml").read_bytes() == (
        EXAMPLES / "pipelines" / "quickstart.yaml"
    ).read_bytes()
    assert (project / "osiris_connections.yaml").is_file() and (project / "data").is_dir()

    failures: list[str] = []
    counted = 0
    for step in rest:
        if step.kind == "file":
            assert step.file is not None
            (project / step.file).write_text(step.text, "utf-8")
            continue
        if step.kind == "python":
            script = tmp_path / f"guide_line_{step.line}.py"
            script.write_text(step.text, "utf-8")
            result = _run([str(BIN / "python"), str(script)], project, env)
        else:
            command = step.text
            if "<id>" in command:
                command = command.replace("<id>", _newest_run_id(project))
            result = _run(["bash", "-c", command], project, env)
        counted += 1
        if result.returncode != step.expected:
            failures.append(_explain(step, result, step.expected))
    assert not failures, f"{len(failures)} of {counted} commands failed:\n\n" + "\n\n".join(
        failures
    )
    # what the guide says about the results
    assert (project / "analysis.txt").read_text("utf-8").startswith("# Osiris run run_")
    report = (project / "output" / "revenue_by_country.csv").read_text("utf-8")
    assert report.startswith("country,orders,revenue\n")
