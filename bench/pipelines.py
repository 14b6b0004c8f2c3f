"""Generated pipelines of a chosen size, for the control-path benchmarks."""

from __future__ import annotations

from pathlib import Path

THREE_STEPS = (
    Path(__file__).resolve().parents[1] / "examples" / "pipelines" / "params_and_profiles.yaml"
)


def generated(steps: int) -> str:
    """An OML text of about `steps` steps: CSV extract → DuckDB transform → CSV write chains."""
    lines = [
        'oml_version: "0.1.0"',
        f"name: generated-{steps}",
        "params:",
        "  min_amount: {type: number, default: 10}",
        "steps:",
    ]
    chains = max(1, steps // 3)
    for i in range(chains):
        lines += [
            f"  - id: extract_{i}",
            "    component: filesystem.csv_extractor",
            "    mode: read",
            f"    config: {{path: data/orders_{i}.csv}}",
            f"  - id: transform_{i}",
            "    component: duckdb.processor",
            "    mode: transform",
            f'    inputs: {{orders: "${{extract_{i}.df}}"}}',
            "    config:",
            "      query: |",
            "        SELECT customer_id, count(*) AS orders, sum(amount) AS revenue",
            "        FROM orders",
            "        WHERE amount >= ${params.min_amount} AND status = 'paid'",
            "        GROUP BY customer_id",
            f"  - id: write_{i}",
            "    component: filesystem.csv_writer",
            "    mode: write",
            f'    inputs: {{df: "${{transform_{i}.df}}"}}',
            f"    config: {{path: out/revenue_{i}.csv}}",
        ]
    return "\n".join(lines) + "\n"
