"""SQL analysis shared by the passes: each module answers one question about a query.

- `problem`: the finding type every analysis returns (a code, a message, a span in the text).
- `lexemes`: does sqlglot's reading join two operators the server would keep apart?
- `engine`: does DuckDB itself accept a transform over its upstream columns and types?

The passes (`compiler/passes/sql.py`) call these; these never import a pass.
"""
