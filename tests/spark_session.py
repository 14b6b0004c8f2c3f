"""The Spark session the compile-for-Spark tests share: one JVM per pytest process.

`runtime/spark/check.py` keeps one session per process, so every test that compiles for
Spark (directly, through the CLI or the MCP tool) uses the JVM this fixture starts; a test
module imports the fixture (`from tests.spark_session import spark`). On a machine without
Java or pyspark those tests skip with the reason; under CI they fail instead.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import pytest


@pytest.fixture(scope="session")
def spark() -> Any:
    """pyspark's SparkSession over the JVM the Spark check runs in (the check leaves
    pyspark's process-wide context alone; the tests wrap its JVM to read rows back)."""
    return _wrapped()


@functools.cache  # each module that imports the fixture has its own: one session for all
def _wrapped() -> Any:
    from runtime.spark.check import SparkUnavailable, gateway, session

    try:
        jvm_session = session()
    except SparkUnavailable as err:
        message = f"Spark cannot start: {err.message} ({err.hint})"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " — CI must run the Spark tests", pytrace=False)
        pytest.skip(message)
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    started = gateway()
    if started is None:  # a session was active already
        return SparkSession.getActiveSession()
    jsc = started.jvm.org.apache.spark.api.java.JavaSparkContext(jvm_session.sparkContext())
    context = SparkContext(gateway=started, jsc=jsc)
    return SparkSession(context, jvm_session)
