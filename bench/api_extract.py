"""graphql.extractor, Osiris beside osiris-pipeline 0.5.7: one paginated read of N rows.

    python bench/api_extract.py [--rows 50000] [--page 1000] [--ref /work/ref057/.venv/bin/python]

Both read the same GraphQL server on loopback (graphql-core, the test suite's server,
run in this process's venv), page by page, each in a fresh process, and report wall time,
requests sent and peak RSS. Osiris loads pages into a DuckDB data plane as they arrive;
0.5.7 builds one pandas DataFrame and sends each page's query twice (once for the rows,
once for pageInfo). Prints one line per tool; nothing here is a test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.components.api_servers import TOKEN, GraphQLServer  # noqa: E402

QUERY = """query Orders($first: Int!, $after: String) {
  orders(first: $first, after: $after) {
    edges { node { id total status customer { name country } tags } }
    pageInfo { hasNextPage endCursor }
  }
}"""

OURS = """
import json, resource, sys, time, duckdb
from pathlib import Path
from components.graphql_extractor.driver import GraphQLExtractorDriver
class Ctx:
    step_id = "read"; output_table = '"read"'; artifacts_dir = Path("."); project_dir = Path(".")
    def __init__(self, connection):
        self.connection = connection
        self.data_plane = duckdb.connect().cursor()
    def emit(self, *a, **k): pass
    def metric(self, *a, **k): pass
    def cancelled(self): return False
args = json.loads(sys.argv[1])
ctx = Ctx({"endpoint": args["endpoint"], "auth_token": args["token"]})
started = time.perf_counter()
result = GraphQLExtractorDriver().run(ctx, args["config"], {})
seconds = time.perf_counter() - started
print(json.dumps({"rows": result.rows_written, "seconds": seconds,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

REFERENCE = """
import json, logging, resource, sys, time
logging.disable(logging.CRITICAL)
from osiris.drivers.graphql_extractor_driver import GraphQLExtractorDriver
args = json.loads(sys.argv[1])
config = {**args["config"], "endpoint": args["endpoint"], "auth_type": "bearer",
          "auth_token": args["token"]}
started = time.perf_counter()
df = GraphQLExtractorDriver().run(step_id="read", config=config, inputs=None, ctx=None)["df"]
seconds = time.perf_counter() - started
print(json.dumps({"rows": len(df), "seconds": seconds,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def orders(count: int) -> list[dict[str, object]]:
    return [
        {
            "id": i,
            "total": round(i * 0.37 % 500, 2),
            "status": ("paid", "open", "refunded")[i % 3],
            "customer": {"name": f"customer {i % 977}", "country": ("CH", "DE", "FR")[i % 3]},
            "tags": ["vip"] if i % 7 == 0 else [],
            "big": i,
        }
        for i in range(1, count + 1)
    ]


def measure(
    python: str, script: str, args: dict[str, object], env: dict[str, str]
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench_script.py"
        path.write_text(textwrap.dedent(script))
        out = subprocess.run(
            [python, str(path), json.dumps(args)],
            capture_output=True,
            text=True,
            check=True,
            cwd=folder,
            env=env,
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--page", type=int, default=1_000)
    parser.add_argument("--ref", default="/work/ref057/.venv/bin/python")
    options = parser.parse_args()
    config = {
        "query": QUERY,
        "variables": {"first": options.page},
        "pagination_enabled": True,
        "pagination_path": "data.orders.pageInfo",
        "data_path": "data.orders.edges[*].node",
    }
    with GraphQLServer(orders(options.rows)) as server:
        args = {"endpoint": server.endpoint, "token": TOKEN, "config": config}
        ours_env = {**os.environ, "PYTHONPATH": str(ROOT)}
        ours = measure(sys.executable, OURS, args, ours_env)
        ours_requests = len(server.record.requests)
        server.record.requests.clear()
        tools = [("osiris", ours, ours_requests)]
        if Path(options.ref).exists():
            ref_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            reference = measure(options.ref, REFERENCE, args, ref_env)
            tools.append(("osiris-pipeline 0.5.7", reference, len(server.record.requests)))
    print(f"graphql.extractor, {options.rows} rows in pages of {options.page}:")
    for name, figures, requests in tools:
        print(
            f"  {name:22} {figures['seconds']:6.2f} s  {int(figures['rows']):>8} rows  "
            f"{requests:>4} requests  peak RSS {figures['rss_mb']:6.1f} MB"
        )


if __name__ == "__main__":
    main()
