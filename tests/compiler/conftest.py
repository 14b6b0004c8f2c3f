"""Fixtures of the compiler tests: the Spark session (tests/spark_session.py)."""

from tests.spark_session import spark

__all__ = ["spark"]
