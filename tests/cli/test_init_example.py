"""`osiris init --example NAME`: a project holding a shipped example, from a checkout or a wheel."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from osiris_mcp.cli import main
from tests.conftest import QUICKSTART_FILES

ROOT = Path(__file__).resolve().parents[2]
OSIRIS = Path(sys.executable).with_name("osiris")
#: output/revenue_by_customer.csv of the quick start: paid revenue per customer.
REVENUE = """\
customer_id,name,country,paid_orders,revenue
6,Radia Perlman,US,5,878.17
2,Grace Hopper,US,5,853.29
5,Hedy Lamarr,AT,4,841.05
4,Katherine Johnson,US,4,712.99
3,Alan Turing,GB,4,593.22
7,Margaret Hamilton,US,5,562.33
8,Tim Berners-Lee,GB,5,443.25
1,Ada Lovelace,GB,4,380.24"""


@pytest.fixture(autouse=True)
def no_osiris_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OSIRIS_HOME", raising=False)


def test_quickstart_example_runs_as_the_readme_says(tmp_path: Path) -> None:
    init = subprocess.run(
        [str(OSIRIS), "init", "--example", "quickstart", "demo"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (init.returncode, init.stderr) == (0, ""), init.stderr
    assert init.stdout.splitlines()[-3:] == [
        "next:",
        "  cd demo",
        "  osiris run pipelines/quickstart.yaml",
    ]
    project = tmp_path / "demo"
    for name in QUICKSTART_FILES:  # the example's own files, byte for byte
        assert (project / name).read_bytes() == (ROOT / "examples" / name).read_bytes(), name

    run = subprocess.run(
        [str(OSIRIS), "run", "pipelines/quickstart.yaml"],
        cwd=project,
        env={k: v for k, v in os.environ.items() if k != "OSIRIS_HOME"},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert run.returncode == 0, run.stderr
    output = project / "output" / "revenue_by_customer.csv"
    assert output.read_text("utf-8").strip() == REVENUE
    assert f"output: {output}" in run.stdout


def test_the_example_comes_with_the_scaffold(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", "--example", "quickstart", str(tmp_path / "p")]) == 0

    assert capsys.readouterr().out.splitlines()[:7] == [
        f"created in {tmp_path / 'p'}:",
        "  osiris_connections.yaml",
        "  .env.example",
        "  .gitignore",
        "  pipelines/quickstart.yaml",
        "  data/customers.csv",
        "  data/orders.csv",
    ]
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == [
        ".env.example",
        ".gitignore",
        "data",
        "osiris_connections.yaml",
        "pipelines",
    ]


def test_unknown_example_names_the_known_ones_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    known = sorted(p.stem for p in (ROOT / "examples" / "pipelines").glob("*.yaml"))

    code = main(["init", "--example", "quickstrat", str(tmp_path / "p")])

    captured = capsys.readouterr()
    assert (code, captured.out) == (2, "")
    assert captured.err == (
        "osiris: error: no example named 'quickstrat'\n"
        f"  hint: the examples are {', '.join(known)}\n"
    )
    assert "quickstart" in known
    assert not (tmp_path / "p").exists()


def test_an_example_never_overwrites_the_users_files_unasked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "orders.csv").write_text("mine\n", "utf-8")

    assert main(["init", "--example", "quickstart", str(tmp_path)]) == 1
    assert capsys.readouterr().err == (
        f"osiris: error: {tmp_path} already has data/orders.csv; nothing was written\n"
        "  hint: use --force to overwrite them\n"
    )
    assert (tmp_path / "data" / "orders.csv").read_text("utf-8") == "mine\n"
    assert not (tmp_path / "osiris_connections.yaml").exists()

    assert main(["init", "--example", "quickstart", "--force", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith(
        f"wrote (overwriting data/orders.csv) in {tmp_path}:\n"
    )
    assert (tmp_path / "data" / "orders.csv").read_bytes() == (
        ROOT / "examples" / "data" / "orders.csv"
    ).read_bytes()


def source_copy(folder: Path) -> Path:
    """What a wheel is built from, copied (symlinks kept) so the build never touches the
    checkout and no stale build/ of earlier runs can add files to the wheel."""
    folder.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, folder / name)
    junk = shutil.ignore_patterns("__pycache__", "output", "run_logs", "build", ".osiris")
    for package in ("grammar", "compiler", "runtime", "components", "osiris_mcp", "osiris"):
        shutil.copytree(ROOT / package, folder / package, symlinks=True, ignore=junk)
    shutil.copytree(ROOT / "examples", folder / "examples", ignore=junk)
    return folder


def test_the_wheel_ships_the_examples_and_init_finds_them_there(tmp_path: Path) -> None:
    source = source_copy(tmp_path / "src")
    (source / "examples" / "output").mkdir()  # what `make demo` leaves must not ship
    (source / "examples" / "output" / "revenue_by_customer.csv").write_text("x\n", "utf-8")
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("osiris_oml-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = sorted(n for n in archive.namelist() if n.startswith("osiris_mcp/examples/"))
    expected = ["osiris_connections.yaml"]
    expected += [f"pipelines/{p.name}" for p in (ROOT / "examples" / "pipelines").glob("*.yaml")]
    expected += [f"data/{p.name}" for p in (ROOT / "examples" / "data").glob("*.csv")]
    assert shipped == sorted(f"osiris_mcp/examples/{name}" for name in expected)
    with zipfile.ZipFile(wheel) as archive:
        scaffold = sorted(n for n in archive.namelist() if n.startswith("osiris_mcp/scaffold/"))
    assert scaffold == [
        "osiris_mcp/scaffold/env.example",
        "osiris_mcp/scaffold/gitignore",
        "osiris_mcp/scaffold/osiris_connections.yaml",
    ]

    # Installed from the wheel alone (no checkout beside it), init still finds the example.
    site = tmp_path / "site"
    subprocess.run(
        [*pip, "install", "--no-deps", "--no-compile", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    done = subprocess.run(
        [sys.executable, "-m", "osiris_mcp.cli", "init", "--example", "quickstart", "demo"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    for name in QUICKSTART_FILES:
        assert (tmp_path / "demo" / name).read_bytes() == (ROOT / "examples" / name).read_bytes()
    for name, template in ((".env.example", "env.example"), (".gitignore", "gitignore")):
        scaffolded = (tmp_path / "demo" / name).read_bytes()
        assert scaffolded == (ROOT / "osiris_mcp" / "scaffold" / template).read_bytes()
    where = subprocess.run(
        [sys.executable, "-c", "import osiris_mcp; print(osiris_mcp.__file__)"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(site)


def test_an_installation_without_examples_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from osiris_mcp.commands import init

    (tmp_path / "examples").mkdir()  # what a checkout without its symlink would offer
    monkeypatch.setattr(init, "shipped_examples", lambda: tmp_path / "examples")

    assert main(["init", "--example", "quickstart", str(tmp_path / "p")]) == 2
    assert capsys.readouterr().err == (
        "osiris: error: no example named 'quickstart'\n"
        "  hint: this installation has no examples: reinstall osiris-oml\n"
    )
