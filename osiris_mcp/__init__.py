"""Osiris: the `osiris` CLI and the `osiris-mcp` server, thin shells over compiler and runtime."""

from compiler.version import __version__

__all__ = ["__version__"]
