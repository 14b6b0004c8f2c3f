"""Osiris: the `osiris` CLI and the `osiris-mcp` server, thin shells over compiler and runtime."""

__version__ = "0.1.0"
