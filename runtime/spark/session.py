"""The one SparkSession builder of the Spark engine: `spark_session(master, conf)`.

Every session Osiris starts has the Spark UI off (no page showing a plan's options), runs
in UTC (a DATETIME read is the wall-clock value DuckDB reads), finds the MariaDB and
PostgreSQL JDBC drivers, and writes Spark's own log — log4j at WARN, and the JVM's stdout
and stderr — to a private file, never to the terminal, the MCP protocol on stdout or a
session folder unredacted: `SparkLog.copy_into` puts each run's part of it, through the
run's redactor, into `run_logs/<pipeline>/<run_id>/spark.log`.

A JVM costs ~9 s to start on 2 cores, so a session already active in this process (the
test suite's, or an earlier run's) is reused when its master is the one asked for.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.common.errors import HintedError

DEFAULT_MASTER = "local[2]"
#: Debian's JDBC drivers (libmariadb-java, libpostgresql-jdbc-java); OSIRIS_SPARK_JARS
#: (comma-separated) or spark.jars replaces them.
JDBC_JARS = ("/usr/share/java/mariadb-java-client.jar", "/usr/share/java/postgresql.jar")
#: Osiris's own settings, read from --spark-conf but never given to Spark.
OSIRIS_PREFIX = "osiris."

#: What every session gets unless --spark-conf says otherwise.
DEFAULTS = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    # a plan's tables are small next to Spark's default of 200 shuffle partitions
    "spark.sql.shuffle.partitions": "4",
    "spark.app.name": "osiris",
}

_LOG4J = """\
rootLogger.level = warn
rootLogger.appenderRef.file.ref = osiris
appender.osiris.type = File
appender.osiris.name = osiris
appender.osiris.fileName = {path}
appender.osiris.append = true
appender.osiris.layout.type = PatternLayout
appender.osiris.layout.pattern = %d{{yyyy-MM-dd HH:mm:ss.SSS}} %p %c{{1}}: %m%n%ex
logger.jdbc.name = org.apache.spark.sql.execution.datasources.jdbc
logger.jdbc.level = error
"""

_lock = threading.Lock()


class SparkUnavailable(HintedError):
    """Spark cannot start here: no pyspark, no Java, a bad master or setting, or no JVM
    for the compile-time check (runtime/spark/check.py)."""


@dataclass
class SparkLog:
    """Spark's log file of this process (log4j and the JVM's own output)."""

    path: Path

    def offset(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def copy_into(self, target: Path, since: int, redactor: Any) -> None:
        """The log's text written since `since`, redacted, into `target` (when any)."""
        try:
            with self.path.open("rb") as handle:
                handle.seek(since)
                text = handle.read().decode("utf-8", "replace")
        except OSError:
            return
        if text.strip():
            target.write_text(redactor.text(text), encoding="utf-8")


_log: SparkLog | None = None


def spark_log() -> SparkLog:
    """This process's Spark log file, in a private folder removed when the process ends."""
    global _log
    if _log is None:
        folder = Path(tempfile.mkdtemp(prefix="osiris-spark-"))
        folder.chmod(0o700)
        atexit.register(shutil.rmtree, folder, True)
        _log = SparkLog(folder / "spark.log")
        (folder / "log4j2.properties").write_text(_LOG4J.format(path=_log.path), encoding="utf-8")
    return _log


def split_conf(conf: Mapping[str, str] | None) -> tuple[dict[str, str], dict[str, str]]:
    """(Spark's settings, Osiris's `osiris.*` settings) of --spark-conf."""
    spark: dict[str, str] = {}
    ours: dict[str, str] = {}
    for key, value in (conf or {}).items():
        (ours if key.startswith(OSIRIS_PREFIX) else spark)[key] = str(value)
    return spark, ours


def session_conf(master: str, conf: Mapping[str, str] | None = None) -> dict[str, str]:
    """Every setting a new session starts with: the defaults, the JDBC jars, UTC JVMs,
    the private log, then the caller's (Osiris's own `osiris.*` keys left out)."""
    spark, _ = split_conf(conf)
    log = spark_log()
    settings = dict(DEFAULTS)
    settings["spark.master"] = master
    # Spark makes a spark-warehouse folder in the working directory unless told where:
    # a run writes nothing the plan does not name, so it goes in the private folder
    settings["spark.sql.warehouse.dir"] = str(log.path.parent / "warehouse")
    if master.startswith("local"):  # one machine: nothing listens beyond the loopback
        settings["spark.driver.host"] = "127.0.0.1"
        settings["spark.driver.bindAddress"] = "127.0.0.1"
    jars = os.environ.get("OSIRIS_SPARK_JARS")
    found = jars.split(",") if jars else [jar for jar in JDBC_JARS if Path(jar).exists()]
    if found:
        settings["spark.jars"] = ",".join(found)
    java = (
        f"-Duser.timezone=UTC -Dlog4j2.configurationFile=file:{log.path.parent}/log4j2.properties"
    )
    for side in ("driver", "executor"):
        key = f"spark.{side}.extraJavaOptions"
        settings[key] = f"{java} {spark.pop(key, '')}".strip()
    settings.update(spark)
    return settings


def active_session() -> Any:
    """The SparkSession active in this process, or None (pyspark not even imported)."""
    if "pyspark" not in sys.modules:
        return None
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession()


def spark_session(master: str | None = None, conf: Mapping[str, str] | None = None) -> Any:
    """A SparkSession on `master` (default local[2]): the active one when its master is
    the same, else a new one with `session_conf`. Raises `SparkUnavailable`."""
    master = master or DEFAULT_MASTER
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise SparkUnavailable(
            "the Spark engine needs pyspark, which is not installed",
            "pip install 'osiris-oml[spark]' (and a Java 17+ runtime)",
        ) from None
    with _lock:
        active = SparkSession.getActiveSession()
        if active is not None and active.sparkContext.master == master:
            return active
        if active is not None:
            active.stop()
        if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
            raise SparkUnavailable(
                "the Spark engine needs Java, and no `java` is on PATH (JAVA_HOME is unset)",
                "install a Java 17+ runtime (apt-get install openjdk-17-jre-headless)",
            )
        builder = SparkSession.builder
        for key, value in session_conf(master, conf).items():
            builder = builder.config(key, value)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        python_logs_to_spark_log()
        try:
            with _jvm_output_to(spark_log().path):
                return builder.getOrCreate()
        except Exception as err:  # the JVM refused a setting, or could not start
            raise SparkUnavailable(
                f"Spark did not start on {master}: {type(err).__name__}: "
                f"{str(err).splitlines()[0] if str(err) else ''}",
                f"check --spark-master and --spark-conf; Spark's own log: {spark_log().path}",
            ) from None


def python_logs_to_spark_log() -> None:
    """PySpark's own Python logger of failed queries (their plan and stack, as JSON) writes
    to stderr: into the Spark log instead, which reaches the session folder redacted."""
    import logging

    from pyspark.logger import PySparkLogger

    logger = PySparkLogger.getLogger("SQLQueryContextLogger")  # its own class: its kwargs
    for old in list(logger.handlers):
        logger.removeHandler(old)
    logger.addHandler(logging.FileHandler(spark_log().path, encoding="utf-8"))
    logger.propagate = False
    # py4j logs every command it sends the JVM at DEBUG: thousands of lines a run, which a
    # process logging at DEBUG (a test's log capture, a debugging user) would drown in
    logging.getLogger("py4j").setLevel(logging.WARNING)


@contextlib.contextmanager
def _jvm_output_to(path: Path) -> Iterator[None]:
    """The JVM Spark launches inherits file descriptors 1 and 2: point them at the log
    while it starts, so nothing of it reaches stdout (the MCP protocol, `--json`) or the
    terminal; this process gets its own back once the JVM is up."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.dup2(log, 1)
        os.dup2(log, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, log):
            os.close(fd)
