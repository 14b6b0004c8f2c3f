"""Discovery speed on a 200-table, 2,000-column MySQL schema: cold, cached, cached unchecked.

Targets (issue 5): cold discovery < 2 s; a cached lookup with its drift check < 20 ms; a
cached lookup without the drift check (what `compile --catalog auto` does) < 5 ms. The
peers: the reference tool's cold `osiris mcp discovery run` beside our cold
`osiris discover --refresh`, and SQLAlchemy's inspector reflecting the same schema.

Needs the MariaDB/MySQL server on 127.0.0.1:3306 (root, no password; override with
OSIRIS_BENCH_MYSQL=host:port:user:password). The scratch database and the bench user
are dropped afterwards.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    OSIRIS,
    Figure,
    median,
    precompile,
    print_figures,
    reference_venv,
    run_measured,
    save,
    time_call,
)

TABLES = 200
TYPES = ("varchar(40)", "int", "decimal(12,2)", "datetime", "text", "tinyint(1)", "date", "json")


@dataclass(frozen=True)
class Connection:
    family: str
    alias: str
    fields: dict[str, Any] = field(default_factory=dict)


def server_fields() -> dict[str, Any]:
    import os

    spec = os.environ.get("OSIRIS_BENCH_MYSQL") or "127.0.0.1:3306:root:"
    host, port, user, password = spec.split(":", 3)
    return {"host": host, "port": int(port), "user": user, "password": password}


@contextmanager
def scratch_schema(admin: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """200 tables of 10 columns (id, parent_id → the previous table, 8 typed), and a user
    with a password (the reference tool refuses an empty one); both dropped after."""
    import pymysql  # type: ignore[import-untyped]

    database, user = f"osiris_bench_{uuid.uuid4().hex[:8]}", f"osiris_b_{uuid.uuid4().hex[:6]}"
    password = uuid.uuid4().hex
    conn = pymysql.connect(**admin, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{database}`")
            cur.execute(f"USE `{database}`")
            for i in range(TABLES):
                typed = ", ".join(f"c{j} {TYPES[(i + j) % len(TYPES)]}" for j in range(8))
                parent = f", FOREIGN KEY (parent_id) REFERENCES t{i - 1:03d} (id)" if i else ""
                cur.execute(
                    f"CREATE TABLE t{i:03d} (id INT PRIMARY KEY, parent_id INT, {typed}{parent})"
                )
            cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
            cur.execute(f"GRANT SELECT ON `{database}`.* TO '{user}'@'%'")
        yield {**admin, "user": user, "password": password, "database": database}
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        conn.close()


def sqlalchemy_reflect(fields: dict[str, Any]) -> Callable[[], object]:
    import sqlalchemy

    url = sqlalchemy.URL.create(
        "mysql+pymysql",
        username=fields["user"],
        password=fields["password"],
        host=fields["host"],
        port=fields["port"],
        database=fields["database"],
    )

    def reflect() -> object:
        engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
        try:
            inspector = sqlalchemy.inspect(engine)
            return (
                inspector.get_multi_columns(),
                inspector.get_multi_pk_constraint(),
                inspector.get_multi_foreign_keys(),
            )
        finally:
            engine.dispose()

    return reflect


def connections_yaml(fields: dict[str, Any]) -> str:
    mysql = {k: fields[k] for k in ("host", "port", "user", "password", "database")}
    return json.dumps({"version": 1, "connections": {"mysql": {"bench": mysql}}}, indent=2)


def cold_processes(fields: dict[str, Any], runs: int) -> tuple[list[float], list[float], str]:
    """Our `osiris discover --refresh` and the reference's discovery, interleaved."""
    work = Path(tempfile.mkdtemp(prefix="osiris-bench-discover-"))
    (work / "osiris_connections.yaml").write_text(connections_yaml(fields))  # JSON is YAML
    ref = reference_venv()
    ours: list[float] = []
    theirs: list[float] = []
    problems = []
    for _ in range(runs):
        argv = [*OSIRIS, "discover", "@mysql.bench", "--refresh", "--json", "--project", "."]
        mine = run_measured(argv, cwd=work)
        if mine.returncode == 0:
            ours.append(mine.seconds)
        else:
            problems.append(f"osiris discover exited {mine.returncode}: {mine.stderr[-200:]}")
        if ref:
            argv = [str(ref / "bin" / "osiris"), "mcp", "discovery", "run", "@mysql.bench"]
            their = run_measured([*argv, "--samples", "0", "--json"], cwd=work)
            found = _tables_found(their.stdout)
            if their.returncode == 0 and found is not None:
                theirs.append(their.seconds)
                if found != TABLES:
                    problems.append(f"the reference reads {found} of the {TABLES} tables")
            else:
                problems.append(f"reference failed: {(their.stdout + their.stderr)[-200:]}")
    shutil.rmtree(work, ignore_errors=True)
    return ours, theirs, "; ".join(sorted(set(problems)))


def _tables_found(stdout: str) -> int | None:
    """How many tables the reference says it discovered (None: it failed). The measured
    run keeps only the end of stdout, where its JSON puts `tables_found` and `status`."""
    found = re.search(r'"tables_found": (\d+)', stdout)
    return int(found.group(1)) if found and '"status": "success"' in stdout else None


def main(runs: int = 7) -> list[Figure]:
    precompile()
    from runtime.catalog import CatalogStore
    from runtime.discovery import discover

    runs = max(runs, 5)
    with scratch_schema(server_fields()) as fields:
        connection = Connection("mysql", "bench", fields)
        with tempfile.TemporaryDirectory() as project, CatalogStore(project) as store:
            catalog = store.discover(connection, refresh=True).catalog
            assert sum(len(t.columns) for t in catalog.tables) == TABLES * 10
            cold = median(time_call(lambda: store.discover(connection, refresh=True), runs)) * 1000
            bare = median(time_call(lambda: discover(connection), runs)) * 1000
            checked = median(time_call(lambda: store.discover(connection), max(runs, 20))) * 1000
            unchecked = median(time_call(lambda: store.cached(connection), max(runs, 20))) * 1000
        reflect = median(time_call(sqlalchemy_reflect(fields), runs)) * 1000
        ours, theirs, problems = cold_processes(fields, runs)

    figures = [
        Figure("discover 200 tables / 2,000 columns, cold", "ms", round(cold, 1),
               target="< 2000 ms", met=cold < 2000, runs=runs,
               note=f"in-process, catalog stored and artifacts written; discover() alone "
               f"{bare:.1f} ms; SQLAlchemy inspector on the same schema {reflect:.1f} ms"),
        Figure("cached lookup, drift check included", "ms", round(checked, 2),
               target="< 20 ms", met=checked < 20, runs=max(runs, 20),
               note="one fingerprint query over information_schema.COLUMNS"),
        Figure("cached lookup, no drift check", "ms", round(unchecked, 2),
               target="< 5 ms", met=unchecked < 5, runs=max(runs, 20),
               note="what `compile --catalog auto` does: no connection"),
        Figure("discover, cold process (CLI)", "ms",
               round(median(ours) * 1000, 1) if ours else None,
               reference=round(median(theirs) * 1000, 1) if theirs else None, runs=runs,
               note="osiris discover --refresh vs reference `osiris mcp discovery run "
               "--samples 0`" + (f"; {problems}" if problems else "")),
    ]  # fmt: skip
    print_figures("discover", figures)
    save("discover", figures)
    return figures


if __name__ == "__main__":
    main()
