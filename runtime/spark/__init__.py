"""The Spark engine: `osiris run --engine spark` runs a compiled plan on Apache Spark.

- `session.py` — the one SparkSession builder (`spark_session`): UI off, UTC, the JDBC
  drivers, Spark's own log in a private file (copied into the session folder redacted).
- `steps.py` — a Spark driver per supported component, with the runner's driver protocol.
- `jdbc.py` — MySQL/MariaDB and PostgreSQL/Supabase over Spark JDBC: partitioned read-only
  reads, writes staged in the target database and moved in one transaction of ours.
- `files.py` — CSV, Parquet and JSON files read and written with Spark's own formats.
- `plane.py` — the run's tables as Spark DataFrames (what DuckDB's data plane is locally).
- `engine.py` — which plans Spark can run (`unsupported_steps`) and `run_build_on_spark`.
"""
