"""The compiler fingerprint names the passes without importing them (compiler/toolchain.py):
its written-out list must stay the passes the compiler runs, in their order."""

from __future__ import annotations

import subprocess
import sys

from compiler.passes import PASSES
from compiler.toolchain import PASS_NAMES


def test_the_written_out_pass_names_are_the_passes_in_order() -> None:
    assert tuple(p.__name__ for p in PASSES) == PASS_NAMES


def test_checking_a_plan_is_current_imports_no_pass() -> None:
    code = (
        "import sys; from compiler.toolchain import compiler_fingerprint; compiler_fingerprint(); "
        "print(sorted(m for m in sys.modules if m.startswith(('compiler.passes', 'sqlglot'))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"
