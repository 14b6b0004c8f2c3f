"""Compile speed: in-process on a 100-step pipeline, and a cold `osiris compile` process.

Targets (issue 3): in-process < 200 ms; cold process < 400 ms, beside the reference
tool's cold `osiris compile` of the same file, interleaved.
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
    from compiler.compile import default_context
    from compiler.emit import compile_source

    context = default_context()
    text = generated(100)
    assert compile_source(text, context).ok
    in_process = median(time_call(lambda: compile_source(text, context), runs=max(runs, 15))) * 1000

    work = Path(tempfile.mkdtemp(prefix="osiris-bench-compile-"))
    shutil.copy(THREE_STEPS, work / "pipeline.yaml")
    shutil.copytree(ROOT / "examples" / "data", work / "data")
    ref = reference_venv()
    ours, theirs = [], []
    for i in range(runs):
        argv = [
            *OSIRIS,
            "compile",
            "pipeline.yaml",
            "--compile",
            "force",
            "--out",
            f"out{i}",
            "--project",
            ".",
        ]
        result = run_measured(argv, cwd=work)
        assert result.returncode == 0, result.stderr + result.stdout
        ours.append(result.seconds)
        if ref:
            theirs.append(
                run_measured(
                    [str(ref / "bin" / "osiris"), "compile", "pipeline.yaml", "--compile", "force"],
                    cwd=work,
                ).seconds
            )
    shutil.rmtree(work, ignore_errors=True)
    cold = median(ours) * 1000
    figures = [
        Figure(
            "compile 100 steps, in-process",
            "ms",
            round(in_process, 1),
            target="< 200 ms",
            met=in_process < 200,
            runs=max(runs, 15),
        ),
        Figure(
            "compile 3 steps, cold process",
            "ms",
            round(cold, 1),
            reference=round(median(theirs) * 1000, 1) if theirs else None,
            target="< 400 ms",
            met=cold < 400,
            runs=runs,
        ),
    ]
    print_figures("compile", figures)
    save("compile", figures)
    return figures


if __name__ == "__main__":
    main()
