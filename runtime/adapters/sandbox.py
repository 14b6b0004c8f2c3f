"""The sandbox transport seam: the few operations the E2B adapter needs from a sandbox.

    transport.check()                  fail fast (no API key, no SDK) before anything starts
    transport.create(spec) → sandbox   a fresh machine with its own filesystem
    sandbox.install_osiris(wheel)      → the Python interpreter that runs that wheel
    sandbox.write_file / read_file     bytes in and out
    sandbox.start(command, envs=...)   a shell command, stdout/stderr streamed to callbacks
    sandbox.kill()                     always, also on failure and Ctrl-C

Two implementations. `E2BTransport` is the real one, a thin layer over `e2b.Sandbox`
(create / files.write / files.read / commands.run / kill). `LocalProcessTransport` runs the
same commands as local processes, each sandbox in a fresh temporary directory with a
scrubbed environment and a fresh virtual environment that holds the wheel: the tests and
the benchmark use it, since they cannot reach E2B's cloud, so everything above this seam
is exercised for real. It is a stand-in for testing and offline use, not a security
boundary: the processes run as the current user on this machine.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from components.common.atomic import write_atomic
from components.common.errors import HintedError

if TYPE_CHECKING:
    from runtime.adapters.wheel import Wheel

OutputHandler = Callable[[str], None]

#: The message (and hint) of a missing API key: documented in docs/e2b.md, checked by a test.
MISSING_API_KEY = "E2B_API_KEY is not set: `osiris run --e2b` needs an E2B API key"
MISSING_API_KEY_HINT = (
    "create a key at https://e2b.dev/dashboard?tab=keys and `export E2B_API_KEY=e2b_...`, "
    "or run without --e2b"
)
MISSING_SDK = "the e2b package is not installed"
MISSING_SDK_HINT = "pip install 'osiris-oml[e2b]'"
#: Extras the sandbox installs with the wheel (the PostgreSQL driver; MySQL is a base dependency).
WHEEL_EXTRAS = ("postgres",)


# -- errors -----------------------------------------------------------------------------------


class SandboxError(HintedError):
    """The sandbox could not do its part. `category`: config, auth, sandbox, timeout."""

    def __init__(self, message: str, *, category: str = "sandbox", hint: str | None = None):
        super().__init__(message, hint)
        self.category = category

    def as_dict(self) -> dict[str, str]:
        found = {"message": self.message, "category": self.category}
        if self.hint:
            found["hint"] = self.hint
        return found


class MissingAPIKeyError(SandboxError):
    """No E2B API key: raised by `E2BTransport.check()` before anything starts."""

    def __init__(self) -> None:
        super().__init__(MISSING_API_KEY, category="config", hint=MISSING_API_KEY_HINT)


class SandboxTimeoutError(SandboxError):
    """The command ran past its time limit (`--e2b-timeout`)."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(
            f"the run did not finish within --e2b-timeout {timeout_s:g} s",
            category="timeout",
            hint="allow more time with --e2b-timeout SECONDS",
        )


# -- the seam ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SandboxSpec:
    """What the adapter asks for. `cpu`/`memory_mb` are minimums (E2B sets them per template)."""

    template: str | None = None
    cpu: int | None = None
    memory_mb: int | None = None
    #: the sandbox's lifetime in seconds (the run's limit plus room to set up and collect)
    timeout_s: int = 1200
    #: names the installed-Osiris environment (the wheel's hash): where it can be reused
    environment: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CommandOutput:
    exit_code: int
    stdout: str
    stderr: str


class RunningCommand(Protocol):
    """A command started in a sandbox."""

    def wait(self, timeout_s: float | None = None) -> int | None:
        """The exit code once the command ended and its output was delivered; None while it
        still runs after `timeout_s`. Raises SandboxTimeoutError past its own time limit."""
        ...

    def interrupt(self) -> None:
        """SIGINT, as Ctrl-C would: `osiris run` then ends the run `cancelled`."""
        ...


class Sandbox(Protocol):
    kind: str  # "e2b" or "local"
    sandbox_id: str
    #: an absolute directory inside the sandbox that this run owns
    root: str
    cpu_count: int | None
    memory_mb: int | None

    def install_osiris(self, wheel: Wheel) -> str:
        """Install the wheel (or reuse an environment that has it); the Python to run it."""
        ...

    def write_file(self, path: str, data: bytes) -> None: ...

    def read_file(self, path: str) -> bytes: ...

    def start(
        self,
        command: str,
        *,
        envs: Mapping[str, str],
        cwd: str,
        on_stdout: OutputHandler,
        on_stderr: OutputHandler,
        timeout_s: float,
    ) -> RunningCommand:
        """Start a shell command. Output arrives in chunks (not always whole lines)."""
        ...

    def kill(self) -> None:
        """End the sandbox and everything in it. Safe to call twice."""
        ...


class SandboxTransport(Protocol):
    kind: str

    def check(self) -> None:
        """Raise SandboxError when this transport cannot work at all (no key, no SDK)."""
        ...

    def create(self, spec: SandboxSpec) -> Sandbox: ...


def run_to_end(sandbox: Sandbox, command: str, *, cwd: str, timeout_s: float) -> CommandOutput:
    """Run a command and wait for it, collecting its output."""
    out: list[str] = []
    err: list[str] = []
    running = sandbox.start(
        command, envs={}, cwd=cwd, on_stdout=out.append, on_stderr=err.append, timeout_s=timeout_s
    )
    code = running.wait(None)
    return CommandOutput(code if code is not None else -1, "".join(out), "".join(err))


def tail(text: str, lines: int = 12) -> str:
    """The last lines of a command's output, for an error message."""
    return "\n".join(text.strip().splitlines()[-lines:])


# -- E2B --------------------------------------------------------------------------------------

#: Where Osiris lives inside an E2B sandbox: the environment (reusable through a snapshot)
#: and the run's own directory.
E2B_HOME = "/home/user/.osiris"
E2B_ROOT = "/home/user/osiris-run"


class E2BTransport:
    """`e2b.Sandbox` behind the seam. `sdk` stands in for the class in the SDK-boundary test.

    The install cache is an E2B snapshot per (template, wheel): the first run installs the
    wheel and its dependencies from PyPI, snapshots the sandbox before any project file or
    secret is in it, and records the snapshot in `cache_dir/snapshots.json`; later runs of the
    same code start from the snapshot. Snapshots are best effort: when the SDK or the plan
    refuses one, every run installs.
    """

    kind = "e2b"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        env: Mapping[str, str] | None = None,
        sdk: Any = None,
        cache_dir: Path | None = None,
        snapshots: bool = True,
    ) -> None:
        environ = os.environ if env is None else env
        self._api_key = api_key or environ.get("E2B_API_KEY") or None
        self._sdk = sdk
        self._cache_dir = cache_dir
        self._snapshots = snapshots and environ.get("OSIRIS_E2B_SNAPSHOTS", "1") != "0"

    def check(self) -> None:
        if not self._api_key:
            raise MissingAPIKeyError()
        self._sdk_class()

    def _sdk_class(self) -> Any:
        if self._sdk is not None:
            return self._sdk
        try:
            from e2b import Sandbox as SDKSandbox
        except ImportError:
            raise SandboxError(MISSING_SDK, category="config", hint=MISSING_SDK_HINT) from None
        return SDKSandbox

    def create(self, spec: SandboxSpec) -> E2BSandbox:
        self.check()
        sdk = self._sdk_class()
        template = spec.template or None
        cache_key = f"{template or 'default'}:{spec.environment}"
        snapshot = self._snapshot_index().get(cache_key) if self._snapshots else None
        sandbox: Any = None
        if snapshot:
            try:
                sandbox = self._create(sdk, snapshot, spec)
            except SandboxError:
                self._record_snapshot(cache_key, None)  # gone or unusable: install instead
                snapshot = None
        if sandbox is None:
            sandbox = self._create(sdk, template, spec)
        try:
            info = sandbox.get_info()
            cpu, memory = int(info.cpu_count), int(info.memory_mb)
        except Exception:  # resources unknown: the run still works, the check is skipped
            cpu = memory = 0
        short = _resource_shortfall(spec, cpu, memory)
        if short:
            _quietly(sandbox.kill)
            raise SandboxError(
                f"template {template or 'base'!r} gives {short}",
                category="config",
                hint="E2B sets CPU and memory per template: build one with "
                "Template.build(..., cpu_count=N, memory_mb=M) and pass --e2b-template "
                "(docs/e2b.md)",
            )
        return E2BSandbox(
            sandbox,
            cpu_count=cpu or None,
            memory_mb=memory or None,
            ready=snapshot is not None,
            on_installed=(
                (lambda: self._snapshot(sandbox, cache_key)) if self._snapshots else None
            ),
        )

    def _create(self, sdk: Any, template: str | None, spec: SandboxSpec) -> Any:
        try:
            return sdk.create(
                template=template,
                timeout=int(spec.timeout_s),
                metadata=dict(spec.metadata),
                api_key=self._api_key,
            )
        except Exception as err:
            name = type(err).__name__
            if name == "AuthenticationException":
                raise SandboxError(
                    f"E2B refused the API key: {err}",
                    category="auth",
                    hint="check E2B_API_KEY (https://e2b.dev/dashboard?tab=keys)",
                ) from None
            raise SandboxError(
                f"cannot create the E2B sandbox from template {template or 'base'!r}: "
                f"{name}: {err}",
                hint="check --e2b-template and your E2B plan's limits (concurrent sandboxes, "
                "timeout)",
            ) from None

    def _snapshot(self, sandbox: Any, cache_key: str) -> None:
        try:
            # one name per (template, wheel): a name reused would take the other's place
            name = hashlib.sha256(cache_key.encode()).hexdigest()[:16]
            info = sandbox.create_snapshot(name=f"osiris-{name}")
        except Exception:  # not offered on this plan, or failed: installs stay uncached
            return
        self._record_snapshot(cache_key, str(info.snapshot_id))

    def _index_path(self) -> Path | None:
        return self._cache_dir / "snapshots.json" if self._cache_dir else None

    def _snapshot_index(self) -> dict[str, str]:
        path = self._index_path()
        try:
            found = json.loads(path.read_text("utf-8")) if path else {}
        except (OSError, ValueError):
            return {}
        return found if isinstance(found, dict) else {}

    def _record_snapshot(self, key: str, snapshot_id: str | None) -> None:
        path = self._index_path()
        if path is None:
            return
        index = self._snapshot_index()
        if snapshot_id is None:
            index.pop(key, None)
        else:
            index[key] = snapshot_id
        write_atomic(path, json.dumps(index, indent=2, sort_keys=True).encode(), mode=0o644)


class E2BSandbox:
    """One live `e2b.Sandbox`."""

    kind = "e2b"
    root = E2B_ROOT

    def __init__(
        self,
        sandbox: Any,
        *,
        cpu_count: int | None,
        memory_mb: int | None,
        ready: bool,
        on_installed: Callable[[], None] | None,
    ) -> None:
        self._sandbox = sandbox
        self.sandbox_id = str(getattr(sandbox, "sandbox_id", ""))
        self.cpu_count = cpu_count
        self.memory_mb = memory_mb
        self._ready = ready
        self._on_installed = on_installed
        self.killed = False

    def install_osiris(self, wheel: Wheel) -> str:
        venv = f"{E2B_HOME}/venv"
        python = f"{venv}/bin/python"
        if self._ready:
            return python
        target = f"{E2B_HOME}/{wheel.name}"
        self.write_file(target, wheel.path.read_bytes())
        requirement = f"{target}[{','.join(WHEEL_EXTRAS)}]"
        command = (
            f"python3 -m venv {shlex.quote(venv)} && {shlex.quote(python)} -m pip install "
            f"--quiet --disable-pip-version-check {shlex.quote(requirement)}"
        )
        done = run_to_end(self, command, cwd=E2B_HOME, timeout_s=900)
        if done.exit_code != 0:
            raise SandboxError(
                f"installing Osiris in the sandbox failed (exit {done.exit_code}):\n"
                + tail(done.stderr or done.stdout),
                hint="the template needs Python >= 3.11 with venv and pip, and access to PyPI",
            )
        if self._on_installed is not None:
            self._on_installed()  # before any project file or secret enters the sandbox
        return python

    def write_file(self, path: str, data: bytes) -> None:
        try:
            self._sandbox.files.write(path, data)
        except Exception as err:
            raise SandboxError(f"cannot write {path} in the sandbox: {err}") from None

    def read_file(self, path: str) -> bytes:
        try:
            data = self._sandbox.files.read(path, format="bytes")
        except Exception as err:
            raise SandboxError(f"cannot read {path} from the sandbox: {err}") from None
        return bytes(data)

    def start(
        self,
        command: str,
        *,
        envs: Mapping[str, str],
        cwd: str,
        on_stdout: OutputHandler,
        on_stderr: OutputHandler,
        timeout_s: float,
    ) -> E2BCommand:
        try:
            handle = self._sandbox.commands.run(
                command,
                background=True,
                envs=dict(envs),
                cwd=cwd,
                timeout=timeout_s,
            )
        except Exception as err:
            raise SandboxError(f"cannot start a command in the sandbox: {err}") from None
        return E2BCommand(self._sandbox, handle, on_stdout, on_stderr, timeout_s)

    def kill(self) -> None:
        if self.killed:
            return
        self.killed = True
        _quietly(self._sandbox.kill)


class E2BCommand:
    """Follows a background command's output on a thread (`CommandHandle.wait` streams it)."""

    def __init__(
        self,
        sandbox: Any,
        handle: Any,
        on_stdout: OutputHandler,
        on_stderr: OutputHandler,
        timeout_s: float,
    ) -> None:
        self._sandbox = sandbox
        self._handle = handle
        self.pid = int(handle.pid)
        self._timeout_s = timeout_s
        self._exit_code: int | None = None
        self._error: SandboxError | None = None
        self._thread = threading.Thread(
            target=self._follow, args=(on_stdout, on_stderr), daemon=True, name="osiris-e2b"
        )
        self._thread.start()

    def _follow(self, on_stdout: OutputHandler, on_stderr: OutputHandler) -> None:
        try:
            result = self._handle.wait(on_stdout=on_stdout, on_stderr=on_stderr)
            self._exit_code = int(result.exit_code)
        except Exception as err:
            name = type(err).__name__
            if name == "CommandExitException":
                self._exit_code = int(getattr(err, "exit_code", 1))
            elif name == "TimeoutException":
                self._error = SandboxTimeoutError(self._timeout_s)
            else:
                self._error = SandboxError(f"lost the command in the sandbox: {name}: {err}")

    def wait(self, timeout_s: float | None = None) -> int | None:
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            return None
        if self._error is not None:
            raise self._error
        return self._exit_code if self._exit_code is not None else -1

    def interrupt(self) -> None:
        # The command runs as `bash -l -c "... exec python ..."`: its pid is Osiris's.
        _quietly(lambda: self._sandbox.commands.run(f"kill -INT {self.pid}", timeout=15))


def _resource_shortfall(spec: SandboxSpec, cpu: int, memory: int) -> str:
    short = []
    if spec.cpu and cpu and cpu < spec.cpu:
        short.append(f"{cpu} vCPU, but --e2b-cpu asks for {spec.cpu}")
    if spec.memory_mb and memory and memory < spec.memory_mb:
        short.append(f"{memory} MiB of memory, but --e2b-mem asks for {spec.memory_mb}")
    return "; ".join(short)


def _quietly(action: Callable[[], Any]) -> None:
    with contextlib.suppress(Exception):
        action()


# -- a local process sandbox ------------------------------------------------------------------


def default_local_cache() -> Path:
    """Where the local process sandbox keeps its virtual environments (one per wheel)."""
    chosen = os.environ.get("OSIRIS_SANDBOX_CACHE")
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "osiris" / "sandbox"


class LocalProcessTransport:
    """Sandboxes as local processes: a fresh temporary directory, a scrubbed environment.

    Each wheel gets a fresh virtual environment (`python -m venv`, no system site-packages)
    under `cache_dir/envs/<key>`, built once: the wheel is installed by pip (`--no-deps`),
    and its dependencies are hard-linked from the files this interpreter's distributions
    recorded (the dependency closure of `osiris-oml[postgres]`, nothing else), so it
    works offline and takes a second, not a PyPI download. `keep=True` leaves each sandbox
    directory behind for inspection (tests read it).
    """

    kind = "local"

    def __init__(
        self, cache_dir: Path | None = None, *, workdir: Path | None = None, keep: bool = False
    ) -> None:
        self.cache_dir = cache_dir or default_local_cache()
        self.workdir = workdir
        self.keep = keep
        #: every sandbox this transport created, newest last (tests inspect them)
        self.created: list[LocalProcessSandbox] = []

    def check(self) -> None:
        return None

    def create(self, spec: SandboxSpec) -> LocalProcessSandbox:
        if self.workdir is not None:
            self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            root = Path(tempfile.mkdtemp(prefix="osiris-sandbox-", dir=self.workdir)).resolve()
        except OSError as err:
            raise SandboxError(f"cannot create the local sandbox directory: {err}") from None
        for name in ("home", "tmp"):
            (root / name).mkdir()
        sandbox = LocalProcessSandbox(root, self.cache_dir, keep=self.keep)
        self.created.append(sandbox)
        return sandbox


@dataclass
class RecordedCommand:
    """A command a local sandbox ran, with the environment it was given (tests check both)."""

    command: str
    envs: dict[str, str] = field(repr=False)
    cwd: str


class LocalProcessSandbox:
    kind = "local"

    def __init__(self, root: Path, cache_dir: Path, *, keep: bool = False) -> None:
        self.root = str(root)
        self.sandbox_id = root.name
        self.cpu_count: int | None = os.cpu_count()
        self.memory_mb: int | None = None
        self._cache_dir = cache_dir
        self._keep = keep
        self._processes: list[subprocess.Popen[bytes]] = []
        self.commands: list[RecordedCommand] = []
        self.written: list[str] = []
        self.killed = False

    def _inside(self, path: str) -> Path:
        target = Path(path)
        if not target.is_absolute() or not target.resolve().is_relative_to(self.root):
            raise SandboxError(f"{path}: outside the sandbox directory {self.root}")
        return target

    def install_osiris(self, wheel: Wheel) -> str:
        return str(local_environment(self._cache_dir, wheel) / "bin" / "python")

    def write_file(self, path: str, data: bytes) -> None:
        target = self._inside(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        self.written.append(str(target))

    def read_file(self, path: str) -> bytes:
        try:
            return self._inside(path).read_bytes()
        except OSError as err:
            raise SandboxError(f"cannot read {path} from the sandbox: {err}") from None

    def start(
        self,
        command: str,
        *,
        envs: Mapping[str, str],
        cwd: str,
        on_stdout: OutputHandler,
        on_stderr: OutputHandler,
        timeout_s: float,
    ) -> LocalCommand:
        if self.killed:
            raise SandboxError("the sandbox was killed")
        self.commands.append(RecordedCommand(command, dict(envs), cwd))
        environment = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": f"{self.root}/home",
            "TMPDIR": f"{self.root}/tmp",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "PYTHONNOUSERSITE": "1",
            **envs,
        }
        try:
            process = subprocess.Popen(
                ["/bin/sh", "-c", command],
                cwd=cwd,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # its own process group: interrupt and kill reach all
            )
        except OSError as err:
            raise SandboxError(f"cannot start a command in the sandbox: {err}") from None
        self._processes.append(process)
        return LocalCommand(process, on_stdout, on_stderr, timeout_s)

    def kill(self) -> None:
        if self.killed:
            return
        self.killed = True
        for process in self._processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=10)
        if not self._keep:
            shutil.rmtree(self.root, ignore_errors=True)


class LocalCommand:
    def __init__(
        self,
        process: subprocess.Popen[bytes],
        on_stdout: OutputHandler,
        on_stderr: OutputHandler,
        timeout_s: float,
    ) -> None:
        self._process = process
        self._deadline = time.monotonic() + timeout_s if timeout_s else None
        self._timeout_s = timeout_s
        assert process.stdout is not None and process.stderr is not None
        self._readers = [
            threading.Thread(target=_pump, args=(process.stdout, on_stdout), daemon=True),
            threading.Thread(target=_pump, args=(process.stderr, on_stderr), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def wait(self, timeout_s: float | None = None) -> int | None:
        limit = timeout_s
        if self._deadline is not None:
            left = max(0.0, self._deadline - time.monotonic())
            limit = left if limit is None else min(limit, left)
        try:
            code = self._process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            if self._deadline is not None and time.monotonic() >= self._deadline:
                self._signal(signal.SIGKILL)
                self._process.wait()
                self._drain()
                raise SandboxTimeoutError(self._timeout_s) from None
            return None
        self._drain()
        return code

    def _drain(self) -> None:
        for reader in self._readers:
            reader.join()

    def interrupt(self) -> None:
        self._signal(signal.SIGINT)

    def _signal(self, number: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, number)


def _pump(stream: IO[bytes], handler: OutputHandler) -> None:
    """Hand each line to `handler` as soon as it is read (the child flushes per line)."""
    with stream:
        for raw in iter(stream.readline, b""):
            handler(raw.decode("utf-8", errors="replace"))


# -- the local environments -------------------------------------------------------------------


def local_environment(cache_dir: Path, wheel: Wheel) -> Path:
    """A fresh virtual environment with `wheel` installed, built once per wheel and Python."""
    distributions = dependency_closure("osiris-oml", WHEEL_EXTRAS)
    fingerprint = hashlib.sha256(
        json.dumps(
            [
                wheel.sha256,
                sys.version,
                sorted((d.metadata["Name"], d.version) for d in distributions),
            ]
        ).encode()
    ).hexdigest()[:16]
    envs = cache_dir / "envs"
    target = envs / fingerprint
    python = target / "bin" / "python"
    if (target / ".ready").exists():
        return target
    envs.mkdir(parents=True, exist_ok=True)
    with _locked(envs / f".{fingerprint}.lock"):
        if (target / ".ready").exists():
            return target
        shutil.rmtree(target, ignore_errors=True)
        try:
            subprocess.run(
                [sys.executable, "-m", "venv", "--without-pip", str(target)],
                check=True,
                capture_output=True,
            )
            site = target / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}"
            site = site / "site-packages"
            for dist in distributions:
                _link_distribution(dist, site)
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "--python",
                    str(python),
                    "--disable-pip-version-check",
                    "install",
                    "--quiet",
                    "--no-deps",
                    "--no-index",
                    str(wheel.path),
                ],
                check=True,
                capture_output=True,
            )
        except (OSError, subprocess.CalledProcessError) as err:
            shutil.rmtree(target, ignore_errors=True)
            detail = getattr(err, "stderr", b"") or b""
            raise SandboxError(
                "cannot build the local sandbox's environment: "
                + (tail(detail.decode(errors="replace")) or str(err))
            ) from None
        (target / ".ready").write_text(wheel.name + "\n", "utf-8")
    return target


def dependency_closure(name: str, extras: tuple[str, ...]) -> list[Any]:
    """The installed distributions `name[extras]` needs, recursively (not `name` itself)."""
    from importlib import metadata

    try:
        from packaging.requirements import Requirement
        from packaging.utils import canonicalize_name
    except ImportError:
        raise SandboxError(
            "the local sandbox needs the `packaging` package", hint="pip install packaging"
        ) from None

    from runtime.adapters.wheel import installed_distribution

    found: dict[str, tuple[Any, set[str]]] = {}
    root = canonicalize_name(name)

    def visit(requirement: str, wanted: set[str]) -> None:
        key = canonicalize_name(requirement)
        try:
            dist = installed_distribution() if key == root else metadata.distribution(requirement)
        except (metadata.PackageNotFoundError, RuntimeError):
            raise SandboxError(
                f"{requirement} (needed by {name}) is not installed here",
                hint="the local sandbox copies dependencies from this environment",
            ) from None
        known = found.get(key)
        if known is not None and wanted <= known[1]:
            return
        chosen = (known[1] if known else set()) | wanted
        found[key] = (dist, chosen)
        for line in dist.requires or []:
            req = Requirement(line)
            environments = [{"extra": extra} for extra in ("", *sorted(chosen))]
            if req.marker is None or any(req.marker.evaluate(e) for e in environments):
                visit(req.name, set(req.extras))

    visit(name, set(extras))
    return [dist for key, (dist, _) in sorted(found.items()) if key != root]


def _link_distribution(dist: Any, site: Path) -> None:
    """The distribution's recorded files into `site`: hard links, copies across devices."""
    for relative in dist.files or []:
        if ".." in Path(str(relative)).parts:
            continue  # scripts in bin/: the sandbox runs `python -m`
        source = Path(str(dist.locate_file(relative)))
        if not source.is_file():
            continue
        target = site / str(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)
        except FileExistsError:
            continue
        except OSError:
            shutil.copy2(source, target)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
