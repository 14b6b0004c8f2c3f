"""Layers import downward only: grammar < compiler < runtime < osiris_mcp, components below
runtime (DESIGN.md §2). Every import counts, the lazy ones inside functions too: a lazy
upward import is still a dependency a reader has to know about."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OURS = ("grammar", "compiler", "components", "runtime", "osiris_mcp", "osiris")
# package -> the packages of ours it may import (itself included)
MAY_IMPORT: dict[str, set[str]] = {
    "grammar": {"grammar"},
    "components": {"components"},
    "compiler": {"compiler", "grammar", "components.registry", "components.common"},
    "runtime": {"runtime", "compiler", "grammar", "components"},
    "osiris_mcp": set(OURS) - {"osiris"},
    "osiris": {"osiris", "osiris_mcp"},  # 0.5.7's entry point: a shim over the CLI
}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import of one of our packages in a source file."""
    tree = ast.parse(path.read_bytes(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return [(line, name) for line, name in found if name.split(".")[0] in OURS]


def allowed(package: str, module: str) -> bool:
    return any(module == rule or module.startswith(rule + ".") for rule in MAY_IMPORT[package])


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_a_package_imports_only_the_layers_below_it(package: str) -> None:
    upward = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for line, module in imported_modules(path)
        if not allowed(package, module)
    ]
    assert upward == [], "\n".join(upward)


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    source = tmp_path / "emit.py"
    source.write_text("def version():\n    from osiris_mcp import __version__\n")
    assert imported_modules(source) == [(2, "osiris_mcp")]
    assert not allowed("compiler", "osiris_mcp")
    assert not allowed("compiler", "components.mysql.io")
    assert allowed("compiler", "components.registry")
    assert allowed("compiler", "components.common.secrets")


def test_components_common_imports_nothing_of_ours_but_itself() -> None:
    """The bottom of the bottom layer: compiler and runtime both import it."""
    found = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sorted((ROOT / "components" / "common").rglob("*.py"))
        for line, module in imported_modules(path)
        if not (module == "components.common" or module.startswith("components.common."))
    ]
    assert found == [], "\n".join(found)


SHELL_CLI = ("osiris_mcp.cli", "osiris_mcp.commands")


def test_the_mcp_server_imports_no_module_of_the_command_line() -> None:
    """The two shells meet only in the layers below them (runtime.app, runtime.builds, …):
    a tool that needs what a command does calls the runtime, not the command."""
    crossing = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sorted((ROOT / "osiris_mcp").rglob("*.py"))
        if path.name != "cli.py" and "commands" not in path.relative_to(ROOT).parts
        for line, module in imported_modules(path)
        if any(module == cli or module.startswith(cli + ".") for cli in SHELL_CLI)
    ]
    assert crossing == [], "\n".join(crossing)
