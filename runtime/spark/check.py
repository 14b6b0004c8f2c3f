"""Spark's own parser and analyzer over a plan's Spark SQL, before the build is written.

The compiler transpiles each transform (compiler/sql/spark.py) and stays pure; this asks
Spark itself whether it reads the result, in one JVM per process (a `local[1]` session
with no UI, started on the first check; an active session, such as a run's, is reused).
Each query is parsed by the session's SQL parser, then analysed over empty views shaped
like the step's inputs — the columns and types the compiler knows; a type it does not
know is Spark's VOID, which converts to anything — so an unknown function, a wrong
number of arguments and, when every type is known, a type error are found here, not in
the middle of a run. Nothing is executed: analysing a query reads no row.

An input whose columns the compiler does not know gets no view; its queries are still
parsed and their functions looked up (Spark resolves function names before tables).

`check_plan` is what `runtime/app.py` calls after a compile for engine spark; Java or
pyspark missing is a `SparkUnavailable` it turns into a diagnostic with the fix.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runtime.spark.session import SparkUnavailable

if TYPE_CHECKING:
    from compiler.diagnostics import Diagnostic
    from compiler.manifest import Manifest
    from compiler.program import Program

INSTALL_HINT = "install the Spark extra: pip install 'osiris-oml[spark]'"
JAVA_HINT = "install Java 17 or newer (e.g. apt install openjdk-17-jre-headless) or set JAVA_HOME"

#: The compiler's normalized column types as Spark declares them; anything else is VOID.
SPARK_TYPES = {
    "integer": "BIGINT",
    "decimal": "DECIMAL(38, 10)",
    "float": "DOUBLE",
    "boolean": "BOOLEAN",
    "string": "STRING",
    "text": "STRING",
    "date": "DATE",
    "datetime": "TIMESTAMP_NTZ",
    "timestamptz": "TIMESTAMP",
    "binary": "BINARY",
}

Columns = Sequence[tuple[str, str | None]]


@dataclass(frozen=True, slots=True)
class Query:
    """One step's Spark SQL and the shape of every table name it may read (None: the
    columns are not known)."""

    step: str
    text: str
    tables: Mapping[str, Columns | None]


@dataclass(frozen=True, slots=True)
class Finding:
    """What Spark said about one query: its message, and the name (function or column)
    it is about when it names one, to point at in the DuckDB text."""

    step: str
    message: str
    condition: str
    name: str | None = None


# ---- the session ---------------------------------------------------------------------------

_lock = threading.Lock()
_session: Any = None
#: The JVM the check started (kept so that it lives as long as the process), or None.
_gateway: Any = None

#: How the check's own JVM runs: one core, no UI, nothing listening beyond loopback, and
#: the JIT's quick tier only, which halves the start and the checks (measured: 61 s and
#: 38 s for 20 checks against 30 s and 18 s, on 2 busy cores); it never runs a job.
CHECK_CONF = {
    "spark.master": "local[1]",
    "spark.app.name": "osiris-spark-check",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "1",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1",
}


def session() -> Any:
    """The JVM SparkSession the checks use, started once per process; `SparkUnavailable`
    when pyspark or Java is missing or the JVM does not start.

    An active pyspark session (a run's) is reused, in a session of its own. Otherwise the
    check starts a JVM of its own and leaves pyspark's process-wide context alone, so a
    run started later in this process gets the Spark it asks for, not this one.
    """
    global _session
    with _lock:
        if _session is None or _stopped(_session):
            _session = _start()
        return _session


def _stopped(jvm_session: Any) -> bool:
    """Whether the Spark context under `jvm_session` has been stopped (a run's session that
    a later run on another master replaced): the check then starts again."""
    try:
        return bool(jvm_session.sparkContext().isStopped())
    except Exception:  # its JVM is gone
        return True


def _start() -> Any:
    global _gateway
    try:
        from pyspark import SparkConf
        from pyspark.java_gateway import launch_gateway
        from pyspark.sql import SparkSession
    except ImportError:
        raise SparkUnavailable("pyspark is not installed", INSTALL_HINT) from None
    active = SparkSession.getActiveSession()
    if active is not None and not _stopped(active._jsparkSession):
        return active._jsparkSession.newSession()  # a run's session: the same JVM
    java_home = os.environ.get("JAVA_HOME")
    java = os.path.join(java_home, "bin", "java") if java_home else shutil.which("java")
    if not java or not os.path.exists(java):
        raise SparkUnavailable("Java is not installed (Spark's parser runs in a JVM)", JAVA_HINT)
    import atexit
    import tempfile

    # Spark makes its warehouse folder in the working directory unless told otherwise:
    # the check writes nothing into the user's project, so it gets a folder of its own
    warehouse = tempfile.TemporaryDirectory(prefix="osiris-spark-check-")
    atexit.register(warehouse.cleanup)
    conf = SparkConf(loadDefaults=False)
    for key, value in {**CHECK_CONF, "spark.sql.warehouse.dir": warehouse.name}.items():
        conf.set(key, value)
    # the JVM's start-up chatter goes to a file, read back only when the start fails
    with tempfile.TemporaryFile() as output:
        try:
            started = launch_gateway(conf, popen_kwargs={"stdout": output, "stderr": output})
            spark = started.jvm.org.apache.spark.sql.SparkSession.builder().getOrCreate()
        except Exception as err:
            output.seek(0)
            said = output.read().decode("utf-8", "replace")
            if "UnsupportedClassVersionError" in said or "class file version" in said:
                raise SparkUnavailable("Java is too old for Spark 4", JAVA_HINT) from None
            detail = said.strip().splitlines()[-1] if said.strip() else type(err).__name__
            raise SparkUnavailable(
                f"the Spark JVM did not start: {detail[:300]}", JAVA_HINT
            ) from None
    spark.sparkContext().setLogLevel("ERROR")
    # the analyzer's refusals are the check's findings, not errors for stderr
    from runtime.spark.session import python_logs_to_spark_log

    python_logs_to_spark_log()
    _gateway = started
    return spark


# ---- the check -----------------------------------------------------------------------------


def check_queries(queries: Iterable[Query]) -> list[Finding]:
    """Every refusal Spark's parser and analyzer make of `queries`."""
    base = session()
    findings: list[Finding] = []
    for query in queries:
        finding = _check(base.newSession(), query)  # its own temp views
        if finding is not None:
            findings.append(finding)
    return findings


def _check(spark: Any, query: Query) -> Finding | None:
    try:
        plan = spark.sessionState().sqlParser().parsePlan(query.text)
    except Exception as err:
        condition, message = _said(err)
        return Finding(query.step, f"Spark's parser refuses it: {message}", condition)
    if "Command" in plan.getClass().getSimpleName():  # never run a statement to check it
        return Finding(query.step, "Spark reads it as a command, not a query", "NOT_A_QUERY")
    shaped, typed = _views(spark, query.tables)
    try:
        spark.sql(query.text)  # analysed at once, never executed
    except Exception as err:
        condition, message = _said(err)
        if not _reported(condition, shaped, typed):
            return None
        named = re.search(r"`([^`]+)`", message)
        name = named.group(1).split(".")[-1] if named else None
        return Finding(query.step, message, condition, name)
    return None


def _views(spark: Any, tables: Mapping[str, Columns | None]) -> tuple[bool, bool]:
    """An empty view per table name with known columns; whether every table got one, and
    whether every column's type is known."""
    shaped = typed = True
    done: set[str] = set()
    for name, columns in tables.items():
        if name.lower() in done:
            continue
        done.add(name.lower())
        if columns is None or len({c.lower() for c, _ in columns}) != len(columns):
            shaped = False
            continue
        typed = typed and all(kind in SPARK_TYPES for _, kind in columns)
        spark.sql(_empty_view(name, columns))
    return shaped, typed


def _empty_view(name: str, columns: Columns) -> str:
    from compiler.sql.engine import empty_view

    return empty_view(name, columns, lambda kind: SPARK_TYPES.get(kind or "", "VOID"), "spark")


#: Refusals that do not depend on the inputs' shapes: always reported.
_NAME_ONLY = ("UNRESOLVED_ROUTINE", "WRONG_NUM_ARGS", "PARSE_SYNTAX_ERROR", "INVALID_EXTRACT")


def _reported(condition: str, shaped: bool, typed: bool) -> bool:
    if condition.startswith(_NAME_ONLY):
        return True
    if not shaped or condition.startswith("TABLE_OR_VIEW_NOT_FOUND"):
        return False  # a table without a view: the analyzer could go no further
    # a VOID column stands for a type not known: a type error is not the query's fault
    return typed or not ("TYPE" in condition or condition.startswith("CAST"))


def _said(err: Exception) -> tuple[str, str]:
    """Spark's error condition (`UNRESOLVED_ROUTINE`) and its first line, without the
    stack trace or SQLSTATE, from the Java exception py4j (or pyspark) hands over."""
    source = getattr(err, "java_exception", None) or err
    condition = ""
    for method in ("getCondition", "getErrorClass"):
        try:
            condition = str(getattr(source, method)() or "")
        except Exception:  # not a SparkThrowable, or pyspark's own wrapper
            condition = ""
        if condition:
            break
    try:
        text = str(source.getMessage())
    except Exception:
        text = str(err)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    line = next((x for x in lines if re.match(r"\[[A-Z_.]+\]", x)), lines[0] if lines else "")
    if not condition:
        found_class = re.match(r"\[([A-Z_.]+)\]", line)
        condition = found_class.group(1) if found_class else "OTHER"
    where = re.search(r"\(line (\d+), pos (\d+)\)", text)
    line = re.sub(r"\s*SQLSTATE: \w+.*$", "", line)
    line = re.sub(r" on search path \[.*?\]\]?", "", line)
    line = re.sub(r"\s*\(line \d+, pos \d+\)", "", line).rstrip(" .;")
    if where:
        line += f" (line {where.group(1)}, column {int(where.group(2)) + 1} of the Spark SQL)"
    return condition, line


# ---- a compiled program --------------------------------------------------------------------


def check_plan(program: Program, manifest: Manifest) -> list[Diagnostic]:
    """Spark's verdict on every `spark_sql` of `manifest`, added to `program`'s
    diagnostics (SQL418 pinned to the step's query, SQL419 when Spark cannot be asked);
    returns the diagnostics added."""
    from compiler.diagnostics import sort_key

    before = len(program.diagnostics)
    queries = [
        Query(step.id, step.spark_sql, _shapes(program, step.input_tables))
        for step in manifest.in_order()
        if step.spark_sql is not None
    ]
    if not queries:
        return []
    try:
        findings = check_queries(queries)
    except SparkUnavailable as err:
        program.report(
            "SQL419",
            f"the Spark SQL could not be checked: {err.message}",
            _query_path(program, queries[0].step),
            hint=err.hint,
        )
        findings = []
    for finding in findings:
        _report(program, finding)
    added = program.diagnostics[before:]
    program.diagnostics.sort(key=sort_key)
    return added


def _shapes(program: Program, tables: Mapping[str, str]) -> dict[str, Columns | None]:
    """Each name the step reads -> the upstream's columns (name, type), when known."""
    return {name: program.outputs.get(upstream) for name, upstream in tables.items()}


def _query_path(program: Program, step: str) -> str:
    from compiler.loader import pointer

    return pointer(f"{program.step_path(step)}/config", "query")


def _report(program: Program, finding: Finding) -> None:
    from compiler.sql.positions import offset_map
    from compiler.sql.spark import function_span

    path = _query_path(program, finding.step)
    text = program.configs.get(finding.step, {}).get("query")
    offset = None
    if isinstance(text, str) and finding.name:
        span = None
        if finding.condition.startswith(("UNRESOLVED_ROUTINE", "WRONG_NUM_ARGS")):
            span = function_span(text, finding.name)  # as DuckDB's text names it
        else:
            found = re.search(rf"(?<![\w$]){re.escape(finding.name)}(?![\w$])", text, re.I)
            span = (found.start(), found.end()) if found is not None else None
        if span is not None:
            offset = offset_map(program, path, text).span(span)
    program.report(
        "SQL418",
        f"Spark refuses the query as compiled for it: {finding.message}",
        path,
        offset=offset,
        hint="the step would fail on Spark: write it with functions both engines have "
        "(docs/oml.md, Compiling for Spark)",
        step=finding.step,
    )
