"""spark — each DuckDB transform's query as Spark SQL, for a plan compiled for Spark.

Runs only when the context asks for the engine (`engines` holds "spark"), after optimize:
the query it translates is the one the step's cfg holds, the SQL as it will run. Each
construct Spark reads otherwise or not at all is a diagnostic at its place in the file
(compiler/sql/spark.py says which and why); the rest becomes `program.spark_sql`, which
emit writes into the step's manifest entry, so the plan's hash covers it. The DuckDB
query stays in the cfg: a plan compiled for Spark runs on both engines. Spark's own
parser reads the result after the compile (runtime/spark/check.py), since the compiler
starts no JVM.

>>> from compiler.compile import check, default_context
>>> src = '''oml_version: "0.1.0"
... name: demo
... steps:
...   - id: numbers
...     component: duckdb.processor
...     mode: transform
...     config:
...       query: |
...         SELECT range AS n,
...                dayofweek(DATE '2024-03-03') AS dow,
...                count(*)
...         FROM range(3)
...         GROUP BY ALL
... '''
>>> spark_context = default_context(engines=("duckdb", "spark"))
>>> program = check(src, spark_context)
>>> [(d.code, d.line, d.column) for d in program.diagnostics]
[('SQL417', 11, 16)]
>>> program = check(src.replace("count(*)", "count(*) AS c"), spark_context)
>>> print(program.spark_sql["numbers"])  # doctest: +NORMALIZE_WHITESPACE
SELECT range AS n, DAYOFWEEK(CAST('2024-03-03' AS DATE)) - 1 AS dow, COUNT(*) AS c
FROM RANGE(0, 3) AS range(range) GROUP BY ALL
"""

from __future__ import annotations

from compiler.loader import pointer
from compiler.program import CompileContext, Program
from compiler.sql.positions import offset_map
from compiler.sql.spark import translate


def spark(program: Program, context: CompileContext) -> Program:
    """Translate every DuckDB transform that passed the checks; report what Spark lacks."""
    pipeline, registry = program.pipeline, context.registry
    if "spark" not in context.engines or pipeline is None or registry is None:
        return program
    for step_id in program.order:
        step = pipeline.step(step_id)
        spec = registry.get(step.component) if step is not None else None
        if spec is None or step_id in program.broken:
            continue
        config = program.configs.get(step_id, {})
        for sql_field in spec.sql_fields:
            text = config.get(sql_field.field)
            if (
                sql_field.role == "transform"
                and sql_field.dialect == "duckdb"
                and isinstance(text, str)
                and sql_field.field in program.sql.get(step_id, {})
            ):
                _translate(program, step_id, sql_field.field, text)
    return program


def _translate(program: Program, step_id: str, field: str, text: str) -> None:
    path = pointer(f"{program.step_path(step_id)}/config", field)
    offsets = offset_map(program, path, text)
    found = translate(text, _input_types(program, step_id))
    for problem, severity in [
        *((p, "error") for p in found.problems),
        *((c, "warning") for c in found.cautions),
    ]:
        span = offsets.span(problem.span) if problem.span is not None else None
        program.report(
            problem.code,
            problem.message,
            path,
            hint=problem.hint,
            offset=span,
            severity=severity,
            step=step_id,
        )
    if found.text is not None:
        program.spark_sql[step_id] = found.text


def _input_types(program: Program, step_id: str) -> dict[str, str | None]:
    """Column name (lower case) -> type over every input of the step; a name two inputs
    give different types is not known."""
    types: dict[str, str | None] = {}
    for upstream in dict.fromkeys(program.tables.get(step_id, {}).values()):
        for name, kind in program.outputs.get(upstream, ()):
            key = name.lower()
            types[key] = kind if types.get(key, kind) == kind else None
    return types
