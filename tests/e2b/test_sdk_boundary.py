"""The SDK boundary: `E2BTransport` calls `e2b.Sandbox` with the documented arguments.

No cloud here: a stand-in class has the SDK's method names and signatures (checked against
the installed `e2b` package) and records every call; it answers the way a sandbox would,
with the output of a quick-start run inside. The adapter runs end to end on it, and the
test reads the calls back: create, get_info, files.write, commands.run + handle.wait,
create_snapshot, files.read, kill — in that order, with those arguments. A missing API key
fails before anything starts, with the documented message.
"""

from __future__ import annotations

import gzip
import inspect
import io
import json
import shlex
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from osiris_mcp.cli import main
from runtime.adapters import RunRequest
from runtime.adapters.e2b import SETUP_MARGIN_S, E2BOptions, run_in_sandbox
from runtime.adapters.sandbox import (
    E2B_HOME,
    E2B_ROOT,
    MISSING_API_KEY,
    E2BTransport,
    MissingAPIKeyError,
    SandboxError,
    SandboxSpec,
)
from tests.e2b.conftest import ROOT, build, events

e2b = pytest.importorskip("e2b")

INNER_RUN = "run_20260101T000000Z_inner0"
INNER_SESSION = f"{E2B_ROOT}/project/run_logs/quickstart/{INNER_RUN}"
OUTPUT = f"{E2B_ROOT}/project/output/revenue_by_customer.csv"


# -- the stand-in -----------------------------------------------------------------------------


class Handle:
    """`e2b.CommandHandle`: `pid`, and `wait` streaming output to the callbacks."""

    def __init__(self, pid: int, chunks: list[str], exit_code: int = 0, raises: Any = None):
        self._pid = pid
        self._chunks = chunks
        self._exit_code = exit_code
        self._raises = raises
        self.waited_with: dict[str, Any] = {}

    @property
    def pid(self) -> int:
        return self._pid

    def wait(
        self,
        on_pty: Callable[[Any], None] | None = None,
        on_stdout: Callable[[str], None] | None = None,
        on_stderr: Callable[[str], None] | None = None,
    ) -> Any:
        self.waited_with = {"on_pty": on_pty, "on_stdout": on_stdout, "on_stderr": on_stderr}
        for chunk in self._chunks:
            assert on_stdout is not None
            on_stdout(chunk)
        if self._raises is not None:
            raise self._raises
        if self._exit_code:
            raise e2b.CommandExitException(
                stderr="", stdout="", exit_code=self._exit_code, error=None
            )
        return e2b.CommandResult(stderr="", stdout="", exit_code=0, error=None)

    def kill(self) -> bool:
        return True


class Files:
    """`sandbox.files`: write and read, with the SDK's signatures."""

    def __init__(self, box: StandInSandbox) -> None:
        self._box = box

    def write(
        self,
        path: str,
        data: Any,
        user: str | None = None,
        request_timeout: float | None = None,
        gzip: bool = False,
        use_octet_stream: bool | None = None,
        metadata: dict[str, str] | None = None,
    ) -> Any:
        self._box.record("files.write", path=path, size=len(data), user=user)
        self._box.stored[path] = bytes(data)
        return None

    def read(
        self,
        path: str,
        format: str = "text",
        user: str | None = None,
        request_timeout: float | None = None,
        gzip: bool = False,
        stream_idle_timeout: float | None = None,
    ) -> Any:
        self._box.record("files.read", path=path, format=format)
        return self._box.stored[path]


class Commands:
    """`sandbox.commands.run`, answering as a sandbox that holds a quick-start run would."""

    def __init__(self, box: StandInSandbox) -> None:
        self._box = box

    def run(
        self,
        cmd: str,
        background: bool | None = None,
        envs: dict[str, str] | None = None,
        user: str | None = None,
        cwd: str | None = None,
        on_stdout: Callable[[str], None] | None = None,
        on_stderr: Callable[[str], None] | None = None,
        stdin: bool | None = None,
        timeout: float | None = 60,
        request_timeout: float | None = None,
        *,
        retain_output: bool = True,
    ) -> Any:
        kind = (
            "install"
            if "pip install" in cmd
            else "run"
            if "runtime.adapters.inside" in cmd
            else "pack"
            if "pack_results" in cmd
            else "other"
        )
        self._box.record(
            "commands.run", kind=kind, cmd=cmd, background=background, envs=envs, cwd=cwd,
            timeout=timeout,
        )  # fmt: skip
        handle: Handle
        if kind == "run":
            handle = self._box.run_handle or Handle(41, inner_stdout())
        elif kind == "pack":
            out = shlex.split(cmd)[4]  # python -c CODE SESSION OUT ...
            self._box.stored[out] = results_archive()
            handle = Handle(42, [])
        else:
            handle = Handle(40, [])
        self._box.handles.append(handle)
        return handle


class StandInSandbox:
    """`e2b.Sandbox` as the adapter uses it; `calls` records every call, in order."""

    calls: ClassVar[list[tuple[str, dict[str, Any]]]] = []
    handles: ClassVar[list[Handle]] = []
    stored: ClassVar[dict[str, bytes]] = {}
    cpu_count: ClassVar[int] = 2
    memory_mb: ClassVar[int] = 1024
    create_error: ClassVar[Exception | None] = None
    run_handle: ClassVar[Handle | None] = None

    def __init__(self) -> None:
        self.sandbox_id = "sbx-standin"
        self.files = Files(self)
        self.commands = Commands(self)

    @classmethod
    def record(cls, call: str, /, **arguments: Any) -> None:
        cls.calls.append((call, arguments))

    @classmethod
    def create(
        cls,
        template: str | None = None,
        timeout: int | None = None,
        metadata: dict[str, str] | None = None,
        envs: dict[str, str] | None = None,
        secure: bool | None = None,
        allow_internet_access: bool | None = None,
        mcp: Any = None,
        network: Any = None,
        iam: Any = None,
        lifecycle: Any = None,
        volume_mounts: Any = None,
        logger: Any = None,
        idempotency_key: str | None = None,
        **opts: Any,
    ) -> StandInSandbox:
        cls.record(
            "Sandbox.create", template=template, timeout=timeout, metadata=metadata, envs=envs,
            api_key=opts.get("api_key"),
        )  # fmt: skip
        if cls.create_error is not None:
            raise cls.create_error
        return cls()

    def get_info(self, **opts: Any) -> Any:
        self.record("get_info")
        return type("Info", (), {"cpu_count": self.cpu_count, "memory_mb": self.memory_mb})()

    def create_snapshot(self, name: str | None = None, *, mode: Any = None, **opts: Any) -> Any:
        self.record("create_snapshot", name=name, mode=mode)
        return e2b.SnapshotInfo(snapshot_id=f"{name}:snap1")

    def kill(self, **opts: Any) -> bool:
        self.record("kill")
        return True


@pytest.fixture
def stand_in() -> Iterator[type[StandInSandbox]]:
    StandInSandbox.calls = []
    StandInSandbox.handles = []
    StandInSandbox.stored = {}
    StandInSandbox.cpu_count, StandInSandbox.memory_mb = 2, 1024
    StandInSandbox.create_error = None
    StandInSandbox.run_handle = None
    yield StandInSandbox


def inner_events() -> list[dict[str, Any]]:
    def event(kind: str, step: str | None = None, **data: Any) -> dict[str, Any]:
        record: dict[str, Any] = {
            "timestamp": "2026-01-01T00:00:00.100Z",
            "event_type": kind,
            "session_id": INNER_RUN,
        }
        if step:
            record["step_id"] = step
        record["data"] = data
        return record

    return [
        event("connection.resolve", "write_revenue", family="filesystem", alias="local"),
        event("execution.start", pipeline="quickstart", steps=["write_revenue"], parallel=1),
        event("execution.step.start", "write_revenue", component="filesystem.csv_writer"),
        event("execution.step.complete", "write_revenue", rows_written=8, details={"path": OUTPUT}),
        event("execution.complete", status="success", rows_read=8, rows_written=8),
    ]


def inner_status() -> dict[str, Any]:
    return {
        "session_id": INNER_RUN,
        "pipeline": "quickstart",
        "manifest_hash": "x",
        "status": "success",
        "started_at": "2026-01-01T00:00:00.000Z",
        "finished_at": "2026-01-01T00:00:00.200Z",
        "duration_ms": 200,
        "steps": [
            {"id": "write_revenue", "component": "filesystem.csv_writer", "mode": "write",
             "status": "success", "rows_read": 8, "rows_written": 8, "duration_ms": 5,
             "details": {"path": OUTPUT}},
        ],
    }  # fmt: skip


def inner_stdout() -> list[str]:
    """The run's stdout, cut into chunks that do not end at line ends (as the SDK sends)."""
    text = "".join(json.dumps(e) + "\n" for e in inner_events())
    result = {"run_id": INNER_RUN, "status": "success", "session_dir": INNER_SESSION}
    text += json.dumps(result, indent=2) + "\n"
    return [text[i : i + 97] for i in range(0, len(text), 97)]


def results_archive() -> bytes:
    members = {
        "session/status.json": json.dumps(inner_status()).encode(),
        "session/metrics.jsonl": json.dumps(
            {"metric": "rows_written", "value": 8, "step_id": "write_revenue"}
        ).encode(),
        "session/events.jsonl": "".join(json.dumps(e) + "\n" for e in inner_events()).encode(),
        "manifest.json": b'{"skipped": [], "data": [], "artifacts_bytes": 0}',
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            entry = tarfile.TarInfo(name)
            entry.size = len(data)
            tar.addfile(entry, io.BytesIO(data))
    return buffer.getvalue()


LOAD_STEP = """
  - id: load_revenue
    component: postgres.writer
    mode: write
    inputs: {df: "${revenue.df}"}
    config: {connection: "@postgres.local", table: revenue, write_mode: replace}
"""


def e2b_run(project: Path, sdk: type, options: E2BOptions, cache: Path) -> Any:
    """The quick start plus a PostgreSQL load (whose password is a secret), on the stand-in."""
    source = (project / "pipelines" / "quickstart.yaml").read_text() + LOAD_STEP
    build_dir = build(project, source)
    transport = E2BTransport(api_key="e2b_test_key", sdk=sdk, cache_dir=cache)
    request = RunRequest(build_dir, project, env={"PG_PASSWORD": "Pg-Secret-77c1"})
    return run_in_sandbox(request, options, transport)


# -- the tests --------------------------------------------------------------------------------


SDK_METHODS = [
    (StandInSandbox.create, "e2b.Sandbox.create"),
    (StandInSandbox.kill, "e2b.Sandbox.kill"),
    (StandInSandbox.get_info, "e2b.Sandbox.get_info"),
    (StandInSandbox.create_snapshot, "e2b.Sandbox.create_snapshot"),
    (Files.write, "e2b.sandbox_sync.filesystem.filesystem.Filesystem.write"),
    (Files.read, "e2b.sandbox_sync.filesystem.filesystem.Filesystem.read"),
    (Commands.run, "e2b.sandbox_sync.commands.command.Commands.run"),
    (Handle.wait, "e2b.sandbox_sync.commands.command_handle.CommandHandle.wait"),
]


def resolve(dotted: str) -> Any:
    import importlib

    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for name in parts[split:]:
            found = getattr(found, name)
        return found
    raise ImportError(dotted)


def shape(function: Any) -> list[tuple[str, Any, Any]]:
    return [
        (p.name, p.kind, p.default)
        for p in inspect.signature(function).parameters.values()
        if p.name not in ("self", "cls")
    ]


@pytest.mark.parametrize(("stand_in_method", "sdk_method"), SDK_METHODS, ids=lambda m: str(m))
def test_the_stand_in_has_the_sdk_signatures(stand_in_method: Any, sdk_method: str) -> None:
    assert shape(stand_in_method) == shape(resolve(sdk_method))
    assert hasattr(resolve("e2b.sandbox_sync.commands.command_handle.CommandHandle"), "pid")


def test_the_transport_calls_the_sdk_with_the_documented_arguments(
    quickstart: Path, stand_in: type[StandInSandbox], tmp_path: Path
) -> None:
    options = E2BOptions(template="osiris-4cpu", cpu=2, memory_mb=1024, timeout_s=120)

    collected = e2b_run(quickstart, stand_in, options, tmp_path / "e2b-cache")

    assert collected.status == "success", collected.error
    names = [name for name, _ in stand_in.calls]
    assert names == [
        "Sandbox.create",
        "get_info",
        "files.write",  # the wheel
        "commands.run",  # install it
        "create_snapshot",  # before any project file or secret is in the sandbox
        "files.write",  # the bundle
        "commands.run",  # osiris run
        "commands.run",  # pack the results
        "files.read",
        "kill",
    ]
    create = stand_in.calls[0][1]
    assert create["template"] == "osiris-4cpu"
    assert create["timeout"] == 120 + SETUP_MARGIN_S
    assert create["api_key"] == "e2b_test_key"
    assert create["envs"] is None  # secrets never go to the sandbox as a whole
    assert create["metadata"] == {
        "osiris_pipeline": "quickstart",
        "osiris_run_id": collected.run_id,
    }
    wheel, bundle = (args for name, args in stand_in.calls if name == "files.write")
    assert wheel["path"].startswith(f"{E2B_HOME}/osiris_oml-") and wheel["path"].endswith(".whl")
    assert bundle["path"] == f"{E2B_ROOT}/bundle.tar.gz"
    install, run, pack = (args for name, args in stand_in.calls if name == "commands.run")
    assert install["kind"] == "install" and install["background"] is True
    assert (install["cwd"], install["timeout"], install["envs"]) == (E2B_HOME, 900, {})
    assert run["kind"] == "run" and run["background"] is True
    assert (run["cwd"], run["timeout"]) == (E2B_ROOT, 120)
    assert "runtime.adapters.inside" in run["cmd"] and "osiris_mcp" not in run["cmd"]
    assert "Pg-Secret-77c1" in run["envs"].values()
    assert "Pg-Secret-77c1" not in run["cmd"]
    uploaded = gzip.decompress(stand_in.stored[bundle["path"]])
    assert b"@postgres.local" in uploaded and b"OSIRIS_SECRET_1" in uploaded
    assert b"Pg-Secret-77c1" not in uploaded + b"".join(stand_in.stored.values())
    assert pack["kind"] == "pack" and pack["envs"] == {}
    assert all(callable(h.waited_with["on_stdout"]) for h in stand_in.handles)
    assert stand_in.calls[-2][1] == {"path": f"{E2B_ROOT}/results.tar.gz", "format": "bytes"}
    snapshot = stand_in.calls[4][1]["name"]
    assert snapshot.startswith("osiris-") and len(snapshot) == len("osiris-") + 16

    # the streamed events, with the sandbox's paths and run id made local
    local = events(collected)
    assert [e["event_type"] for e in local] == [e["event_type"] for e in inner_events()]
    assert {e["session_id"] for e in local} == {collected.run_id}
    assert local[3]["data"]["details"]["path"] == str(
        quickstart.resolve() / "output" / "revenue_by_customer.csv"
    )
    assert collected.steps[0]["details"]["path"] == local[3]["data"]["details"]["path"]


def test_the_next_run_starts_from_the_snapshot(
    quickstart: Path, stand_in: type[StandInSandbox], tmp_path: Path
) -> None:
    cache = tmp_path / "e2b-cache"
    e2b_run(quickstart, stand_in, E2BOptions(), cache)
    (first_snapshot,) = [args["name"] for name, args in stand_in.calls if name == "create_snapshot"]
    stand_in.calls.clear()

    collected = e2b_run(quickstart, stand_in, E2BOptions(), cache)

    assert collected.status == "success"
    assert stand_in.calls[0] == (
        "Sandbox.create",
        {
            "template": f"{first_snapshot}:snap1",
            "timeout": E2BOptions().timeout_s + SETUP_MARGIN_S,
            "metadata": {"osiris_pipeline": "quickstart", "osiris_run_id": collected.run_id},
            "envs": None,
            "api_key": "e2b_test_key",
        },
    )
    kinds = [args.get("kind") for name, args in stand_in.calls if name == "commands.run"]
    assert kinds == ["run", "pack"]  # nothing installed
    assert "create_snapshot" not in [name for name, _ in stand_in.calls]


def test_a_template_short_of_the_requested_cpu_is_refused_and_killed(
    quickstart: Path, stand_in: type[StandInSandbox], tmp_path: Path
) -> None:
    collected = e2b_run(quickstart, stand_in, E2BOptions(cpu=8, memory_mb=4096), tmp_path)

    assert collected.status == "failed"
    assert collected.error is not None
    assert collected.error["message"] == (
        "template 'base' gives 2 vCPU, but --e2b-cpu asks for 8; "
        "1024 MiB of memory, but --e2b-mem asks for 4096"
    )
    assert "Template.build" in collected.error["hint"]
    assert [name for name, _ in stand_in.calls] == ["Sandbox.create", "get_info", "kill"]


@pytest.mark.parametrize(
    ("error", "category", "message"),
    [
        (
            e2b.SandboxException("503: no capacity"),
            "sandbox",
            "cannot create the E2B sandbox from template 'base': "
            "SandboxException: 503: no capacity",
        ),
        (
            e2b.AuthenticationException("invalid API key"),
            "auth",
            "E2B refused the API key: invalid API key",
        ),
    ],
)
def test_a_sandbox_that_cannot_be_created_is_a_clear_error(
    quickstart: Path,
    stand_in: type[StandInSandbox],
    tmp_path: Path,
    error: Exception,
    category: str,
    message: str,
) -> None:
    stand_in.create_error = error
    collected = e2b_run(quickstart, stand_in, E2BOptions(), tmp_path)
    assert collected.status == "failed"
    assert collected.error is not None
    assert (collected.error["category"], collected.error["message"]) == (category, message)
    assert [e["event_type"] for e in events(collected)] == ["execution.error"]


def test_an_sdk_timeout_fails_the_run_and_kills_the_sandbox(
    quickstart: Path, stand_in: type[StandInSandbox], tmp_path: Path
) -> None:
    stand_in.run_handle = Handle(41, inner_stdout()[:2], raises=e2b.TimeoutException("deadline"))
    collected = e2b_run(quickstart, stand_in, E2BOptions(timeout_s=60), tmp_path)
    assert collected.status == "failed"
    assert collected.error is not None and collected.error["category"] == "timeout"
    assert [name for name, _ in stand_in.calls][-1] == "kill"


def test_a_missing_api_key_fails_fast_with_the_documented_message(
    quickstart: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(MissingAPIKeyError) as raised:
        E2BTransport(env={}).check()
    assert raised.value.message == MISSING_API_KEY
    docs = (ROOT / "docs" / "e2b.md").read_text()
    assert MISSING_API_KEY in docs

    with pytest.raises(SandboxError):
        E2BTransport(env={"E2B_API_KEY": ""}).create(SandboxSpec())

    monkeypatch.delenv("E2B_API_KEY", raising=False)
    monkeypatch.delenv("OSIRIS_E2B_SANDBOX", raising=False)
    pipeline = str(quickstart / "pipelines" / "quickstart.yaml")
    assert main(["run", pipeline, "--project", str(quickstart), "--e2b"]) == 2
    assert f"osiris: error: {MISSING_API_KEY}" in capsys.readouterr().err
    for nothing_started in ("build", "run_logs", ".osiris"):
        assert not (quickstart / nothing_started).exists()
