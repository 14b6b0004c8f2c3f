"""The third-party packages Osiris imports only when needed, and the one line that says how
to install one that is missing — instead of a traceback from deep inside a command."""

from __future__ import annotations

# import name -> what needs it, and the extra that installs it (None: a base dependency)
LAZY_PACKAGES: dict[str, tuple[str, str | None]] = {
    "psycopg": ("PostgreSQL and Supabase connections", None),
    "pymysql": ("MySQL and MariaDB connections", None),
    "connectorx": ("database reads", None),
    "pyarrow": ("database reads", None),
    "duckdb": ("running pipelines", None),
    "sqlalchemy": ("database connections", None),
    "diskcache": ("the discovery catalog", None),
    "mcp": ("the MCP server", None),
    "e2b": ("E2B sandbox runs (osiris run --e2b)", "e2b"),
}


def missing_package(error: ModuleNotFoundError) -> str | None:
    """The message for a missing third-party package, or None when `error` is not one
    (a missing module of Osiris itself is a bug and keeps its traceback).

    >>> missing_package(ModuleNotFoundError("No module named 'e2b'", name="e2b")).split(": ")[-1]
    "pip install 'osiris-oml[e2b]'"
    """
    package = (error.name or "").partition(".")[0]
    if package not in LAZY_PACKAGES:
        return None
    what, extra = LAZY_PACKAGES[package]
    if extra is not None:
        return f"{what} need the Python package '{package}': pip install 'osiris-oml[{extra}]'"
    return (
        f"{what} need the Python package '{package}', which osiris-oml depends on but is not "
        "installed here: reinstall osiris-oml (pipx reinstall osiris-oml, or "
        "pip install --force-reinstall osiris-oml)"
    )
