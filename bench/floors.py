"""Every extract-and-load path of Osiris against its physical floor: the database's own client.

    python bench/floors.py [--rows 5000000] [--upsert-rows 2000000] [--runs 5]
                           [--only mysql_csv,pg_csv,csv_csv,mysql_pg,mysql_pg_upsert]
                           [--no-reference]

Issue 17: each path runs `osiris run` as a user does, interleaved with the floor (the
`mysql`/`psql` clients, or DuckDB's COPY doing the pipeline's own transform) moving the
same rows. Osiris should take at most 1.3× the floor (1.5× for CSV → DuckDB → CSV), the
upsert under 10 s, with a peak RSS of at most 300 MB. Both sides' outputs are counted
after every run: a floor that moves fewer rows is not a floor.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    Figure,
    ProcessRun,
    median,
    precompile,
    print_figures,
    reference_venv,
    run_measured,
    save,
)
from bench.run import (
    COLUMNS,
    CSV_EXTRACT,
    CSV_WRITE,
    DATABASE,
    MYSQL_EXTRACT,
    PG_EXTRACT,
    PG_WRITE,
    TABLE,
    TRANSFORM,
    ours,
    pipeline,
    prepare_csv,
    prepare_mysql,
    prepare_postgres,
    project,
    reference,
)

# in the order they run: the upsert, last, makes its source out of the MySQL table
PATHS = ("mysql_csv", "pg_csv", "csv_csv", "mysql_pg", "mysql_pg_upsert")
PEAK_MB = 300
PSQL = "psql -h 127.0.0.1 -U postgres -d test -q -v ON_ERROR_STOP=1"
MYSQL_DUMP = "mysql -h127.0.0.1 -uroot -B -N -e"
REPLACE_FLOOR_TABLE = f"{TABLE}_floor"
UPSERT_TABLE = "bench_upsert"  # the MariaDB source and the PostgreSQL target
NO_REFERENCE = "the reference has no PostgreSQL reader or writer (its Supabase ones speak REST)"


@dataclass
class Route:
    """One path: Osiris's project, the floor's shell command, and how to count what each moved."""

    title: str
    folder: Path
    floor: str  # a bash command run in `folder`
    floor_label: str
    count_ours: Callable[[], int]
    count_floor: Callable[[], int]
    slack: float  # the target: Osiris within this multiple of the floor
    limit_s: float | None = None
    reset: Callable[[], None] | None = None  # untimed, before every run of either side
    before_floor: Callable[[], None] | None = None  # untimed, before every floor run
    ref_folder: Path | None = None
    note: str | None = None


def psql(script: str) -> str:
    done = subprocess.run(
        [*shlex.split(PSQL), "-At"], input=script, text=True, capture_output=True, check=True
    )
    return done.stdout.strip()


def pg_count(table: str) -> int:
    return int(psql(f"SELECT count(*) FROM {table};"))


def csv_rows(path: Path) -> int:
    """Data lines of a file with a header line (none of the bench's values holds a newline)."""
    lines = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 24):
            lines += chunk.count(b"\n")
    return lines - 1


def shell(command: str, cwd: Path) -> float:
    """Seconds of one floor command; a failed one stops the benchmark."""
    result = run_measured(["bash", "-o", "pipefail", "-c", command], cwd=cwd)
    if result.returncode != 0:
        raise RuntimeError(f"floor failed: {command}\n{result.stderr}")
    return result.seconds


def check(side: str, route: Route, moved: int, rows: int) -> None:
    if moved != rows:
        raise RuntimeError(f"{route.title}: {side} moved {moved:,} rows, not {rows:,}")


def mysql_csv(root: Path, rows: int, ref: Path | None) -> Route:
    text = pipeline("mysql-csv", MYSQL_EXTRACT, CSV_WRITE)
    folder = project(root, "mysql_csv", text)
    select = f"SELECT {COLUMNS} FROM {DATABASE}.{TABLE}"
    return Route(
        "MySQL → CSV",
        folder,
        f"mysql -h127.0.0.1 -uroot -B -e '{select}' > dump.tsv",
        "mysql -B > file",
        lambda: csv_rows(folder / "out.csv"),
        lambda: csv_rows(folder / "dump.tsv"),
        slack=1.3,
        ref_folder=project(root, "mysql_csv_ref", text) if ref else None,
    )


def pg_csv(root: Path, rows: int, ref: Path | None) -> Route:
    prepare_postgres(rows)
    folder = project(root, "pg_csv", pipeline("pg-csv", PG_EXTRACT, CSV_WRITE))
    copy = f"\\copy (SELECT {COLUMNS} FROM {TABLE}) TO 'dump.csv' CSV HEADER"
    return Route(
        "PostgreSQL → CSV",
        folder,
        f'{PSQL} -c "{copy}"',
        "psql \\copy",
        lambda: csv_rows(folder / "out.csv"),
        lambda: csv_rows(folder / "dump.csv"),
        slack=1.3,
        note=NO_REFERENCE,
    )


def csv_csv(root: Path, rows: int, ref: Path | None) -> Route:
    write = CSV_WRITE.replace("${extract.df}", "${transform.df}")
    text = pipeline("csv-duckdb-csv", CSV_EXTRACT, TRANSFORM + write)
    folder = project(root, "csv_csv", text)
    prepare_csv(folder, rows)
    ref_folder = None
    if ref:
        ref_folder = project(root, "csv_csv_ref", text)
        shutil.copy(folder / "input.csv", ref_folder / "input.csv")
    # the floor runs the pipeline's own query, so both sides do the same transform
    query = yaml.safe_load(TRANSFORM)[0]["config"]["query"]
    select = query.replace("df_extract", "read_csv('input.csv')")
    code = f"import duckdb; duckdb.sql(\"COPY ({select}) TO 'floor.csv' (HEADER)\")"
    return Route(
        "CSV → DuckDB → CSV",
        folder,
        f"{sys.executable} -c {shlex.quote(code)}",
        "DuckDB COPY, same query",
        lambda: csv_rows(folder / "out.csv"),
        lambda: csv_rows(folder / "floor.csv"),
        slack=1.5,
        ref_folder=ref_folder,
    )


def mysql_pg(root: Path, rows: int, ref: Path | None) -> Route:
    """The floor COPYs into a table shaped like the one Osiris's replace wrote."""
    psql(f"DROP TABLE IF EXISTS {TABLE}_copy; DROP TABLE IF EXISTS {REPLACE_FLOOR_TABLE};")
    folder = project(root, "mysql_pg", pipeline("mysql-postgres", MYSQL_EXTRACT, PG_WRITE))
    dump = f"{MYSQL_DUMP} 'SELECT {COLUMNS} FROM {DATABASE}.{TABLE}'"
    load = _session(
        "BEGIN",
        f"TRUNCATE {REPLACE_FLOOR_TABLE}",
        f"COPY {REPLACE_FLOOR_TABLE} FROM STDIN (FORMAT text, NULL 'NULL')",
        "COMMIT",
    )
    return Route(
        "MySQL → PostgreSQL (replace)",
        folder,
        f"{dump} | {load}",
        "mysql -B into psql COPY",
        lambda: pg_count(f"{TABLE}_copy"),
        lambda: pg_count(REPLACE_FLOOR_TABLE),
        slack=1.3,
        before_floor=lambda: psql(
            f"CREATE TABLE IF NOT EXISTS {REPLACE_FLOOR_TABLE} (LIKE {TABLE}_copy INCLUDING ALL);"
        ),
        note=NO_REFERENCE,
    )


def mysql_pg_upsert(root: Path, rows: int, ref: Path | None) -> Route:
    """Every run starts from the same target: ids 1..rows/2 with stale values."""
    prepare_mysql(rows)
    subprocess.run(
        ["mysql", "-h127.0.0.1", "-uroot", DATABASE],
        input=f"DROP TABLE IF EXISTS {UPSERT_TABLE}; RENAME TABLE {TABLE} TO {UPSERT_TABLE};",
        text=True,
        check=True,
    )
    psql(
        f"DROP TABLE IF EXISTS {UPSERT_TABLE};"
        f"CREATE TABLE {UPSERT_TABLE} (id INT PRIMARY KEY, customer_id INT NOT NULL, "
        "amount NUMERIC(10,2) NOT NULL, name VARCHAR(64) NOT NULL, "
        "created_at TIMESTAMP NOT NULL, status VARCHAR(16));"
    )
    write = PG_WRITE.replace(f"table: {TABLE}_copy", f"table: {UPSERT_TABLE}").replace(
        "write_mode: replace", "write_mode: upsert\n      primary_key: [id]"
    )
    extract = MYSQL_EXTRACT.replace(f"FROM {TABLE}", f"FROM {UPSERT_TABLE}")
    folder = project(root, "mysql_pg_upsert", pipeline("mysql-postgres-upsert", extract, write))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS.split(", ") if c != "id")
    dump = f"{MYSQL_DUMP} 'SELECT {COLUMNS} FROM {DATABASE}.{UPSERT_TABLE}'"
    load = _session(
        "BEGIN",
        f"CREATE TEMP TABLE stage (LIKE {UPSERT_TABLE}) ON COMMIT DROP",
        "COPY stage FROM STDIN (FORMAT text, NULL 'NULL')",
        f"INSERT INTO {UPSERT_TABLE} SELECT * FROM stage ON CONFLICT (id) DO UPDATE SET {updates}",
        "COMMIT",
    )

    def refill() -> None:
        psql(
            f"TRUNCATE {UPSERT_TABLE};"
            f"INSERT INTO {UPSERT_TABLE} SELECT g, 0, 0, 'stale ' || g, "
            f"timestamp '2000-01-01', 'stale' FROM generate_series(1, {rows // 2}) AS g;"
            # so neither side pays for the refill's hint bits and dirty pages
            f"VACUUM ANALYZE {UPSERT_TABLE}; CHECKPOINT;"
        )

    return Route(
        "MySQL → PostgreSQL (upsert, half new)",
        folder,
        f"{dump} | {load}",
        "mysql -B into psql COPY, INSERT ON CONFLICT",
        _upserted,
        _upserted,
        slack=1.3,
        limit_s=10.0,
        reset=refill,
        note=f"{NO_REFERENCE}; before every run the target holds ids 1..{rows // 2:,} "
        "with stale values, so each run updates half the rows and inserts half",
    )


def _session(*statements: str) -> str:
    """One psql session running the statements in order; COPY FROM STDIN reads psql's stdin."""
    return " ".join([PSQL, *(f"-c {shlex.quote(s)}" for s in statements)])


def _upserted() -> int:
    """Rows in the upsert target; a row still holding its stale values is a lost update."""
    total, stale = psql(
        f"SELECT count(*), count(*) FILTER (WHERE name LIKE 'stale %') FROM {UPSERT_TABLE};"
    ).split("|")
    if int(stale):
        raise RuntimeError(f"{UPSERT_TABLE}: {int(stale):,} rows were not updated")
    return int(total)


BUILDERS: dict[str, Callable[[Path, int, Path | None], Route]] = {
    "mysql_csv": mysql_csv,
    "pg_csv": pg_csv,
    "csv_csv": csv_csv,
    "mysql_pg": mysql_pg,
    "mysql_pg_upsert": mysql_pg_upsert,
}


def measure(route: Route, runs: int, rows: int, ref: Path | None) -> Figure:
    """Ours, the reference (where it has the path), the floor; again, `runs` times."""
    mine: list[ProcessRun] = []
    theirs: list[ProcessRun] = []
    floors: list[float] = []
    for _ in range(runs):
        if route.reset:
            route.reset()
        mine.append(ours(route.folder))
        check("Osiris", route, route.count_ours(), rows)
        if ref and route.ref_folder:
            got = reference(ref, route.ref_folder)
            if got:
                theirs.append(got)
        if route.reset:
            route.reset()
        if route.before_floor:
            route.before_floor()
        floors.append(shell(route.floor, route.folder))
        check("the floor", route, route.count_floor(), rows)
    seconds, floor = median([r.seconds for r in mine]), median(floors)
    peak = max(r.peak_mb for r in mine)
    met = seconds <= route.slack * floor and peak <= PEAK_MB
    target = f"≤ {route.slack:g}× floor"
    if route.limit_s:
        met = met and seconds < route.limit_s
        target += f", < {route.limit_s:g} s"
    return Figure(
        f"{route.title}, {rows / 1e6:g}M rows",
        "s",
        round(seconds, 3),
        reference=round(median([r.seconds for r in theirs]), 3) if theirs else None,
        floor=round(floor, 3),
        floor_label=route.floor_label,
        target=f"{target}, peak ≤ {PEAK_MB} MB",
        met=met,
        peak_mb=round(peak, 1),
        reference_peak_mb=round(max(r.peak_mb for r in theirs), 1) if theirs else None,
        note=route.note,
        runs=runs,
        extra={"rows_per_s": round(rows / seconds)},
    )


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--upsert-rows", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", default=",".join(PATHS))
    parser.add_argument("--no-reference", action="store_true")
    args = parser.parse_args(argv)
    only = args.only.split(",")
    if unknown := set(only) - set(PATHS):
        parser.error(f"unknown paths {sorted(unknown)}; choose from {', '.join(PATHS)}")
    precompile()
    ref = None if args.no_reference else reference_venv()
    root = Path(tempfile.mkdtemp(prefix="osiris-bench-floors-"))
    figures: list[Figure] = []
    try:
        if {"mysql_csv", "mysql_pg"} & set(only):
            prepare_mysql(args.rows)
        for key in PATHS:
            if key in only:
                rows = args.upsert_rows if key == "mysql_pg_upsert" else args.rows
                route = BUILDERS[key](root, rows, ref)
                print(f"measuring {route.title}, {rows:,} rows …", file=sys.stderr, flush=True)
                figures.append(measure(route, args.runs, rows, ref))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    title = f"floors ({args.rows / 1e6:g}M rows, upsert {args.upsert_rows / 1e6:g}M)"
    print_figures(title, figures)
    save("floors", figures)
    return figures


if __name__ == "__main__":
    main()
