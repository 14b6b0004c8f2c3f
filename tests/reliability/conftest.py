"""Fixtures of the reliability suite: throwaway servers a test may restart, one per session.

Where the binaries are missing the tests that need them skip with the reason; under CI
(`CI=true`) they fail instead, as the shared-server fixtures of tests/conftest.py do.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.harness import Tmpfs
from tests.reliability.servers import ThrowawayMariaDB, ThrowawayPostgres


def _cannot(what: str, reason: str) -> None:
    message = f"cannot start a throwaway {what}: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " — CI must run the fault-injection tests", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def throwaway_mariadb() -> Iterator[ThrowawayMariaDB]:
    """A MariaDB server of this test session alone, on a free port (restartable)."""
    reason = ThrowawayMariaDB.missing()
    if reason:
        _cannot("MariaDB", reason)
    root = Path(tempfile.mkdtemp(prefix="osiris-mariadb-"))
    server = ThrowawayMariaDB(root)
    try:
        server.install()
        server.start()
    except Exception as err:  # a broken installation: say what, then clean up
        shutil.rmtree(root, ignore_errors=True)
        _cannot("MariaDB", f"{type(err).__name__}: {err}")
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    """A PostgreSQL cluster of this test session alone, on a free port (restartable)."""
    reason = ThrowawayPostgres.missing()
    if reason:
        _cannot("PostgreSQL", reason)
    root = Path(tempfile.mkdtemp(prefix="osiris-postgres-"))
    server = ThrowawayPostgres(root)
    try:
        server.install()
        server.start()
        server.create_database()
    except Exception as err:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
        _cannot("PostgreSQL", f"{type(err).__name__}: {err}")
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def restartable_mysql(throwaway_mariadb: ThrowawayMariaDB) -> Iterator[dict[str, Any]]:
    """A fresh database on the throwaway MariaDB; connection fields for it."""
    name = f"osiris_r_{uuid.uuid4().hex[:10]}"
    with throwaway_mariadb.connect() as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    yield {**throwaway_mariadb.fields, "database": name}
    throwaway_mariadb.ensure_running()  # a test may have failed while it was down
    with throwaway_mariadb.connect() as conn, conn.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture
def restartable_pg(throwaway_postgres: ThrowawayPostgres) -> Iterator[dict[str, Any]]:
    """A fresh schema in the throwaway PostgreSQL; connection fields for it."""
    name = f"osiris_r_{uuid.uuid4().hex[:10]}"
    with throwaway_postgres.connect() as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    yield {**throwaway_postgres.fields, "schema": name}
    throwaway_postgres.ensure_running()
    with throwaway_postgres.connect() as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def tiny_disk() -> Iterator[Callable[[Path, str], Tmpfs]]:
    """Mounts a tmpfs of a size (`"256k"`) on a folder; every one is unmounted afterwards.

    Mounting needs root (CAP_SYS_ADMIN): elsewhere the test skips, and the file-size-limit
    variants of the same tests (RLIMIT_FSIZE) still run.
    """
    mounted: list[Tmpfs] = []

    def mount(path: Path, size: str) -> Tmpfs:
        disk = Tmpfs(path)
        problem = disk.mount(size)
        if problem:
            pytest.skip(f"cannot mount a tmpfs here: {problem}")
        mounted.append(disk)
        return disk

    yield mount
    for disk in mounted:
        disk.unmount()
