"""See `osiris.cli.mcp_entrypoint`."""
