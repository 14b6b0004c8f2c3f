"""What runs inside an E2B sandbox: `python -m runtime.adapters.inside BUILD --project DIR`.

The E2B adapter (runtime/adapters/e2b.py) starts this with the connections' secrets as
environment variables. It runs the build as `osiris run` would on this machine
(`runtime.app.run_locally`), writes every event to stdout as one JSON line while the run
goes — the adapter appends each to the local events.jsonl as it arrives — and ends with
the run's result as one JSON document. Exit status: 0 success, 1 failed, 2 the plan was
refused, 130 cancelled (SIGINT from the adapter).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path
from typing import Any


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runtime.adapters.inside")
    parser.add_argument("build", type=Path)
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--keep-data-plane", action="store_true")
    parser.add_argument("--memory-limit")
    args = parser.parse_args(argv)

    from runtime.adapters import RunNotStarted, RunRequest
    from runtime.app import run_locally
    from runtime.builds import PlanError

    lock = threading.Lock()

    def on_event(event: dict[str, Any]) -> None:
        line = json.dumps(event) + "\n"
        with lock:
            sys.stdout.write(line)
            sys.stdout.flush()

    request = RunRequest(
        build_dir=args.build,
        project=args.project.resolve(),
        parallel=args.parallel,
        on_event=on_event,
        keep_data_plane=args.keep_data_plane,
        memory_limit=args.memory_limit,
    )
    try:
        collected = run_locally(request)
    except PlanError as err:
        print(
            f"osiris: error: {err}" + (f"\n  hint: {err.hint}" if err.hint else ""), file=sys.stderr
        )
        return 2
    except RunNotStarted as err:
        print(
            f"osiris: error: {err}" + (f"\n  hint: {err.hint}" if err.hint else ""), file=sys.stderr
        )
        return 1
    result = {
        "run_id": collected.run_id,
        "status": collected.status,
        "session_dir": str(collected.session_dir),
        "duration_ms": collected.duration_ms,
        "steps": collected.steps,
        **({"error": collected.error} if collected.error else {}),
    }
    with lock:
        print(json.dumps(result, ensure_ascii=False), flush=True)
    if collected.status == "cancelled":
        return 130
    return 0 if collected.status == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
