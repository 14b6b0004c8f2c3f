"""Secret canaries through `osiris run --engine spark`, TRACE logging on.

The canary project's transfer — MySQL (the password from `.env`) → Supabase (a password
inside a `pg_dsn` URL) and PostgreSQL (a key=value `dsn`) → back → Spark SQL → CSV — runs
on Spark local[2] for real, and so do runs whose JDBC logins fail. No spelling of any
canary may appear in any output, in the session logs, in Spark's own log kept in the
session folder (`spark.log`), or in any other file under the project.
"""

from __future__ import annotations

import pytest

from tests.security.conftest import CanaryProject, assert_no_leak, leaking_files

pytestmark = pytest.mark.db


def test_no_canary_leaves_through_a_spark_run(canary_project: CanaryProject) -> None:
    pytest.importorskip("pyspark")
    project = canary_project
    result = project.osiris("run", "pipelines/transfer.yaml", "--engine", "spark", "--json").json()
    assert result["status"] == "success", result
    rows = (project.root / "output" / "people.csv").read_text().splitlines()
    assert rows == ["id,name", "1,Ada", "2,Grace"]
    failed = project.osiris(
        "run", "pipelines/mysql_wrong_password.yaml", "--engine", "spark", "--json", expect=1
    ).json()
    (step,) = failed["steps"]
    assert (step["status"], step["category"]) == ("failed", "auth"), step
    project.osiris("run", "pipelines/postgres_unknown_role.yaml", "--engine", "spark", expect=1)
    project.osiris("logs", "bundle", "--last")
    for output in project.outputs:
        assert_no_leak(output, output.splitlines()[0])
    assert leaking_files(project.root) == {}
