"""A real Spark standalone cluster on 127.0.0.1, started by pyspark's own launcher.

    with standalone_cluster(workers=2) as cluster:
        run(["osiris", "run", ..., "--engine", "spark", "--spark-master", cluster.master_url])

The master and every worker are separate JVMs (`bin/spark-class
org.apache.spark.deploy.master.Master` / `...worker.Worker`), each the leader of its own
process group, so an executor a worker launched goes down with it. Ports are free ones
picked at start, every daemon writes its log into one temporary folder, and the whole
cluster is torn down on leaving the block, whatever happened inside it. The pip package
ships `bin/spark-class` but not `sbin/start-master.sh`; spark-class `exec`s the JVM, so the
pid we hold is the daemon's own.

Also used by bench/spark.py, which is why it needs nothing from pytest.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
#: What the daemons themselves get (SPARK_DAEMON_MEMORY); their executors are sized apart.
DAEMON_MEMORY = "256m"
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 15.0


class ClusterError(RuntimeError):
    """The cluster could not be started; the message ends with the daemons' log tails."""


def spark_home() -> Path:
    """The pyspark package folder: its bin/ holds Spark's launcher, its jars/ Spark itself."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def java_available() -> bool:
    return shutil.which("java") is not None or bool(os.environ.get("JAVA_HOME"))


def free_port() -> int:
    """A port nothing listens on now (the daemon binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Daemon:
    """One of the cluster's JVMs."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    webui_port: int

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the daemon and everything it launched (its executors), as a dead host."""
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        """SIGTERM (a worker then stops its executors), SIGKILL whatever is left."""
        if self.alive():
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(STOP_TIMEOUT_S)
        # the group may outlive its leader (an executor still exiting): end it too
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(STOP_TIMEOUT_S)

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return f"{self.name}: no log"
        return "\n".join([f"--- {self.name} ({self.log.name})", *text[-lines:]])


@dataclass
class SparkCluster:
    """A running standalone cluster: where to reach it and its daemons."""

    master: Daemon
    master_url: str
    workers: list[Daemon]
    folder: Path
    worker_cores: int
    worker_memory: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def webui(self) -> str:
        return f"http://{HOST}:{self.master.webui_port}"

    def state(self) -> dict[str, object]:
        """The master's own view (its web UI's /json/): workers, applications."""
        with urllib.request.urlopen(f"{self.webui}/json/", timeout=5) as response:
            data: dict[str, object] = json.load(response)
            return data

    def alive_workers(self) -> int:
        try:
            workers = self.state().get("workers", [])
        except (OSError, ValueError):
            return 0
        assert isinstance(workers, list)
        return sum(1 for w in workers if w.get("state") == "ALIVE")

    def running_apps(self) -> int:
        try:
            apps = self.state().get("activeapps", [])
        except (OSError, ValueError):
            return 0
        assert isinstance(apps, list)
        return sum(1 for a in apps if a.get("state") == "RUNNING")

    def executors_of(self, worker: Daemon) -> list[int]:
        """Pids of the executor JVMs `worker` launched and still runs."""
        if not worker.alive():
            return []
        return [pid for pid in descendants(worker.pid) if _is_executor(pid)]

    def connected_to(self, port: int) -> tuple[Daemon, int] | None:
        """(worker, executor pid) of an executor with a TCP connection open to `port`."""
        open_inodes = _established_to(port)
        for worker in self.workers:
            for pid in self.executors_of(worker):
                if _socket_inodes(pid) & open_inodes:
                    return worker, pid
        return None

    def restart_worker(self, worker: Daemon) -> Daemon:
        """A new worker in the place of a stopped or killed one, registered before returning."""
        worker.stop()
        index = self.workers.index(worker)
        name, webui = worker.name, free_port()
        self.workers[index] = _launch(
            name, _worker_args(self, name, webui), self.env, self.folder, webui
        )
        self.wait_for_workers(len(self.workers))
        return self.workers[index]

    def log_tails(self) -> str:
        return "\n".join(d.log_tail() for d in (self.master, *self.workers))

    def wait_for_workers(self, count: int, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [d.name for d in (self.master, *self.workers) if not d.alive()]
            if dead:
                raise ClusterError(f"{', '.join(dead)} exited at start\n{self.log_tails()}")
            if self.alive_workers() >= count:
                return
            time.sleep(0.5)
        raise ClusterError(
            f"{count} workers did not register with {self.master_url} in {timeout:g} s\n"
            f"{self.log_tails()}"
        )

    def stop(self) -> None:
        # workers first, so none re-registers with (or waits on) a master going away
        for daemon in (*self.workers, self.master):
            daemon.stop()


def descendants(pid: int) -> list[int]:
    """Every live process under `pid`, from one pass over /proc (Linux)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with suppress(OSError, ValueError, IndexError):
            # the command name (field 2) may hold spaces: the parent pid follows its ')'
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _is_executor(pid: int) -> bool:
    try:
        return b"CoarseGrainedExecutorBackend" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _established_to(port: int) -> set[int]:
    """Socket inodes of this host's established TCP connections whose far end is `port`."""
    inodes: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            remote, state = fields[2], fields[3]
            if state == "01" and int(remote.rsplit(":", 1)[1], 16) == port:
                inodes.add(int(fields[9]))
    return inodes


def _socket_inodes(pid: int) -> set[int]:
    inodes: set[int] = set()
    try:
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return inodes
    for fd in fds:
        with suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    return inodes


def _worker_args(cluster: SparkCluster, name: str, webui: int) -> list[str]:
    return [
        "org.apache.spark.deploy.worker.Worker", "--host", HOST, "--port", str(free_port()),
        "--webui-port", str(webui), "--cores", str(cluster.worker_cores),
        "--memory", cluster.worker_memory, "--work-dir", str(cluster.folder / "work" / name),
        cluster.master_url,
    ]  # fmt: skip


def _environment(folder: Path) -> dict[str, str]:
    home = spark_home()
    env = {
        **os.environ,
        "SPARK_HOME": str(home),
        "SPARK_LOCAL_IP": HOST,
        "SPARK_LOCAL_HOSTNAME": HOST,
        "SPARK_LOG_DIR": str(folder / "logs"),
        "SPARK_WORKER_DIR": str(folder / "work"),
        "SPARK_LOCAL_DIRS": str(folder / "tmp"),
        "SPARK_DAEMON_MEMORY": DAEMON_MEMORY,
        # the daemons' own conf folder: none, so a user's spark-defaults.conf stays out
        "SPARK_CONF_DIR": str(folder / "conf"),
    }
    for sub in ("logs", "work", "tmp", "conf"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return env


def _detach() -> None:
    """In the daemon before exec: its own process group (stop and kill reach its executors),
    and SIGKILL when the process that started it dies, so a killed test run leaves no JVM."""
    os.setsid()
    with suppress(OSError, AttributeError):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _launch(name: str, args: list[str], env: dict[str, str], folder: Path, webui: int) -> Daemon:
    log = folder / "logs" / f"{name}.log"
    with log.open("ab") as out:  # a restarted worker appends to its predecessor's log
        process = subprocess.Popen(
            [str(spark_home() / "bin" / "spark-class"), *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_detach,
        )
    return Daemon(name, process, log, webui)


def start_cluster(
    workers: int = 2,
    cores: int = 1,
    memory: str = "1g",
    folder: Path | None = None,
) -> SparkCluster:
    """Start a master and `workers` workers and wait until all have registered.

    On any failure the daemons already started are stopped before the error is raised.
    """
    if not java_available():
        raise ClusterError("no `java` on PATH and no JAVA_HOME: Spark needs a JRE (17 or 21)")
    folder = folder or Path(tempfile.mkdtemp(prefix="osiris-spark-cluster-"))
    env = _environment(folder)
    port, webui = free_port(), free_port()
    master = _launch(
        "master",
        ["org.apache.spark.deploy.master.Master", "--host", HOST, "--port", str(port),
         "--webui-port", str(webui)],
        env, folder, webui,
    )  # fmt: skip
    cluster = SparkCluster(master, f"spark://{HOST}:{port}", [], folder, cores, memory, env)
    try:
        for i in range(workers):
            name, worker_ui = f"worker-{i + 1}", free_port()
            cluster.workers.append(
                _launch(name, _worker_args(cluster, name, worker_ui), env, folder, worker_ui)
            )
        cluster.wait_for_workers(workers)
    except BaseException:
        cluster.stop()
        raise
    return cluster


@contextmanager
def standalone_cluster(
    workers: int = 2, cores: int = 1, memory: str = "1g", keep_logs: bool = False
) -> Iterator[SparkCluster]:
    """A started cluster for the block; stopped and its folder removed on leaving it."""
    folder = Path(tempfile.mkdtemp(prefix="osiris-spark-cluster-"))
    try:
        cluster = start_cluster(workers, cores, memory, folder)
        try:
            yield cluster
        finally:
            cluster.stop()
    finally:
        if not keep_logs:
            shutil.rmtree(folder, ignore_errors=True)
