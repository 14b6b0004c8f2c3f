"""Which read steps hand their rows straight to their writer, with no table in between.

A read step whose only consumer is one writer gets no data-plane table: the runner runs
the two together, the reader's `stream()` feeding the writer's `write_stream()` batch by
batch (components/protocol.py `RowStream`). The table would only be written and read back
once: past the memory limit (128MB by default) DuckDB spills it to disk, and at 5M rows
MySQL → CSV took 10.3 s through a table where the stream takes the read's own time.

A pair streams only where nothing could tell the difference but the time: the writer
needs nothing else, nobody else reads the step's table, neither step retries, times out
or runs on a condition, and both drivers can (`stream`, `takes_stream(config)`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from compiler.manifest import ManifestStep

#: What a plan's pairs (and fused chains: runtime/fusion.py) are found from, besides its
#: steps: each step's config by step id, and a component's driver by name.
Configs = Mapping[str, Mapping[str, Any]]
DriverOf = Callable[[str], Any]


def streamed_pairs(
    steps: Sequence[ManifestStep], configs: Configs, driver_of: DriverOf
) -> dict[str, ManifestStep]:
    """Each read step that streams -> the writer it streams to.

    >>> from compiler.manifest import ManifestStep
    >>> def step(id, mode, needs=(), **more):
    ...     return ManifestStep(id, f"{id}.c", "1", mode, "", "", needs=needs, **more)
    >>> class Both:
    ...     def stream(self): ...
    ...     def takes_stream(self, config): return True
    ...     def write_stream(self): ...
    >>> plan = [step("a", "read"), step("w", "write", ("a",), tables={"df": "a"})]
    >>> sorted(streamed_pairs(plan, {}, lambda c: Both()))
    ['a']
    >>> plan.append(step("t", "transform", ("a",), tables={"df": "a"}))  # a second reader
    >>> streamed_pairs(plan, {}, lambda c: Both())
    {}
    """
    consumers: dict[str, list[ManifestStep]] = {}
    for step in steps:
        for upstream in upstreams(step):
            consumers.setdefault(upstream, []).append(step)
    pairs = {}
    for step in steps:
        downstream = consumers.get(step.id, [])
        if len(downstream) != 1 or step.mode != "read":
            continue
        writer = downstream[0]
        if writer.mode != "write" or upstreams(writer) != {step.id}:
            continue
        if any(s.when or s.retry or s.timeout_s for s in (step, writer)):
            continue
        reader_driver, writer_driver = driver_of(step.component), driver_of(writer.component)
        if not hasattr(reader_driver, "stream") or not hasattr(writer_driver, "write_stream"):
            continue
        if writer_driver.takes_stream(configs.get(writer.id, {})):
            pairs[step.id] = writer
    return pairs


def upstreams(step: ManifestStep) -> set[str]:
    """The steps `step` waits for or reads."""
    return set(step.needs) | set(step.input_tables.values())
