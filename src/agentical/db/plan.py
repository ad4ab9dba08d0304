"""The plan of one definition: what a run needs to know about its steps, typed.

An execution runs the definition it was created with (its snapshot), never the live
playbook rows: this module is the one reader of a snapshot. A plan is compiled once per
definition (keyed by the snapshot's content hash) and shared by every run of it, for as
long as the process's ``PlanCache`` keeps it.

Snapshots come in two spellings: the file form of ``PlaybookDefinition.to_document``
(short keys, defaults left out) and, for playbooks whose rows are not a valid definition,
the raw rows (attribute names, every key present). Both read the same here.
"""

from __future__ import annotations

import functools
import heapq
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agentical.db.enums import StepType

PLANS_KEPT = 256
# What the compiled plans a process keeps may hold in all (``estimated_plan_bytes``): about ten
# plans of 10,000 steps with small configurations.
PLAN_BYTES_KEPT = 128 * 2**20
# A step's share of its plan besides what its configuration and parameters hold (measured:
# 430 bytes a step of a 10,000-step plan, its two empty dicts included).
STEP_PLAN_BYTES = 400

DEFAULT_STEP_TYPE = StepType.MANUAL
DEFAULT_RETRY_DELAY_SECONDS = 30
DEFAULT_PLAYBOOK_TIMEOUT_MINUTES = 60

# Steps a person finishes (complete_step(completed_by=...), approve_step, reject_step):
# no worker claims them.
PERSON_STEP_TYPES = frozenset({StepType.MANUAL, StepType.APPROVAL})
WORKER_STEP_TYPES = frozenset(StepType) - PERSON_STEP_TYPES

CONDITION_KEY = "when"


@dataclass(frozen=True, slots=True)
class StepPlan:
    name: str
    order: int
    step_type: StepType
    depends_on: tuple[str, ...]
    optional: bool
    retry_attempts: int
    retry_delay_seconds: int
    timeout_minutes: int | None
    condition: str | None
    configuration: Mapping[str, Any]
    parameters: Mapping[str, Any]

    @property
    def for_workers(self) -> bool:
        """Whether a worker claims this step (people finish manual and approval steps)."""
        return self.step_type in WORKER_STEP_TYPES


@dataclass(frozen=True)
class Plan:
    """Steps by name in run order, with the reverse edges precomputed."""

    steps: Mapping[str, StepPlan]
    timeout_minutes: int | None
    dependants: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.steps)

    def step(self, name: str) -> StepPlan:
        try:
            return self.steps[name]
        except KeyError:
            raise KeyError(f"the plan has no step '{name}'") from None

    def dependants_of(self, name: str) -> tuple[str, ...]:
        return self.dependants.get(name, ())

    def downstream_of(self, name: str) -> list[str]:
        """Every step that depends on ``name``, directly or transitively, in run order."""
        found: set[str] = set()
        stack = list(self.dependants_of(name))
        while stack:
            step = stack.pop()
            if step not in found:
                found.add(step)
                stack.extend(self.dependants_of(step))
        return [step for step in self.steps if step in found]

    @property
    def dependency_graph(self) -> dict[str, tuple[str, ...]]:
        return {name: step.depends_on for name, step in self.steps.items()}

    @functools.cached_property
    def dependency_order(self) -> dict[str, int]:
        """Each step's rank in an order where every step comes after its dependencies (in
        run order where the dependencies allow): the order a run's step rows are created,
        and so locked, in. The run order alone may put a step before one it depends on,
        and a transaction locking the run's rows in it could deadlock with a worker that
        holds the dependency and releases the step."""
        waiting = {name: len(step.depends_on) for name, step in self.steps.items()}
        position = {name: index for index, name in enumerate(self.steps)}
        ready = [position[name] for name, count in waiting.items() if not count]
        heapq.heapify(ready)
        names = list(self.steps)
        rank: dict[str, int] = {}
        while ready:
            name = names[heapq.heappop(ready)]
            rank[name] = len(rank)
            for dependant in self.dependants_of(name):
                waiting[dependant] -= 1
                if not waiting[dependant]:
                    heapq.heappush(ready, position[dependant])
        for name in names:  # a cycle (a raw snapshot): its steps last, in run order
            rank.setdefault(name, len(rank))
        return rank


def _read(step: Mapping[str, Any], short: str, long: str, default: Any) -> Any:
    if short in step:
        return step[short]
    return step.get(long, default)


def _condition(conditions: Any) -> str | None:
    if isinstance(conditions, Mapping):
        when = conditions.get(CONDITION_KEY)
        if isinstance(when, str) and when.strip():
            return when
    return None


def step_plan(step: Mapping[str, Any], position: int) -> StepPlan:
    """One step of a snapshot (either spelling) as a ``StepPlan``."""
    name = str(_read(step, "name", "step_name", ""))
    order = _read(step, "order", "step_order", None)
    delay = step.get("retry_delay_seconds")
    return StepPlan(
        name=name,
        order=int(order) if order is not None else position,
        step_type=StepType(_read(step, "type", "step_type", DEFAULT_STEP_TYPE)),
        depends_on=tuple(step.get("depends_on") or ()),
        optional=bool(_read(step, "optional", "is_optional", False)),
        retry_attempts=int(step.get("retry_attempts") or 0),
        retry_delay_seconds=DEFAULT_RETRY_DELAY_SECONDS if delay is None else int(delay),
        timeout_minutes=step.get("timeout_minutes"),
        condition=_condition(step.get("conditions")),
        configuration=dict(step.get("configuration") or {}),
        parameters=dict(step.get("parameters") or {}),
    )


def compile_plan(snapshot: Mapping[str, Any]) -> Plan:
    """The plan of a snapshot document (not cached: see ``plan_for``)."""
    steps = [step_plan(step, index + 1) for index, step in enumerate(_steps(snapshot))]
    steps.sort(key=lambda step: step.order)
    dependants: dict[str, list[str]] = {}
    for step in steps:
        for dependency in step.depends_on:
            dependants.setdefault(dependency, []).append(step.name)
    timeout = snapshot.get("timeout_minutes", DEFAULT_PLAYBOOK_TIMEOUT_MINUTES)
    return Plan(
        steps={step.name: step for step in steps},
        timeout_minutes=timeout,
        dependants={name: tuple(names) for name, names in dependants.items()},
    )


def _steps(snapshot: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    steps = snapshot.get("steps")
    return steps if isinstance(steps, list) else ()


def _json_bytes(value: Any) -> int:
    """About the bytes a JSON value (dicts, lists, scalars) takes in memory, counted with
    ``sys.getsizeof`` object by object, without recursion."""
    total, pending = 0, [value]
    while pending:
        item = pending.pop()
        total += sys.getsizeof(item)
        if isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return total


def estimated_plan_bytes(plan: Plan) -> int:
    """About the bytes ``plan`` keeps alive: a fixed size a step, and what its
    configuration and parameters hold (read from the snapshot, so theirs alone)."""
    return sum(
        STEP_PLAN_BYTES + _json_bytes(step.configuration) + _json_bytes(step.parameters)
        for step in plan.steps.values()
    )


class PlanCache:
    """The plans compiled in this process, by definition hash, most recently used last.

    A worker keeps it for its life, and definitions are untrusted: a few hundred of the
    largest (10,000 steps, megabytes of configuration) would hold gigabytes. So it is
    bounded twice, by a number of plans and by their estimated size; the newest plan is
    kept whatever its size, as the runs of that definition need it at each claim.
    """

    def __init__(self, max_plans: int = PLANS_KEPT, max_bytes: int = PLAN_BYTES_KEPT) -> None:
        self.max_plans, self.max_bytes = max_plans, max_bytes
        self._plans: OrderedDict[str, tuple[Plan, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, digest: str) -> Plan | None:
        with self._lock:
            entry = self._plans.get(digest)
            if entry is None:
                return None
            self._plans.move_to_end(digest)
            return entry[0]

    def put(self, digest: str, plan: Plan) -> Plan:
        """Keep ``plan`` (or the one another thread kept first) and return it."""
        size = estimated_plan_bytes(plan)
        with self._lock:
            kept = self._plans.get(digest)
            if kept is not None:
                return kept[0]
            self._plans[digest] = (plan, size)
            self._bytes += size
            while len(self._plans) > 1 and (
                len(self._plans) > self.max_plans or self._bytes > self.max_bytes
            ):
                _digest, (_plan, evicted) = self._plans.popitem(last=False)
                self._bytes -= evicted
            return plan


_cache = PlanCache()


def compiled_plan(digest: str) -> Plan | None:
    """The plan already compiled for the definition hash ``digest``, if any."""
    return _cache.get(digest)


def plan_for(snapshot: Mapping[str, Any], digest: str | None) -> Plan:
    """The plan of ``snapshot``, compiled once per ``digest`` (its content hash) for the
    most recently used definitions; without a digest it is compiled every time."""
    if digest is None:
        return compile_plan(snapshot)
    plan = compiled_plan(digest)
    if plan is not None:
        return plan
    return _cache.put(digest, compile_plan(snapshot))
