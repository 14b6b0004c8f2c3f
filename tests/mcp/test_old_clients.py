"""A client of the `mcp` 1.9 era (protocol 2025-03-26) completes validate → compile → run.

The old SDK lives in a virtual environment of its own, made once by the fixture (and kept
under ~/.cache/osiris-tests): installing it needs the package index, so the test carries
the `long` marker.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.mcp.conftest import QUICKSTART
from tests.mcp.test_stdio import OSIRIS_MCP

pytestmark = pytest.mark.long

#: The last SDK before structured output and resource links; pydantic 2.12 broke it.
OLD_SDK = ("mcp==1.9.4", "pydantic<2.12")
CLIENT = Path(__file__).with_name("old_client") / "validate_compile_run.py"


@pytest.fixture(scope="session")
def old_mcp_python() -> Path:
    home = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    folder = home / "osiris-tests" / "mcp-1.9.4"
    python = folder / "bin" / "python"
    ready = folder / ".installed"
    if not ready.exists():
        venv.create(folder, with_pip=True, clear=True)
        installed = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *OLD_SDK],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if installed.returncode != 0:
            pytest.skip(f"cannot install {' '.join(OLD_SDK)}: {installed.stderr[-500:]}")
        ready.touch()
    return python


def test_an_mcp_1_9_client_validates_compiles_and_runs(
    old_mcp_python: Path, project: Path, tmp_path: Path
) -> None:
    oml = tmp_path / "quickstart.yaml"
    oml.write_text(QUICKSTART)
    done = subprocess.run(
        [str(old_mcp_python), str(CLIENT), OSIRIS_MCP, str(project), str(oml)],
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["protocol"] == "2025-03-26" and report["tools"] == 19
    for step in ("oml_validate", "oml_compile", "run_pipeline", "run_status"):
        assert report[step]["is_error"] is False, report[step]
        assert "resource_link" not in report[step]["types"]  # not in this client's protocol
    assert report["oml_validate"]["data"]["valid"] is True
    assert report["oml_compile"]["types"] == ["text", "text"]
    assert report["run_status"]["data"]["status"] == "success"
    assert (project / "output" / "revenue_by_customer.csv").is_file()
    assert sys.executable != str(old_mcp_python)
