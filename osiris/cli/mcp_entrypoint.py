"""`python -m osiris.cli.mcp_entrypoint [--base-path DIR] [--debug] [--selftest]`: the
command 0.5.7's generated Claude Desktop configs run. It is `osiris mcp run`."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    from osiris_mcp.cli import main as osiris

    return osiris(["mcp", "run", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
