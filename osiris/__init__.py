"""0.5.7's import name, kept only so its users' MCP client configs keep starting a server.

`osiris mcp clients` of osiris-pipeline 0.5.7 wrote configs that run
`<python> -m osiris.cli.mcp_entrypoint --base-path <project>`; with Osiris installed in
that environment instead, `osiris.cli.mcp_entrypoint` starts `osiris-mcp`. Nothing else
lives here: Osiris itself is `osiris_mcp`, `runtime`, `compiler`, `grammar`, `components`.
"""
