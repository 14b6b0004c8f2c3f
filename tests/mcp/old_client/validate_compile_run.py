"""A client of the `mcp` 1.9 era (protocol 2025-03-26): validate → compile → run over stdio.

Run with the old SDK's python: `python validate_compile_run.py OSIRIS_MCP PROJECT OML_FILE`.
Prints one JSON object: what each call answered (the content types and the data).
"""

import asyncio
import json
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main(command: str, project: str, oml_file: str) -> None:
    with open(oml_file, encoding="utf-8") as handle:
        oml = handle.read()
    params = StdioServerParameters(command=command, args=["--project", project])
    report = {}
    answers = {}
    steps = [
        ("oml_validate", lambda: {"oml": oml}),
        ("oml_compile", lambda: {"oml": oml}),
        ("run_pipeline", lambda: {"manifest_hash": answers["oml_compile"]["manifest_hash"]}),
        ("run_status", lambda: {"run_id": answers["run_pipeline"]["run_id"], "wait_s": 60}),
    ]
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        init = await session.initialize()
        report["protocol"] = init.protocolVersion
        report["tools"] = len((await session.list_tools()).tools)
        for name, arguments in steps:
            result = await session.call_tool(name, arguments())
            text = result.content[0].text
            answers[name] = json.loads(text) if not result.isError else text
            report[name] = {
                "is_error": result.isError,
                "types": [block.type for block in result.content],
                "data": answers[name],
            }
            if result.isError:
                break
    print(json.dumps(report))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
