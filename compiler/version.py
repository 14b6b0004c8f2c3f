"""The Osiris version: a leaf module, so that the compiler can record it without importing
a layer above it (`osiris_mcp` re-exports it; pyproject.toml reads it for the package)."""

__version__ = "0.1.0"
