"""Run bookkeeping per step: N trivial steps (one CSV read, N-1 DuckDB transforms in a
chain, one CSV write), compiled and run in-process; prints compile and run seconds.

    python bench/many_steps.py --steps 2000

The target (issue 15): 2,000 steps run in under 30 s — the per-event cost must not grow
with the number of steps (status.json was rewritten whole at every event).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def pipeline(steps: int) -> str:
    lines = [
        'oml_version: "0.1.0"',
        "name: many",
        "steps:",
        "  - {id: s0, component: filesystem.csv_extractor, mode: read, config: {path: in.csv}}",
    ]
    for index in range(1, steps - 1):
        lines.append(
            f"  - {{id: s{index}, component: duckdb.processor, mode: transform, "
            f'inputs: {{src: "${{s{index - 1}.df}}"}}, config: {{query: "SELECT id FROM src"}}}}'
        )
    lines.append(
        f"  - {{id: s{steps - 1}, component: filesystem.csv_writer, mode: write, "
        f'inputs: {{df: "${{s{steps - 2}.df}}"}}, config: {{path: out.csv}}}}'
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=2000)
    args = parser.parse_args()

    from compiler.compile import default_context
    from compiler.emit import compile_source
    from runtime.adapters import RunRequest
    from runtime.adapters.local import run_build

    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder)
        (project / "in.csv").write_text("id\n1\n2\n")
        (project / "osiris_connections.yaml").write_text(
            "connections:\n  filesystem:\n    local: {default: true, base_dir: .}\n"
        )
        t0 = time.perf_counter()
        result = compile_source(pipeline(args.steps), default_context())
        compiled = time.perf_counter() - t0
        errors = [d for d in result.program.diagnostics if d.is_error]
        if errors:
            raise SystemExit(f"compile failed: {errors[0].message}")
        build = project / "build"
        for name, data in result.files.items():
            (build / name).parent.mkdir(parents=True, exist_ok=True)
            (build / name).write_bytes(data)
        t0 = time.perf_counter()
        collected = run_build(RunRequest(build_dir=build, project=project))
        ran = time.perf_counter() - t0
        print(f"steps={args.steps} compile_s={compiled:.2f} run_s={ran:.2f} "
              f"status={collected.status}")  # fmt: skip


if __name__ == "__main__":
    main()
