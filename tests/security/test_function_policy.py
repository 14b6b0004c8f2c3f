"""Functions pass an allow-list, not a deny-list: only what Osiris knows to be free of side
effects is accepted — sqlglot's typed functions and a reviewed list per dialect. Anything
else (SQL given as text, settings, profiling, logging, sleeps, a new server function, a
user-defined one) is SQL403 unless the pipeline vouches for it in `trusted_functions`,
which the manifest lists.
"""

from __future__ import annotations

import pytest
import yaml

from compiler.compile import check, default_context
from compiler.emit import compile_source
from tests.compiler.test_sql_safety import ACCEPTED, doc_for

UNKNOWN = [
    # PostgreSQL: SQL as text the compiler never sees, index writes, statistics resets
    ("postgres", "SELECT * FROM ts_stat('SELECT to_tsvector(pg_read_file(''/etc/passwd''))')"),
    ("postgres", "SELECT ts_rewrite('a'::tsquery, 'SELECT pg_ls_dir(''.'')')"),
    ("postgres", "SELECT brin_summarize_new_values('orders_brin')"),
    ("postgres", "SELECT brin_summarize_range('orders_brin', 0)"),
    ("postgres", "SELECT gin_clean_pending_list('orders_gin')"),
    ("postgres", "SELECT pg_stat_statements_reset()"),
    ("postgres", "SELECT xpath('/a', query_to_xml('SELECT 1', true, true, ''))"),
    ("postgres", "SELECT pg_catalog.pg_sleep(1)"),
    ("postgres", "SELECT public.writer()"),
    ("postgres", "SELECT txid_current()"),
    # MariaDB: a future or plugin function, a UDF
    ("mysql", "SELECT my_udf(id) FROM orders"),
    ("mysql", "SELECT WSREP_SYNC_WAIT_UPTO_GTID('0-1-1')"),
    ("mysql", "SELECT json_table_writer(id) FROM orders"),
    # DuckDB (the data plane itself)
    ("duckdb", "SELECT sleep_ms(100000) FROM orders"),
    ("duckdb", "SELECT * FROM enable_profiling()"),
    ("duckdb", "SELECT * FROM enable_logging()"),
    ("duckdb", "SELECT setseed(0.5) FROM orders"),
    ("duckdb", "SELECT * FROM query('SELECT 1')"),
    ("duckdb", "SELECT * FROM query_table('orders')"),
    ("duckdb", "SELECT * FROM duckdb_settings()"),
    ("duckdb", "SELECT * FROM pragma_database_size()"),
    ("duckdb", "SELECT * FROM duckdb_extensions()"),
]


def _codes(text: str) -> list[str]:
    return [d.code for d in check(text, default_context()).diagnostics]


@pytest.mark.parametrize(("dialect", "sql"), UNKNOWN)
def test_a_function_nobody_vouched_for_is_refused(dialect: str, sql: str) -> None:
    codes = _codes(doc_for(dialect, sql))
    assert codes and set(codes) <= {"SQL403", "SQL406"}, codes


@pytest.mark.parametrize(("dialect", "sql"), ACCEPTED)
def test_the_accepted_analytical_queries_still_pass(dialect: str, sql: str) -> None:
    assert _codes(doc_for(dialect, sql)) == []


TRUSTING = """oml_version: "0.1.0"
name: trusting
trusted_functions: [my_udf, analytics.score]
steps:
  - id: extract
    component: mysql.extractor
    mode: read
    config:
      query: "SELECT my_udf(id) AS a, analytics.score(id) AS b FROM orders"
"""


def test_the_pipeline_may_vouch_for_a_function_and_the_manifest_lists_it() -> None:
    assert _codes(TRUSTING) == []
    result = compile_source(TRUSTING, default_context())
    manifest = yaml.safe_load(result.files["manifest.yaml"])
    assert manifest["pipeline"]["trusted_functions"] == ["analytics.score", "my_udf"]
    untrusting = TRUSTING.replace("trusted_functions: [my_udf, analytics.score]\n", "")
    assert sorted(_codes(untrusting)) == ["SQL403", "SQL403"]


def test_vouching_never_admits_a_function_known_to_be_dangerous() -> None:
    text = TRUSTING.replace("[my_udf, analytics.score]", "[load_file, my_udf, analytics.score]")
    text = text.replace("my_udf(id) AS a", "load_file('/etc/passwd') AS a, my_udf(id) AS c")
    program = check(text, default_context())
    assert [(d.code, "LOAD_FILE" in d.message) for d in program.diagnostics] == [("SQL403", True)]


def test_a_trusted_name_must_be_a_plain_name() -> None:
    text = TRUSTING.replace("[my_udf, analytics.score]", "['x(); DROP']")
    assert "OML" in "".join(_codes(text))[:3]
