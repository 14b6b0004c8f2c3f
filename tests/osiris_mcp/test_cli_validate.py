"""`osiris validate` and `osiris compile` as a user sees them: text, JSON, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from osiris_mcp.cli import main

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "corpus" / "invalid"
QUICKSTART = ROOT / "examples" / "pipelines" / "quickstart.yaml"


def test_human_output_is_compiler_style(capsys: pytest.CaptureFixture[str]) -> None:
    path = CORPUS / "OML203_needs_unknown.yaml"
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{path}:14:13: error[OML203]: step 'write' needs unknown step 'extrct'"
    assert out[1] == "  14 |     needs: [extrct]"
    assert out[2] == "     |             ^^^^^^"
    assert out[3] == "     = hint: did you mean 'extract'?"
    assert out[-1] == f"{path}: 1 error"


def test_json_output_for_one_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--json", str(CORPUS / "OML110_mode.yaml")]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["valid"] is False
    first = result["diagnostics"][0]
    assert {k: first[k] for k in ("code", "line", "column", "path", "suggestions")} == {
        "code": "OML110",
        "line": 13,
        "column": 11,
        "path": "/steps/1/mode",
        "suggestions": ["write"],
    }


def test_json_output_for_several_files_is_one_object_each(
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = [str(QUICKSTART), str(CORPUS / "OML107_no_steps.yaml")]
    assert main(["validate", "--json", *files]) == 1
    results = json.loads(capsys.readouterr().out)
    assert [(r["file"], r["valid"]) for r in results] == [(files[0], True), (files[1], False)]


def test_valid_file_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(QUICKSTART)]) == 0
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    "argv",
    [
        ["validate", "no/such/file.yaml"],
        ["validate", str(ROOT / "examples")],
        ["validate", str(QUICKSTART), "--param", "novalue"],
        ["compile", "no/such/file.yaml"],
    ],
)
def test_usage_errors_exit_two_without_traceback(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    assert captured.err.startswith("osiris: error: ")


def test_compile_writes_the_build_and_reuses_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["compile", str(QUICKSTART), "--project", str(tmp_path), "--json"]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    build = Path(first["build_dir"])
    assert build == tmp_path / "build" / "quickstart" / first["manifest_hash"][:12]
    assert (build / "manifest.yaml").is_file() and first["cached"] is False
    assert main(argv) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["cached"] is True and second["manifest_hash"] == first["manifest_hash"]
    assert main([*argv, "--compile", "force"]) == 0
    assert json.loads(capsys.readouterr().out)["cached"] is False


def test_compile_never_fails_clearly_without_a_cached_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compile", str(QUICKSTART), "--project", str(tmp_path), "--compile", "never"]) == 2
    assert "no earlier build" in capsys.readouterr().err


def test_compile_out_dir_and_exit_two_on_diagnostics(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "plan"
    assert main(["compile", str(QUICKSTART), "--project", str(tmp_path), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "cfg",
        "lineage.json",
        "manifest.yaml",
        "meta.json",
    ]
    assert main(["compile", str(CORPUS / "OML204_cycle.yaml"), "--project", str(tmp_path)]) == 2
    assert "error[OML204]" in capsys.readouterr().out


def test_the_cli_imports_no_heavy_module() -> None:
    code = (
        "import sys, osiris_mcp.cli as cli; cli.build_parser();"
        "heavy = ('duckdb', 'sqlalchemy', 'pymysql', 'mcp', 'sqlglot', 'pyarrow');"
        "print([m for m in heavy if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "osiris_mcp.cli", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.startswith("osiris 0.")
