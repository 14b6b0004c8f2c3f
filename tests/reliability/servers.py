"""Throwaway MariaDB and PostgreSQL servers, started from the installed binaries in a
temporary folder on a free loopback port, so a test may stop and restart them at will.

The shared servers on 3306/5432 serve every other test at the same time: they are never
restarted. These are; each keeps its data folder across a restart, as a real server does.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: How long a server may take to start or to stop before the fixture gives up.
READY_S = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited ({process.returncode}): {_tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the server did not listen on {port} within {READY_S} s: {_tail(log)}")


def _tail(log: Path) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").splitlines()[-8:])
    except OSError:
        return "(no log)"


# ----------------------------------------------------------------------------- MariaDB


def _os_user() -> str:
    """Who the server runs as: this process's user (mariadbd switches user only as root)."""
    import pwd

    return pwd.getpwuid(os.geteuid()).pw_name


@dataclass
class ThrowawayMariaDB:
    """`mariadbd` on its own data folder, as root without a password on 127.0.0.1."""

    root: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def missing() -> str | None:
        """Why a throwaway MariaDB cannot be made here (None: it can)."""
        for binary in ("mariadb-install-db", "mariadbd"):
            if shutil.which(binary) is None and not Path(f"/usr/sbin/{binary}").exists():
                return f"{binary} is not installed"
        return None

    @property
    def fields(self) -> dict[str, Any]:
        return {"host": "127.0.0.1", "port": self.port, "user": "root", "password": ""}

    def install(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={self.root / 'data'}",
                "--auth-root-authentication-method=normal",
                f"--user={_os_user()}",
                "--skip-test-db",
            ],
            check=True,
            capture_output=True,
            timeout=READY_S,
        )

    def start(self) -> None:
        mariadbd = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
        log = self.root / "error.log"
        self.process = subprocess.Popen(
            [
                mariadbd,
                "--no-defaults",
                f"--datadir={self.root / 'data'}",
                f"--socket={self.root / 'mariadb.sock'}",
                f"--pid-file={self.root / 'mariadb.pid'}",
                f"--log-error={log}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--user={_os_user()}",
                "--skip-name-resolve",
                "--local-infile=1",
                "--innodb-buffer-pool-size=64M",
                "--innodb-log-file-size=16M",
                "--innodb-fast-shutdown=1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_port(self.port, self.process, log)
        self._wait_for_login()

    def _wait_for_login(self) -> None:
        import pymysql

        deadline = time.monotonic() + READY_S
        while True:
            try:
                pymysql.connect(**self.fields, connect_timeout=2).close()
                return
            except pymysql.MySQLError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        """A normal shutdown (SIGTERM): open transactions are rolled back, clients cut off."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=READY_S)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def ensure_running(self) -> None:
        """Start the server again if a test left it stopped."""
        if self.process is None or self.process.poll() is not None:
            self.start()

    def connect(self, database: str | None = None) -> Any:
        import pymysql

        return pymysql.connect(**self.fields, database=database, autocommit=True)


# -------------------------------------------------------------------------- PostgreSQL


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


@dataclass
class ThrowawayPostgres:
    """A PostgreSQL cluster on its own data folder, run as the `postgres` OS user (the
    server refuses to run as root), with trust authentication on 127.0.0.1."""

    root: Path
    port: int = field(default_factory=free_port)
    database: str = "test"

    @staticmethod
    def missing() -> str | None:
        if _postgres_bin() is None:
            return "the PostgreSQL server binaries (initdb, pg_ctl) are not installed"
        if os.geteuid() == 0:
            if shutil.which("runuser") is None:
                return "running PostgreSQL as root needs runuser"
            try:
                import pwd

                pwd.getpwnam("postgres")
            except KeyError:
                return "there is no `postgres` OS user to run the server as"
        return None

    @property
    def fields(self) -> dict[str, Any]:
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "user": "postgres",
            "password": "",
            "database": self.database,
        }

    @property
    def data(self) -> Path:
        return self.root / "data"

    def _as_owner(self, *command: str) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else [*command]

    def _chown(self, path: Path) -> None:
        if os.geteuid() == 0:
            import pwd

            owner = pwd.getpwnam("postgres")
            os.chown(path, owner.pw_uid, owner.pw_gid)

    def install(self) -> None:
        binaries = _postgres_bin()
        assert binaries is not None
        self.root.mkdir(parents=True, exist_ok=True)
        self._chown(self.root)  # (its parent folders must let the postgres user through)
        subprocess.run(
            self._as_owner(
                str(binaries / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ),
            check=True,
            capture_output=True,
            timeout=READY_S,
        )

    def start(self) -> None:
        binaries = _postgres_bin()
        assert binaries is not None
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c shared_buffers=32MB -c max_connections=60"
        )
        subprocess.run(
            self._as_owner(
                str(binaries / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.root / "server.log"),
                "-o",
                options,
                "-w",
                "-t",
                str(int(READY_S)),
                "start",
            ),
            check=True,
            capture_output=True,
            timeout=READY_S + 5,
        )
        self._wait_for_login()

    def _wait_for_login(self) -> None:
        import psycopg

        deadline = time.monotonic() + READY_S
        while True:
            try:
                psycopg.connect(self._conninfo("postgres"), connect_timeout=2).close()
                return
            except psycopg.Error:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        """A fast shutdown: open transactions are rolled back, clients cut off."""
        binaries = _postgres_bin()
        assert binaries is not None
        subprocess.run(
            self._as_owner(
                str(binaries / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"
            ),
            capture_output=True,
            timeout=READY_S + 5,
        )

    def restart(self) -> None:
        self.stop()
        self.start()

    def ensure_running(self) -> None:
        """Start the server again if a test left it stopped."""
        binaries = _postgres_bin()
        assert binaries is not None
        status = subprocess.run(
            self._as_owner(str(binaries / "pg_ctl"), "-D", str(self.data), "status"),
            capture_output=True,
        )
        if status.returncode != 0:
            self.start()

    def _conninfo(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"

    def connect(self, database: str | None = None) -> Any:
        import psycopg

        return psycopg.connect(self._conninfo(database or self.database), autocommit=True)

    def create_database(self) -> None:
        with self.connect("postgres") as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')
