"""The E2B adapter: runs a compiled plan inside a sandbox, with a local run's observable results.

    prepare   check the transport (API key) first; load and verify the plan; resolve its
              connections; pack the build, a connections file with secrets replaced by
              `${OSIRIS_SECRET_<n>}` placeholders, and the files the plan reads; build (or
              reuse) the wheel of this Osiris; open the local session.
    execute   create the sandbox, install the wheel, upload the bundle, and run the
              runtime there (`python -m runtime.adapters.inside <build>`) with the secrets as
              the command's environment variables — never in a file, never on the command
              line. The inner run prints every event as a JSON line; each is appended to the
              local events.jsonl as it arrives, and its result comes last.
    collect   pack status.json, metrics.jsonl and artifacts (within a size cap; data files
              when asked) inside, download them, record `e2b_overhead_ms`, and kill the
              sandbox — always, also on failure and Ctrl-C.

Paths inside the sandbox (its project, build and outside-the-project base directories) are
reported as the local paths they stand for, and the inner session id as the local one, so
a sandboxed run's session reads exactly like a local run's. The sandbox is a
`runtime.adapters.sandbox` transport: E2B's cloud, or local processes for tests.

This module is imported inside the sandbox too (`pack_results`): its top level stays light.
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import tarfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from compiler.model import pipeline_slug
from runtime.adapters import Collected, RunRequest, run_with
from runtime.adapters.sandbox import (
    E2BTransport,
    LocalProcessTransport,
    Sandbox,
    SandboxError,
    SandboxSpec,
    SandboxTransport,
    run_to_end,
    tail,
)

if TYPE_CHECKING:
    from runtime.adapters.wheel import Wheel
    from runtime.builds import Build as Plan
    from runtime.sessions import Session

DEFAULT_TIMEOUT_S = 900
DEFAULT_ARTIFACTS_CAP = 100 * 1024 * 1024
#: The sandbox lives this much longer than the run may take: install, upload, collect.
SETUP_MARGIN_S = 300
#: After an interrupt (Ctrl-C, cancel), how long the inner run may take to end `cancelled`.
INTERRUPT_GRACE_S = 15.0
SECRET_VARIABLE = "OSIRIS_SECRET_{}"
PACK_COMMAND = (
    "import sys; from runtime.adapters.e2b import pack_results; pack_results(*sys.argv[1:])"
)


@dataclass(frozen=True)
class E2BOptions:
    """`--e2b-*` options. CPU and memory are minimums: E2B sets both per template."""

    template: str | None = None
    cpu: int | None = None
    memory_mb: int | None = None
    timeout_s: int = DEFAULT_TIMEOUT_S
    #: bytes of artifacts to download at most (0: none)
    artifacts_cap: int = DEFAULT_ARTIFACTS_CAP
    #: also download data files: what the plan's file writers wrote, and a kept data plane
    data: bool = False


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """`100MB`, `512k`, `1.5GiB` or a number of bytes → bytes (binary units).

    >>> parse_size("100MB"), parse_size("512k"), parse_size("0"), parse_size("1.5GiB")
    (104857600, 524288, 0, 1610612736)
    """
    match = _SIZE.match(text)
    if match is None:
        raise ValueError(f"not a size: {text!r} (write e.g. 100MB, 512k or 0)")
    scale = 1024 ** "_kmgt".index((match.group(2) or "_").lower())
    return int(float(match.group(1)) * scale)


# -- where things live inside the sandbox -----------------------------------------------------


class PathMap:
    """Sandbox path prefixes → the local paths they stand for, applied to every string.

    >>> PathMap([("/sb/project", "/home/me/p")]).apply({"path": "/sb/project/out.csv"})
    {'path': '/home/me/p/out.csv'}
    """

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = sorted(pairs, key=lambda pair: len(pair[0]), reverse=True)

    def apply(self, value: Any) -> Any:
        if isinstance(value, str):
            for inside, local in self.pairs:
                if inside in value:
                    value = value.replace(inside, local)
            return value
        if isinstance(value, dict):
            return {key: self.apply(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.apply(item) for item in value]
        return value

    def local_path(self, inside: str) -> Path | None:
        """The local path of a sandbox path under a known prefix; None elsewhere."""
        for prefix, local in self.pairs:
            if inside == prefix or inside.startswith(prefix + "/"):
                rest = PurePosixPath(inside[len(prefix) :].lstrip("/"))
                if ".." in rest.parts:
                    return None
                return Path(local, *rest.parts)
        return None


@dataclass
class SandboxBundle:
    """Everything uploaded, as one tar.gz, and the secrets that go beside it as variables.

    Layout (relative to the sandbox's root): `build/` the compiled plan, `project/` the
    sandbox project (`osiris_connections.yaml` and the files the plan reads), `outside/<n>/`
    a filesystem base directory outside the local project.
    """

    archive: bytes
    #: OSIRIS_SECRET_<n> → value: the sandbox command's environment only
    secret_env: dict[str, str]
    #: local base directories outside the project, by their index under `outside/`
    outside: list[str]
    names: list[str]


class _Layout:
    """Maps local directories to the sandbox's `project/` and `outside/<n>/`."""

    def __init__(self, project: Path) -> None:
        self.project = project.resolve()
        self.outside: list[str] = []

    def place(self, local_dir: Path) -> PurePosixPath:
        """`project/<rel>` or `outside/<n>` for a local directory."""
        real = Path(os.path.realpath(local_dir))
        if real == self.project or real.is_relative_to(self.project):
            return PurePosixPath("project", *real.relative_to(self.project).parts)
        if str(real) not in self.outside:
            self.outside.append(str(real))
        return PurePosixPath("outside", str(self.outside.index(str(real))))

    def base_dir_value(self, local_dir: Path) -> str:
        """The `base_dir` to write in the sandbox's connections file (relative to its project)."""
        place = self.place(local_dir)
        if place.parts[0] == "project":
            return str(PurePosixPath(*place.parts[1:])) if len(place.parts) > 1 else "."
        return str(PurePosixPath("..", place))


def sandbox_bundle(
    plan: Plan,
    project: Path,
    env: Mapping[str, str],
    connections: Mapping[str, Mapping[str, Any] | None],
    names: list[tuple[str, str, str]],
) -> SandboxBundle:
    """The upload for `plan`: build, placeholder connections file, and the files it reads."""
    from runtime.builds import read_build

    layout = _Layout(project)
    members: dict[str, bytes] = {
        f"build/{name}": data for name, data in read_build(plan.build_dir).items()
    }
    text, secret_env = sandbox_connections(project, env, names, layout)
    members["project/osiris_connections.yaml"] = text
    for source, place in _files_to_upload(plan, project, connections, layout):
        members.setdefault(place, source.read_bytes())
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as archive:
        for name, data in sorted(members.items()):
            entry = tarfile.TarInfo(name)
            entry.size = len(data)
            entry.mode = 0o644
            archive.addfile(entry, io.BytesIO(data))
    return SandboxBundle(buffer.getvalue(), secret_env, list(layout.outside), sorted(members))


def sandbox_connections(
    project: Path,
    env: Mapping[str, str],
    names: list[tuple[str, str, str]],
    layout: _Layout,
) -> tuple[bytes, dict[str, str]]:
    """The sandbox's `osiris_connections.yaml` and the variables its placeholders name.

    Only the aliases the plan resolved go in, with the values they resolved to here. Every
    secret — a secret field, or any value holding a secret such as a URL with a password —
    becomes `${OSIRIS_SECRET_<n>}`, its value an environment variable of the sandbox
    command; so do values holding a `$`, which the sandbox would substitute again.
    Filesystem `base_dir`s point into the bundle's `project/` or `outside/<n>/`.
    """
    from compiler import canonical
    from runtime.connections import ConnectionError, ConnectionsFile, is_secret_field

    file = ConnectionsFile.load(project, env=env)
    defaults = {(info.family, info.alias) for info in file.aliases() if info.is_default}
    secret_env: dict[str, str] = {}
    families: dict[str, dict[str, dict[str, Any]]] = {}
    for _, family, alias in names:
        if alias is None:
            # No alias: inline fields only (they travel in cfg/), or the family's environment
            # variables, which the sandbox does not have: they go in as an alias of their own.
            try:
                resolved = file.resolve(None, family)
            except ConnectionError:
                continue
            if not resolved.from_environment:
                continue
            alias = "environment"
            defaults.add((family, alias))
        elif alias in families.get(family, {}):
            continue
        else:
            resolved = file.resolve(f"@{family}.{alias}", family)
        if alias in families.get(family, {}):
            continue
        hidden = resolved.secret_values

        def conceal(name: str, value: Any, hidden: frozenset[str] = hidden) -> Any:
            if isinstance(value, dict):
                return {key: conceal(str(key), item) for key, item in value.items()}
            if isinstance(value, list):
                return [conceal(name, item) for item in value]
            if value is None or isinstance(value, bool) or value == "":
                return value
            text = str(value)
            if is_secret_field(name) or "$" in text or any(s in text for s in hidden):
                variable = SECRET_VARIABLE.format(len(secret_env) + 1)
                secret_env[variable] = text
                return "${" + variable + "}"
            return value

        fields: dict[str, Any] = {"default": True} if (family, alias) in defaults else {}
        for name, value in resolved.fields.items():
            if family == "filesystem" and name == "base_dir" and isinstance(value, str):
                fields[name] = layout.base_dir_value(Path(value))
            else:
                fields[name] = conceal(name, value)
        families.setdefault(family, {})[alias] = fields
    header = (
        b"# Written by the Osiris E2B adapter: secrets are ${OSIRIS_SECRET_<n>} variables of\n"
        b"# the sandbox command, never values in this file.\n"
    )
    return header + canonical.yaml_file({"connections": families}), secret_env


def _files_to_upload(
    plan: Plan,
    project: Path,
    connections: Mapping[str, Mapping[str, Any] | None],
    layout: _Layout,
) -> list[tuple[Path, str]]:
    """(local file, archive name) for what the plan's file steps read: the inputs of
    readers, and the existing target of a writer that appends."""
    from components.registry import default_registry

    registry = default_registry()
    project = project.resolve()
    found: list[tuple[Path, str]] = []
    for step in plan.steps():
        spec = registry.get(step.component)
        if spec is None or spec.family != "filesystem":
            continue
        config = plan.configs[step.id]
        appends = step.mode == "write" and config.get("write_mode") == "append"
        if step.mode != "read" and not appends:
            continue
        raw = config.get("path")
        if not isinstance(raw, str) or not raw.strip():
            continue
        fields = connections.get(step.id) or {}
        base_value = config.get("base_dir") or fields.get("base_dir")
        base = Path(str(base_value)).expanduser() if base_value else project
        if not base.is_absolute():
            base = project / base
        base_real = Path(os.path.realpath(base))
        inline = config.get("base_dir")
        if inline and Path(str(inline)).is_absolute() and not base_real.is_relative_to(project):
            continue  # an absolute base outside the project in the step's config: not mapped
        target = Path(os.path.realpath(base_real / raw))
        if not target.is_relative_to(base_real) or target == base_real or not target.is_file():
            continue  # the run inside refuses it, or reports it missing, as a local run does
        if any(part.startswith(".") for part in target.relative_to(base_real).parts):
            continue  # a hidden file (.env: secrets) never leaves the machine; the run refuses it
        place = layout.place(base_real) / PurePosixPath(*target.relative_to(base_real).parts)
        found.append((target, str(place)))
    return found


# -- the adapter ------------------------------------------------------------------------------


class _Lines:
    """Chunks of output → whole lines, in order."""

    def __init__(self, on_line: Callable[[str], None]) -> None:
        self._on_line = on_line
        self._partial = ""
        self._lock = threading.Lock()

    def feed(self, chunk: str) -> None:
        with self._lock:
            *lines, self._partial = (self._partial + chunk).split("\n")
            for line in lines:
                self._on_line(line.rstrip("\r"))

    def close(self) -> None:
        with self._lock:
            if self._partial:
                self._on_line(self._partial)
            self._partial = ""


@dataclass
class Prepared:
    request: RunRequest
    options: E2BOptions
    plan: Plan
    session: Session
    bundle: SandboxBundle
    wheel: Wheel
    started: float = field(default_factory=time.monotonic)
    status: str = "pending"
    sandbox: Sandbox | None = None
    python: str = ""
    path_map: PathMap = field(default_factory=lambda: PathMap([]))
    timings: dict[str, float] = field(default_factory=dict)
    exit_code: int | None = None
    failure: SandboxError | None = None
    streamed: list[tuple[str, str, str]] = field(default_factory=list)
    inner_run_id: str | None = None
    inner_session: str | None = None
    inner_status: dict[str, Any] | None = None
    result_lines: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass
class SandboxCollected(Collected):
    """A sandboxed run's result: `error` is set when the sandbox itself failed."""


class E2BAdapter:
    """prepare → execute → collect through a sandbox transport (E2B, or local processes)."""

    def __init__(self, options: E2BOptions, transport: SandboxTransport) -> None:
        self.options = options
        self.transport = transport

    # -- prepare ----------------------------------------------------------------------------

    def prepare(self, request: RunRequest) -> Prepared:
        from runtime.adapters.local import load_current, resolve_connections
        from runtime.adapters.wheel import osiris_wheel
        from runtime.redaction import Redactor
        from runtime.sessions import Session, new_run_id

        self.transport.check()  # no API key: fail before anything is built or started
        plan = load_current(request.build_dir)
        env = dict(os.environ) if request.env is None else dict(request.env)
        connections, secrets, names = resolve_connections(plan, request.project, env)
        bundle = sandbox_bundle(plan, request.project, env, connections, names)
        wheel = osiris_wheel(request.project / ".osiris" / "cache" / "wheels")
        session = Session(
            request.project,
            plan.pipeline,
            request.run_id or new_run_id(),
            Redactor(secrets),
            request.on_event,
        )
        session.copy_plan(request.build_dir)
        if request.compilation is not None:
            session.event("compilation.start", pipeline=plan.pipeline)
            session.event("compilation.complete", **request.compilation)
        # connection.resolve events come from the run inside, in the same place as locally
        return Prepared(request, self.options, plan, session, bundle, wheel)

    # -- execute ----------------------------------------------------------------------------

    def execute(self, prepared: Prepared) -> str:
        p = prepared
        p.session.write_status(_status_skeleton(p.plan, p.session.run_id, "running"))
        try:
            self._execute(p)
        except SandboxError as err:
            p.failure = err
        except KeyboardInterrupt:
            p.request.cancel.set()
            p.failure = SandboxError("cancelled before the run started", category="cancelled")
        if p.failure is not None:
            p.status = "cancelled" if p.failure.category == "cancelled" else "failed"
        return p.status

    def _execute(self, p: Prepared) -> None:
        spec = SandboxSpec(
            template=self.options.template,
            cpu=self.options.cpu,
            memory_mb=self.options.memory_mb,
            timeout_s=self.options.timeout_s + SETUP_MARGIN_S,
            environment=p.wheel.sha256,
            metadata={"osiris_pipeline": p.plan.pipeline, "osiris_run_id": p.session.run_id},
        )
        t0 = time.perf_counter()
        p.sandbox = sandbox = self.transport.create(spec)
        p.timings["create_ms"] = _ms_since(t0)
        t0 = time.perf_counter()
        p.python = sandbox.install_osiris(p.wheel)
        p.timings["install_ms"] = _ms_since(t0)
        root = sandbox.root
        t0 = time.perf_counter()
        sandbox.write_file(f"{root}/bundle.tar.gz", p.bundle.archive)
        p.timings["upload_ms"] = _ms_since(t0)
        pairs = [
            (f"{root}/project", str(p.request.project.resolve())),
            (f"{root}/build", str(p.request.build_dir.resolve())),
        ]
        pairs += [(f"{root}/outside/{n}", local) for n, local in enumerate(p.bundle.outside)]
        p.path_map = PathMap(pairs)
        argv = [
            p.python,
            "-m",
            "runtime.adapters.inside",
            f"{root}/build",
            "--project",
            f"{root}/project",
            "--parallel",
            str(p.request.parallel),
        ]
        if p.request.keep_data_plane:
            argv.append("--keep-data-plane")
        if p.request.memory_limit:
            argv += ["--memory-limit", p.request.memory_limit]
        command = (
            f"tar -xzf {shlex.quote(root + '/bundle.tar.gz')} -C {shlex.quote(root)} "
            f"&& exec {shlex.join(argv)}"
        )
        envs = {
            "PYTHONIOENCODING": "utf-8",
            "PYTHONUNBUFFERED": "1",
            **p.bundle.secret_env,
        }
        stdout = _Lines(lambda line: self._on_line(p, line))
        t0 = time.perf_counter()
        running = sandbox.start(
            command,
            envs=envs,
            cwd=root,
            on_stdout=stdout.feed,
            on_stderr=p.stderr.append,
            timeout_s=self.options.timeout_s,
        )
        try:
            p.exit_code = self._wait(running, p)
        finally:
            stdout.close()
            p.timings["run_ms"] = _ms_since(t0)
        self._read_result(p)

    def _wait(self, running: Any, p: Prepared) -> int:
        """The command's exit code; Ctrl-C and `request.cancel` interrupt the run inside."""
        interrupted_at: float | None = None
        while True:
            try:
                code = running.wait(0.1)
            except KeyboardInterrupt:
                p.request.cancel.set()
                continue
            if code is not None:
                return int(code)
            if not p.request.cancel.is_set():
                continue
            if interrupted_at is None:
                running.interrupt()
                interrupted_at = time.monotonic()
            elif time.monotonic() - interrupted_at > INTERRUPT_GRACE_S:
                raise SandboxError(
                    f"the run inside did not stop within {INTERRUPT_GRACE_S:g} s of the interrupt",
                    category="cancelled",
                )

    def _on_line(self, p: Prepared, line: str) -> None:
        """One line of the inner run's stdout: an event, or its final result."""
        if line.startswith('{"'):
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if isinstance(record, dict) and "event_type" in record:
                if p.inner_run_id is None:  # its session folder is where Session puts it
                    p.inner_run_id = str(record.get("session_id"))
                    p.inner_session = (
                        f"{p.sandbox.root if p.sandbox else ''}/project/run_logs/"
                        f"{pipeline_slug(p.plan.pipeline)}/{p.inner_run_id}"
                    )
                record = p.path_map.apply(record)
                record["session_id"] = p.session.run_id
                p.streamed.append(_event_key(record))
                p.session.append_event(record)
                return
        p.result_lines.append(line)

    def _read_result(self, p: Prepared) -> None:
        text = "\n".join(p.result_lines)
        start = text.find("{")
        result: Any = None
        if start >= 0:
            try:
                result = json.loads(text[start:])
            except ValueError:
                result = None
        if isinstance(result, dict) and result.get("session_dir"):
            p.inner_session = str(result["session_dir"])
            p.status = str(result.get("status", "failed"))
            return
        stderr = tail("".join(p.stderr))
        if p.exit_code == 130 or p.request.cancel.is_set():
            raise SandboxError("the run inside was interrupted", category="cancelled")
        if p.exit_code == 2:
            raise SandboxError(
                f"osiris in the sandbox refused the plan:\n{stderr}", category="config"
            )
        raise SandboxError(
            f"osiris run in the sandbox ended with exit code {p.exit_code} and no result:\n"
            + stderr
        )

    # -- collect ----------------------------------------------------------------------------

    def collect(self, prepared: Prepared) -> SandboxCollected:
        p = prepared
        try:
            if p.sandbox is not None and p.inner_session:
                t0 = time.perf_counter()
                try:
                    self._download(p)
                except SandboxError as err:
                    p.failure = p.failure or err
                except KeyboardInterrupt:
                    p.request.cancel.set()
                    p.failure = p.failure or SandboxError(
                        "cancelled while collecting the results", category="cancelled"
                    )
                p.timings["download_ms"] = _ms_since(t0)
        finally:
            if p.sandbox is not None:
                t0 = time.perf_counter()
                p.sandbox.kill()
                p.timings["kill_ms"] = _ms_since(t0)
        status = self._final_status(p)
        p.session.write_status(status)
        overhead = sum(
            p.timings.get(name, 0.0)
            for name in ("create_ms", "install_ms", "upload_ms", "download_ms")
        )
        p.session.append_metric(
            {
                "timestamp": _utc_now(),
                "metric": "e2b_overhead_ms",
                "value": round(overhead, 1),
                "unit": "ms",
                "tags": {
                    "sandbox": p.sandbox.kind if p.sandbox else self.transport.kind,
                    **{name: round(value, 1) for name, value in p.timings.items()},
                },
            }
        )
        self._write_record(p, status)
        p.session.close()
        return SandboxCollected(
            run_id=p.session.run_id,
            status=status["status"],
            session_dir=p.session.dir,
            steps=status["steps"],
            duration_ms=status["duration_ms"],
            error=p.failure.as_dict() if p.failure else None,
        )

    def _download(self, p: Prepared) -> None:
        assert p.sandbox is not None and p.inner_session is not None
        root = p.sandbox.root
        out = f"{root}/results.tar.gz"
        command = " ".join(
            [
                shlex.quote(p.python),
                "-c",
                shlex.quote(PACK_COMMAND),
                shlex.quote(p.inner_session),
                shlex.quote(out),
                str(self.options.artifacts_cap),
                "1" if self.options.data else "0",
                shlex.quote(root),
            ]
        )
        done = run_to_end(p.sandbox, command, cwd=root, timeout_s=600)
        if done.exit_code != 0:
            raise SandboxError(
                f"collecting the results in the sandbox failed:\n{tail(done.stderr)}"
            )
        archive = p.sandbox.read_file(out)
        self._unpack(p, archive)

    def _unpack(self, p: Prepared, archive: bytes) -> None:
        members, directories = _read_archive(archive)
        manifest = json.loads(members.get("manifest.json", b"{}"))
        if "session/status.json" in members:
            status = p.path_map.apply(json.loads(members["session/status.json"]))
            status["session_id"] = p.session.run_id
            p.inner_status = status
        for line in members.get("session/metrics.jsonl", b"").decode("utf-8").splitlines():
            if line.strip():
                p.session.append_metric(p.path_map.apply(json.loads(line)))
        self._reconcile_events(p, members.get("session/events.jsonl", b""))
        artifacts = p.session.dir / "artifacts"
        prefix = "session/artifacts/"
        for directory in directories:
            if directory.startswith(prefix):
                (artifacts / directory.removeprefix(prefix)).mkdir(parents=True, exist_ok=True)
        for member, content in members.items():
            if member.startswith(prefix):
                artifact = artifacts / member.removeprefix(prefix)
                artifact.parent.mkdir(parents=True, exist_ok=True)
                artifact.write_bytes(content)
        downloaded = []
        for entry in manifest.get("data", []):
            data = members.get(f"data/{entry['index']}")
            target = (
                p.session.dir / "data_plane.duckdb"
                if entry.get("data_plane")
                else p.path_map.local_path(str(entry["path"]))
            )
            if data is None or target is None:
                continue
            _write_atomic(target, data)
            downloaded.append(str(target))
        p.notes["artifacts_bytes"] = manifest.get("artifacts_bytes", 0)
        p.notes["artifacts_skipped"] = manifest.get("skipped", [])
        p.notes["data_files"] = downloaded

    def _reconcile_events(self, p: Prepared, inner_events: bytes) -> None:
        """Append events the stream missed (a dropped connection), in the inner file's order."""
        lines = [line for line in inner_events.decode("utf-8").splitlines() if line.strip()]
        if len(lines) <= len(p.streamed):
            return
        seen: dict[tuple[str, str, str], int] = {}
        for key in p.streamed:
            seen[key] = seen.get(key, 0) + 1
        for line in lines:
            record = p.path_map.apply(json.loads(line))
            record["session_id"] = p.session.run_id
            key = _event_key(record)
            if seen.get(key, 0) > 0:
                seen[key] -= 1
                continue
            p.session.append_event(record)

    def _final_status(self, p: Prepared) -> dict[str, Any]:
        """The inner run's status; when the sandbox failed, one that says so, with events."""
        from runtime.sessions import utc_now

        inner = p.inner_status
        if inner is not None and inner.get("finished_at") and p.failure is None:
            return inner
        failure = p.failure or SandboxError("the run inside ended without a final status")
        cancelled = failure.category == "cancelled" or p.request.cancel.is_set()
        status = inner or _status_skeleton(p.plan, p.session.run_id, "running")
        for step in status["steps"]:
            if step["status"] == "running":
                step["status"] = "cancelled" if cancelled else "failed"
                if not cancelled:
                    step["error"] = failure.message
                    step["category"] = failure.category
                    p.session.event(
                        "execution.step.error",
                        step_id=step["id"],
                        error=failure.message,
                        category=failure.category,
                    )
            elif step["status"] == "pending":
                step["status"] = "cancelled" if cancelled else "skipped"
                step["reason"] = failure.message
        status["status"] = "cancelled" if cancelled else "failed"
        status["finished_at"] = utc_now()
        status["duration_ms"] = int((time.monotonic() - p.started) * 1000)
        status["error"] = failure.as_dict()
        summary = {
            "status": status["status"],
            "duration_ms": status["duration_ms"],
            "rows_read": sum(int(s.get("rows_read", 0)) for s in status["steps"]),
            "rows_written": sum(int(s.get("rows_written", 0)) for s in status["steps"]),
            "error": failure.message,
            "category": failure.category,
        }
        if cancelled:
            p.session.event("execution.cancelled", **summary)
        else:
            failed = [s["id"] for s in status["steps"] if s["status"] == "failed"]
            p.session.event("execution.error", failed_steps=failed, **summary)
        p.failure = failure
        return status

    def _write_record(self, p: Prepared, status: Mapping[str, Any]) -> None:
        """`e2b.json` in the session: which sandbox ran it, timings, what was downloaded."""
        from compiler import canonical
        from components.common.atomic import write_atomic

        record: dict[str, Any] = {
            "sandbox": p.sandbox.kind if p.sandbox else self.transport.kind,
            "sandbox_id": p.sandbox.sandbox_id if p.sandbox else None,
            "template": self.options.template,
            "requested": {"cpu": self.options.cpu, "memory_mb": self.options.memory_mb},
            "resources": {
                "cpu": p.sandbox.cpu_count if p.sandbox else None,
                "memory_mb": p.sandbox.memory_mb if p.sandbox else None,
            },
            "timeout_s": self.options.timeout_s,
            "wheel": p.wheel.name,
            "exit_code": p.exit_code,
            "status": status["status"],
            "timings_ms": {name: round(value, 1) for name, value in p.timings.items()},
            "artifacts_cap": self.options.artifacts_cap,
            **p.notes,
        }
        if p.failure is not None:
            record["error"] = p.failure.as_dict()
        data = canonical.json_file(p.session.redactor.data(record))
        write_atomic(p.session.dir / "e2b.json", data)


def run_in_sandbox(
    request: RunRequest, options: E2BOptions, transport: SandboxTransport | None = None
) -> SandboxCollected:
    """prepare → execute → collect with the E2B adapter (the sandbox is always killed)."""
    adapter = E2BAdapter(options, transport or transport_from_env(request.project, request.env))
    collected: SandboxCollected = run_with(adapter, request)
    return collected


def transport_from_env(project: Path, env: Mapping[str, str] | None = None) -> SandboxTransport:
    """E2B's cloud; with OSIRIS_E2B_SANDBOX=local, local processes (tests, offline trials)."""
    environ = os.environ if env is None else env
    if environ.get("OSIRIS_E2B_SANDBOX", "").lower() == "local":
        return LocalProcessTransport()
    return E2BTransport(env=environ, cache_dir=project / ".osiris" / "cache" / "e2b")


# -- inside the sandbox -----------------------------------------------------------------------


def pack_results(session_dir: str, out: str, cap: str, data: str, root: str) -> None:
    """Inside the sandbox: the run's status, metrics, events and artifacts as one tar.gz.

    Artifacts go in until `cap` bytes (the rest are listed as skipped); with `data` "1",
    the files the plan's writers wrote (inside `root` only) and a kept data plane too.
    """
    session = Path(session_dir)
    limit = int(cap)
    skipped: list[dict[str, Any]] = []
    data_files: list[dict[str, Any]] = []
    used = 0
    with tarfile.open(out, "w:gz", compresslevel=1) as tar:
        for name in ("status.json", "metrics.jsonl", "events.jsonl"):
            if (session / name).is_file():
                tar.add(session / name, arcname=f"session/{name}")
        artifacts = session / "artifacts"
        for artifact in sorted(artifacts.rglob("*")) if artifacts.is_dir() else []:
            relative = artifact.relative_to(artifacts).as_posix()
            if artifact.is_dir():
                tar.add(artifact, arcname=f"session/artifacts/{relative}", recursive=False)
                continue
            size = artifact.stat().st_size
            if used + size > limit:
                skipped.append({"path": relative, "bytes": size})
                continue
            used += size
            tar.add(artifact, arcname=f"session/artifacts/{relative}")
        if data == "1":
            for index, (written, is_data_plane) in enumerate(_data_files(session)):
                real = os.path.realpath(written)
                if not real.startswith(os.path.realpath(root) + os.sep) or not os.path.isfile(real):
                    continue
                tar.add(real, arcname=f"data/{index}")
                data_files.append(
                    {"index": index, "path": written, "bytes": os.path.getsize(real)}
                    | {"data_plane": is_data_plane}
                )
        manifest = {"skipped": skipped, "data": data_files, "artifacts_bytes": used}
        payload = json.dumps(manifest).encode()
        entry = tarfile.TarInfo("manifest.json")
        entry.size = len(payload)
        tar.addfile(entry, io.BytesIO(payload))


def _data_files(session: Path) -> list[tuple[str, bool]]:
    """(path, is the data plane) of what a run's writers wrote, and its kept data plane."""
    try:
        steps = json.loads((session / "status.json").read_text("utf-8"))["steps"]
    except (OSError, ValueError, KeyError):
        steps = []
    found = [
        (str(step["details"]["path"]), False)
        for step in steps
        if step.get("mode") == "write"
        and step.get("status") == "success"
        and (step.get("details") or {}).get("path")
    ]
    if (session / "data_plane.duckdb").is_file():
        found.append((str(session / "data_plane.duckdb"), True))
    return found


# -- small pieces -----------------------------------------------------------------------------


def _status_skeleton(plan: Plan, run_id: str, status: str) -> dict[str, Any]:
    """A status.json before the run inside has written one: every step pending."""
    from runtime.runner import StepOutcome
    from runtime.sessions import utc_now

    return {
        "session_id": run_id,
        "pipeline": plan.pipeline,
        "manifest_hash": plan.manifest_hash,
        "status": status,
        "started_at": utc_now(),
        "finished_at": None,
        "duration_ms": 0,
        "steps": [
            StepOutcome(step.id, step.component, step.mode).to_status() for step in plan.steps()
        ],
    }


def _read_archive(archive: bytes) -> tuple[dict[str, bytes], list[str]]:
    """A results tar.gz's regular files (by name) and directories; nothing outside it."""
    files: dict[str, bytes] = {}
    directories: list[str] = []
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for member in tar.getmembers():
            parts = PurePosixPath(member.name)
            if parts.is_absolute() or ".." in parts.parts:
                continue
            if member.isdir():
                directories.append(member.name)
            elif member.isfile():
                handle = tar.extractfile(member)
                if handle is not None:
                    files[member.name] = handle.read()
    return files, directories


def _event_key(record: Mapping[str, Any]) -> tuple[str, str, str]:
    return (
        str(record.get("timestamp")),
        str(record.get("event_type")),
        str(record.get("step_id")),
    )


def _write_atomic(target: Path, data: bytes) -> None:
    from components.common.atomic import write_atomic

    write_atomic(target, data)


def _ms_since(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000


def _utc_now() -> str:
    from runtime.sessions import utc_now

    return utc_now()
