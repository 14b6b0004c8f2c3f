"""`osiris --version` tells when another package shadows or overwrites one of Osiris's
top-level packages (`grammar`, `compiler`, `runtime`, `components` are generic names).

The install under test is real: the wheel of this checkout installed by pip into a fresh
virtual environment, then damaged the way `pip install grammar` into that environment
damages it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.adapters.wheel import osiris_wheel


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment holding only the osiris-oml wheel (no dependencies: the
    version check needs none)."""
    root = tmp_path_factory.mktemp("install")
    wheel = osiris_wheel(root / "wheels")
    env = root / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(env / "bin" / "python"),
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            str(wheel.path),
        ],
        check=True,
    )
    return env


def version(env: Path, cwd: Path, **environ: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [str(env / "bin" / "osiris"), "--version"],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**clean, **environ},
    )


def site_packages(env: Path) -> Path:
    (found,) = (env / "lib").glob("python3*/site-packages")
    return found


def test_a_whole_install_reports_its_version_only(installed: Path, tmp_path: Path) -> None:
    done = version(installed, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("osiris 0.1")
    assert done.stderr == ""


def test_a_package_overwritten_by_another_distribution_is_named(
    installed: Path, tmp_path: Path
) -> None:
    target = site_packages(installed) / "grammar" / "__init__.py"
    original = target.read_bytes()
    target.write_text('"""grammar 0.9: a different project that also installs `grammar`."""\n')
    try:
        done = version(installed, tmp_path)
    finally:
        target.write_bytes(original)
    assert done.returncode == 1
    assert "grammar: grammar/__init__.py overwritten since osiris-oml installed it" in done.stderr
    assert "pipx install osiris-oml" in done.stderr
    assert "Traceback" not in done.stderr
    assert version(installed, tmp_path).returncode == 0  # mended: whole again


def test_a_package_shadowed_from_elsewhere_on_the_path_is_named(
    installed: Path, tmp_path: Path
) -> None:
    foreign = tmp_path / "elsewhere" / "runtime"
    foreign.mkdir(parents=True)
    (foreign / "__init__.py").write_text("")
    done = version(installed, tmp_path, PYTHONPATH=str(foreign.parent))
    assert done.returncode == 1
    assert f"runtime: imported from {foreign / '__init__.py'}" in done.stderr
    assert "uv tool install osiris-oml" in done.stderr
