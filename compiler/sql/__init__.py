"""SQL analysis and rewriting shared by the passes: each module answers one question.

- `problem`: the finding every analysis returns (a code, a message, a span in the text).
- `policy`: which functions and table functions a query may call, per dialect.
- `safety`: parse once, then one statement, read-only, allowed functions (`check_sql`).
- `lexemes`: does sqlglot's reading join two operators the server keeps apart?
- `scope`: tables, columns and lineage resolved against catalogs and upstream steps.
- `engine`: does DuckDB itself accept a transform over its inputs' columns and types?
- `positions`: offsets in the SQL as bound mapped back to the OML file.
- `canonical`: the normalized text that is hashed and sent.
- `rewrite`, `pushdown`, `pruning`: the optimize pass's two rules and what they share.

The passes (`compiler/passes/sql.py`, `compiler/passes/optimize.py`) call these; these
never import a pass, and no rule imports another.
"""
