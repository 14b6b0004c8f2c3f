"""Validate speed: in-process on a 200-step pipeline, and a cold `osiris validate` process.

Targets (issue 2): in-process < 50 ms; cold process < 300 ms. The reference tool's
cold `osiris oml validate` and `osiris compile` run on the same file, interleaved.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    OSIRIS,
    ROOT,
    Figure,
    median,
    precompile,
    print_figures,
    reference_venv,
    run_measured,
    save,
    time_call,
)
from bench.pipelines import THREE_STEPS, generated


def main(runs: int = 7) -> list[Figure]:
    precompile()
    from compiler.compile import check, default_context

    context = default_context()
    text = generated(200)
    program = check(text, context)
    assert not program.has_errors, program.diagnostics[:3]
    in_process = median(time_call(lambda: check(text, context), runs=max(runs, 20))) * 1000

    work = Path(tempfile.mkdtemp(prefix="osiris-bench-validate-"))
    shutil.copy(THREE_STEPS, work / "pipeline.yaml")
    shutil.copytree(ROOT / "examples" / "data", work / "data")
    ref = reference_venv()
    ours, theirs_validate, theirs_compile = [], [], []
    for _ in range(runs):
        result = run_measured([*OSIRIS, "validate", "pipeline.yaml"], cwd=work)
        assert result.returncode == 0, result.stderr
        ours.append(result.seconds)
        if ref:
            theirs_validate.append(
                run_measured(
                    [str(ref / "bin" / "osiris"), "oml", "validate", "pipeline.yaml"], cwd=work
                ).seconds
            )
            theirs_compile.append(
                run_measured(
                    [str(ref / "bin" / "osiris"), "compile", "pipeline.yaml"], cwd=work
                ).seconds
            )
    shutil.rmtree(work, ignore_errors=True)
    cold = median(ours) * 1000
    figures = [
        Figure(
            "validate 200 steps, in-process",
            "ms",
            round(in_process, 2),
            target="< 50 ms",
            met=in_process < 50,
            runs=max(runs, 20),
        ),
        Figure(
            "validate 3 steps, cold process",
            "ms",
            round(cold, 1),
            reference=round(median(theirs_validate) * 1000, 1) if theirs_validate else None,
            target="< 300 ms",
            met=cold < 300,
            runs=runs,
            note="reference: `osiris oml validate`; its cold `osiris compile`: "
            + (f"{median(theirs_compile) * 1000:.0f} ms" if theirs_compile else "n/a"),
        ),
    ]
    print_figures("validate", figures)
    save("validate", figures)
    return figures


if __name__ == "__main__":
    main()
