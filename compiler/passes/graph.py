"""graph — the step DAG from needs ∪ inputs ∪ when; cycles reported with their path.

The order is Kahn's algorithm with a lexical tie-break, so it depends only on the
graph, never on the order of keys in the file.

>>> from compiler.compile import validate_text
>>> src = '''oml_version: "0.1.0"
... name: demo
... steps:
...   - {id: a, component: duckdb.processor, mode: transform,
...      config: {query: "SELECT 1"}, inputs: {x: "${b.df}"}}
...   - {id: b, component: duckdb.processor, mode: transform,
...      config: {query: "SELECT 1"}, inputs: {x: "${a.df}"}}
... '''
>>> [(d.code, d.message) for d in validate_text(src)]
[('OML204', 'dependency cycle: a -> b -> a')]
"""

from __future__ import annotations

import heapq

from compiler.program import CompileContext, Program


def graph(program: Program, context: CompileContext) -> Program:
    """Order the steps; report cycles."""
    if program.pipeline is None:
        return program
    deps = {step.id: program.dependencies.get(step.id, ()) for step in program.pipeline.steps}
    dependents: dict[str, list[str]] = {step_id: [] for step_id in deps}
    waiting = {step_id: 0 for step_id in deps}
    for step_id, upstream in deps.items():
        for up in upstream:
            if up in dependents:
                dependents[up].append(step_id)
                waiting[step_id] += 1
    ready = [step_id for step_id, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        step_id = heapq.heappop(ready)
        order.append(step_id)
        for down in dependents[step_id]:
            waiting[down] -= 1
            if waiting[down] == 0:
                heapq.heappush(ready, down)
    if len(order) < len(deps):
        stuck = sorted(set(deps) - set(order))
        cycle = _find_cycle(deps, stuck)
        first = cycle[0]
        program.report(
            "OML204",
            "dependency cycle: " + " -> ".join(cycle),
            program.step_path(first) + "/id",
            hint="a step cannot depend, directly or through others, on itself: "
            "remove one of these dependencies",
        )
        program.broken.update(stuck)
    program.order = tuple(order)
    return program


def _find_cycle(deps: dict[str, tuple[str, ...]], stuck: list[str]) -> list[str]:
    """One cycle among the steps Kahn's algorithm could not order, as a path a -> b -> a."""
    stuck_set = set(stuck)
    start = stuck[0]
    path: list[str] = []
    seen: dict[str, int] = {}
    node = start
    while node not in seen:
        seen[node] = len(path)
        path.append(node)
        node = min(d for d in deps[node] if d in stuck_set)
    cycle = path[seen[node] :]
    # start the report at the lexically smallest step, for a stable message
    pivot = cycle.index(min(cycle))
    cycle = cycle[pivot:] + cycle[:pivot]
    return [*cycle, cycle[0]]
