"""The Spark session of the tests: one local[2] JVM per pytest process, for every test.

The fixture is the Spark engine's own session (`runtime/spark/session.py`
`spark_session`: the JDBC jars, UTC, the private log), so a test that runs a plan on Spark
and a test that reads rows back use the same JVM, and the compile-time Spark check
(`runtime/spark/check.py`), finding that session active, analyses in a session of its own
on it instead of starting a second JVM. Asked for again after a test ran on another master
(tests/spark/test_cluster.py), it starts local[2] again. A test module imports the fixture
(`from tests.spark_session import spark`). On a machine without Java or pyspark those
tests skip with the reason; under CI they fail instead.
"""

from __future__ import annotations

import os
from typing import Any

import pytest


@pytest.fixture(scope="module")
def spark() -> Any:
    """The live SparkSession on local[2], for a test module (a module-scoped fixture may
    build tables on it; the next module gets local[2] again if this one switched)."""
    try:
        from runtime.spark.session import SparkUnavailable, spark_session
    except ImportError as err:  # pragma: no cover - the spark extra is in the dev lock
        pytest.skip(f"pyspark is not installed: {err}")
    try:
        return spark_session("local[2]")
    except SparkUnavailable as err:
        message = f"Spark cannot start: {err} ({err.hint})"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " — CI must run the Spark tests", pytrace=False)
        pytest.skip(message)
