"""Scale-out (issue 18): one MariaDB → aggregate → PostgreSQL pipeline on every engine, at
several sizes, and the cost model fitted to them.

    python bench/spark.py [--rows 1000000,3000000,10000000] [--runs 3]
                          [--engines duckdb,local,cluster] [--floor-rows 10000000]

The pipeline reads an orders table from MariaDB, aggregates it with the plan's DuckDB SQL
(GROUP BY customer_id: COUNTs, SUMs and a MAX, 5,000 groups) and replaces a PostgreSQL table with
the result. `osiris run` runs it as a user types it: with the DuckDB engine, with
`--engine spark --spark-master local[2]`, and on a standalone cluster of 2 one-core workers
(tests/spark/cluster.py, started once; its start is a figure of its own). Every round runs
each engine at each size in turn, so a busy moment of the machine falls on all of them;
each figure is the median of its rounds, and its ratio to the DuckDB engine is the median
of the per-round ratios. Every run's output is checked: 5,000 rows, counting all the rows.

The floor of a Spark figure is pyspark itself doing the same work in one script — the
same JDBC read (split as the engine split it), the same SQL, a JDBC write — so the
figure over its floor is what the engine costs on top of Spark. Peak memory is the
largest sum of resident memory over the run's processes, sampled every 0.1 s: the osiris
process and its JVM, and on the cluster the executors the workers launched for it (the
master and worker daemons themselves are not counted).

From the medians the script fits t = a + b·rows for each engine by least squares: a is
the fixed cost (process, JVM and SparkSession start, the plan), b the cost per row.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import OSIRIS, Figure, ProcessRun, median, precompile, print_figures, save
from bench.floors import pg_count, psql
from bench.run import CONNECTIONS, DATABASE, prepare_mysql
from tests.spark.cluster import SparkCluster, descendants, start_cluster

ENGINES = ("duckdb", "local", "cluster")
TITLES = {
    "duckdb": "DuckDB engine",
    "local": "Spark local[2]",
    "cluster": "Spark cluster, 2 workers × 1 core",
}
TABLE = "h18ops_spark_orders"  # + _<rows>, in the benchmarks' MariaDB database
TARGET = "h18ops_spark_revenue"  # + _<engine>, in PostgreSQL's public schema
GROUPS = 5000  # prepare_mysql's customer_id is seq % 5000
JARS = ("/usr/share/java/mariadb-java-client.jar", "/usr/share/java/postgresql.jar")
#: what the cluster's workers offer and the runs' executors take
WORKER_MEMORY, EXECUTOR_MEMORY = "1g", "768m"


#: max(id) keeps the key in the read (projection pruning would drop an unused one), so
#: the Spark engine can split the read on it: one JDBC partition per million rows
AGGREGATE_SQL = (
    "SELECT customer_id, count(*) AS orders, count(status) AS with_status, "
    "sum(amount) AS revenue, sum(CASE WHEN status = 'paid' THEN amount ELSE 0 END) AS paid, "
    "max(id) AS last_order FROM orders GROUP BY customer_id"
)


def pipeline(rows: int, engine: str) -> str:
    return f"""oml_version: "0.1.0"
name: spark-bench
steps:
  - id: extract
    component: mysql.extractor
    mode: read
    config:
      connection: "@mysql.bench"
      query: SELECT id, customer_id, amount, status FROM {TABLE}_{rows}
  - id: aggregate
    component: duckdb.processor
    mode: transform
    inputs:
      orders: "${{extract.df}}"
    config:
      query: {AGGREGATE_SQL}
  - id: write
    component: postgres.writer
    mode: write
    inputs:
      df: "${{aggregate.df}}"
    config:
      connection: "@postgres.bench"
      table: {TARGET}_{engine}
      write_mode: replace
"""


#: The floor: Spark's own API doing the run's work, in one script (argv: master, rows,
#: partitions, target table).
FLOOR = f"""
import math, sys
from pyspark.sql import SparkSession
master, rows, partitions, target = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
spark = (SparkSession.builder.master(master).appName("floor")
         .config("spark.jars", {",".join(JARS)!r})
         .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
         .config("spark.sql.shuffle.partitions", "4")
         .config("spark.executor.memory", {EXECUTOR_MEMORY!r}).getOrCreate())
read = dict(url="jdbc:mysql://127.0.0.1:3306/{DATABASE}?permitMysqlScheme",
            driver="org.mariadb.jdbc.Driver", user="root", password="", fetchsize="100000",
            dbtable=f"(SELECT id, customer_id, amount, status FROM {TABLE}_{{rows}}) AS src")
if partitions > 1:
    read.update(partitionColumn="id", lowerBound="1", upperBound=str(rows + 1),
                numPartitions=str(partitions))
spark.read.format("jdbc").options(**read).load().createOrReplaceTempView("orders")
(spark.sql({AGGREGATE_SQL!r}).write.format("jdbc").mode("overwrite")
 .options(url="jdbc:postgresql://127.0.0.1:5432/test", driver="org.postgresql.Driver",
          user="postgres", password="", dbtable=target).save())
spark.stop()
"""


@dataclass
class Sample:
    seconds: float
    peak_mb: float
    ratio: float | None = None  # over the DuckDB engine's run of the same round and size


@dataclass
class Engine:
    key: str
    argv: list[str]
    master: str | None = None  # Spark's
    executors: Callable[[], Iterable[int]] = lambda: ()
    samples: dict[int, list[Sample]] = field(default_factory=dict)
    floors: dict[int, list[float]] = field(default_factory=dict)
    partitions: dict[int, int] = field(default_factory=dict)


def rss_mb(pids: Iterable[int]) -> float:
    total_kb = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
                    break
        except (OSError, ValueError):
            continue
    return total_kb / 1024


def run_sampled(
    argv: Sequence[str],
    cwd: Path,
    executors: Callable[[], Iterable[int]] = lambda: (),
    timeout: float = 1800,
) -> ProcessRun:
    """Wall-clock seconds of one process, and its peak summed RSS with its descendants' and
    `executors`' (processes elsewhere that work for it), sampled every 0.1 s."""
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}
    peak = 0.0
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=err, text=True)
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                pids = [process.pid, *descendants(process.pid), *executors()]
                peak = max(peak, rss_mb(pids))
                stop.wait(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            returncode = process.wait(timeout)
        finally:
            seconds = time.perf_counter() - started
            if process.poll() is None:
                process.kill()
                process.wait()
            stop.set()
            sampler.join()
        out.seek(0)
        err.seek(0)
        return ProcessRun(seconds, peak, returncode, out.read()[-4000:], err.read()[-4000:])


def check_output(engine: str, rows: int) -> None:
    orders = int(psql(f"SELECT coalesce(sum(orders), 0) FROM {TARGET}_{engine};"))
    groups = pg_count(f"{TARGET}_{engine}")
    if (groups, orders) != (GROUPS, rows):
        raise RuntimeError(
            f"{TITLES[engine]}: wrote {groups:,} groups counting {orders:,} orders, "
            f"not {GROUPS:,} counting {rows:,}"
        )


def read_partitions(folder: Path) -> int:
    """How many partitions the engine split its read into (the extract step's details)."""
    runs = sorted((folder / "run_logs" / "spark-bench").glob("*/status.json"))
    if runs:
        for step in json.loads(runs[-1].read_text()).get("steps", []):
            if step.get("id") == "extract":
                return int(step.get("details", {}).get("partitions", 1))
    return 1


def on_spark(master: str) -> list[str]:
    conf = f"spark.executor.memory={EXECUTOR_MEMORY}"
    return ["--engine", "spark", "--spark-master", master, "--spark-conf", conf]


def executors_of(cluster: SparkCluster) -> Callable[[], list[int]]:
    return lambda: [pid for worker in cluster.workers for pid in cluster.executors_of(worker)]


def run_engine(engine: Engine, rows: int, folder: Path) -> Sample:
    result = run_sampled([*engine.argv], folder / engine.key, engine.executors)
    if result.returncode != 0:
        raise RuntimeError(
            f"{TITLES[engine.key]} failed at {rows:,} rows:\n{result.stdout}\n{result.stderr}"
        )
    check_output(engine.key, rows)
    if engine.master and rows not in engine.partitions:
        engine.partitions[rows] = read_partitions(folder / engine.key)
    return Sample(result.seconds, result.peak_mb)


def run_floor(engine: Engine, rows: int, folder: Path) -> float:
    assert engine.master
    partitions = engine.partitions.get(rows, 1)
    argv = [sys.executable, "-c", FLOOR, engine.master, str(rows), str(partitions)]
    result = run_sampled([*argv, f"{TARGET}_{engine.key}"], folder, engine.executors)
    if result.returncode != 0:
        raise RuntimeError(f"floor on {engine.master} failed:\n{result.stderr}")
    check_output(engine.key, rows)
    return result.seconds


def fit(points: Sequence[tuple[int, float]]) -> tuple[float, float] | None:
    """(a, b) of t = a + b·rows by least squares; None below two sizes."""
    if len({rows for rows, _ in points}) < 2:
        return None
    mean_r = sum(r for r, _ in points) / len(points)
    mean_t = sum(t for _, t in points) / len(points)
    b = sum((r - mean_r) * (t - mean_t) for r, t in points) / sum(
        (r - mean_r) ** 2 for r, _ in points
    )
    return mean_t - b * mean_r, b


def model_notes(
    points: Mapping[str, Sequence[tuple[int, float]]], rounds: int
) -> tuple[list[str], dict[str, dict[str, float]]]:
    """The fitted model per engine (`points`: engine -> (rows, median seconds)), as report
    lines and as numbers."""
    lines = [f"each figure is the median of {rounds} interleaved round{'s' * (rounds != 1)}"]
    numbers: dict[str, dict[str, float]] = {}
    for key, found_points in points.items():
        found = fit(found_points)
        if found is None:
            continue
        a, b = found
        worst = max(abs(t - (a + b * r)) for r, t in found_points)
        numbers[key] = {"a_s": round(a, 2), "b_s_per_m_rows": round(b * 1e6, 3)}
        lines.append(
            f"cost model, {TITLES[key]}: t ≈ {a:.1f} s + {b * 1e6:.2f} s per million rows "
            f"(least squares over {len(found_points)} sizes; furthest point {worst:.1f} s off)"
        )
    duck = numbers.get("duckdb")
    for key, model in numbers.items():
        if key == "duckdb" or not duck:
            continue
        slope, duck_slope = model["b_s_per_m_rows"], duck["b_s_per_m_rows"]
        if slope <= 0:
            lines.append(
                f"{TITLES[key]}: the fitted cost per row is not above zero — the rounds "
                "differ by more than the rows cost, so these sizes show only its fixed cost"
            )
        elif slope < duck_slope and model["a_s"] > duck["a_s"]:
            rows = (model["a_s"] - duck["a_s"]) / (duck_slope - slope)
            model["crossover_m_rows"] = round(rows, 1)
            lines.append(f"{TITLES[key]} would overtake the DuckDB engine at ≈ {rows:,.0f}M rows")
        else:
            lines.append(
                f"{TITLES[key]} never overtakes the DuckDB engine on this machine: its cost per "
                "row is higher too, so the gap grows with the rows"
            )
    return lines, numbers


def medians(engines: Sequence[Engine]) -> dict[str, list[tuple[int, float]]]:
    return {
        engine.key: [
            (rows, median([s.seconds for s in got])) for rows, got in engine.samples.items()
        ]
        for engine in engines
    }


def figures_of(engines: Sequence[Engine], cluster_start: float | None) -> list[Figure]:
    figures = []
    for engine in engines:
        for rows, samples in sorted(engine.samples.items()):
            seconds = median([s.seconds for s in samples])
            ratios = [s.ratio for s in samples if s.ratio]
            floors = engine.floors.get(rows)
            note = None
            if ratios:
                note = (
                    f"{median(ratios):.2f}× the DuckDB engine's time (median of per-round ratios)"
                )
            if engine.master:
                split = engine.partitions.get(rows, 1)
                read = f"read in {split} JDBC partition{'s' if split > 1 else ''}"
                note = f"{note}; {read}" if note else read
            figures.append(
                Figure(
                    f"{TITLES[engine.key]}, {rows / 1e6:g}M rows",
                    "s",
                    round(seconds, 2),
                    floor=round(median(floors), 2) if floors else None,
                    floor_label="pyspark, same read, SQL and write" if floors else None,
                    peak_mb=round(max(s.peak_mb for s in samples), 1),
                    note=note,
                    runs=len(samples),
                    extra={
                        "rows": rows,
                        "rows_per_s": round(rows / seconds),
                        **({"ratio_to_duckdb": round(median(ratios), 3)} if ratios else {}),
                    },
                )
            )
    if cluster_start is not None:
        figures.append(
            Figure(
                "cluster start: master + 2 workers registered",
                "s",
                round(cluster_start, 2),
                note="once per cluster, not per run; not in the cluster figures",
                runs=1,
            )
        )
    return figures


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", default="1000000,3000000,10000000")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument(
        "--floor-rows",
        type=int,
        help="measure the pyspark floor at this size (default: the largest)",
    )
    parser.add_argument("--no-floor", action="store_true")
    args = parser.parse_args(argv)
    sizes = sorted(int(r) for r in args.rows.split(","))
    keys = [k for k in ENGINES if k in args.engines.split(",")]
    if unknown := set(args.engines.split(",")) - set(ENGINES):
        parser.error(f"unknown engines {sorted(unknown)}; choose from {', '.join(ENGINES)}")
    floor_rows = None if args.no_floor else (args.floor_rows or sizes[-1])
    precompile()
    # a SIGTERM (a stopped `make bench`) still stops the cluster and drops the tables
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    root = Path(tempfile.mkdtemp(prefix="osiris-bench-spark-"))
    cluster: SparkCluster | None = None
    cluster_start = None
    engines: list[Engine] = []
    try:
        for rows in sizes:
            print(f"preparing {TABLE}_{rows} ({rows:,} rows) …", file=sys.stderr, flush=True)
            prepare_mysql(rows, DATABASE, f"{TABLE}_{rows}")
        command = [*OSIRIS, "run", "pipeline.yaml", "--project", "."]
        for key in keys:
            if key == "duckdb":
                engines.append(Engine(key, command))
            elif key == "local":
                engines.append(Engine(key, [*command, *on_spark("local[2]")], "local[2]"))
            else:
                began = time.perf_counter()
                cluster = start_cluster(workers=2, cores=1, memory=WORKER_MEMORY)
                cluster_start = time.perf_counter() - began
                print(f"cluster up in {cluster_start:.1f} s", file=sys.stderr, flush=True)
                master = cluster.master_url
                engines.append(
                    Engine(key, [*command, *on_spark(master)], master, executors_of(cluster))
                )
        for engine in engines:
            (root / engine.key).mkdir()
            (root / engine.key / "osiris_connections.yaml").write_text(CONNECTIONS)
        for round_ in range(args.runs):
            for rows in sizes:
                duck = None
                for engine in engines:
                    (root / engine.key / "pipeline.yaml").write_text(pipeline(rows, engine.key))
                    print(
                        f"round {round_ + 1}/{args.runs}: {TITLES[engine.key]}, {rows:,} rows",
                        file=sys.stderr,
                        flush=True,
                    )
                    got = run_engine(engine, rows, root)
                    if engine.key == "duckdb":
                        duck = got.seconds
                    elif duck:
                        got.ratio = got.seconds / duck
                    engine.samples.setdefault(rows, []).append(got)
                    if engine.master and rows == floor_rows:
                        floor = run_floor(engine, rows, root)
                        engine.floors.setdefault(rows, []).append(floor)
                        print(f"  {got.seconds:.1f} s, floor {floor:.1f} s", file=sys.stderr)
                    else:
                        print(f"  {got.seconds:.1f} s", file=sys.stderr)
            # every finished round is saved: a benchmark stopped midway still has figures
            report(engines, cluster_start)
    finally:
        if cluster:
            cluster.stop()
            shutil.rmtree(cluster.folder, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)
        psql("".join(f"DROP TABLE IF EXISTS {TARGET}_{key};" for key in ENGINES))
        drop = "".join(f"DROP TABLE IF EXISTS {TABLE}_{rows};" for rows in sizes)
        subprocess.run(["mysql", "-h127.0.0.1", "-uroot", DATABASE, "-e", drop], check=False)
    return report(engines, cluster_start, show=True)


def report(
    engines: Sequence[Engine], cluster_start: float | None, show: bool = False
) -> list[Figure]:
    figures = figures_of(engines, cluster_start)
    rounds = min((len(got) for e in engines for got in e.samples.values()), default=0)
    notes, model = model_notes(medians(engines), rounds)
    if show:
        print_figures("spark (scale-out)", figures)
        for line in notes:
            print(f"  {line}")
    save("spark", figures, notes=notes, model=model)
    return figures


if __name__ == "__main__":
    main()
