"""The dependency plan of an execution, compiled once per definition.

``ready_steps`` runs in every turn of a scheduling loop. What it needs from the definition
(each step's dependencies and whether it is optional) is fixed by the execution's
snapshot, which ``definition_hash`` names: it is compiled on first use and shared by every
execution of the same definition, for the most recently used definitions.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentical.db.models.playbook.execution import PlaybookExecution
    from agentical.db.models.playbook.step import PlaybookStep

PLANS_KEPT = 256


@dataclass(frozen=True)
class StepPlan:
    dependencies: Mapping[str, tuple[str, ...]]
    optional: Mapping[str, bool]


_plans: OrderedDict[str, StepPlan] = OrderedDict()
_plans_lock = threading.Lock()


def _from_snapshot(steps: Iterable[Mapping[str, Any]]) -> StepPlan:
    dependencies: dict[str, tuple[str, ...]] = {}
    optional: dict[str, bool] = {}
    for step in steps:
        name = step.get("name", step.get("step_name"))
        dependencies[name] = tuple(step.get("depends_on", ()))
        optional[name] = bool(step.get("optional", step.get("is_optional", False)))
    return StepPlan(dependencies, optional)


def _from_rows(steps: Iterable[PlaybookStep]) -> StepPlan:
    """The plan of an execution without a snapshot: its playbook's current steps."""
    dependencies: dict[str, tuple[str, ...]] = {}
    optional: dict[str, bool] = {}
    for step in steps:
        dependencies[step.step_name] = tuple(dep.step_name for dep in step.depends_on)
        optional[step.step_name] = bool(step.is_optional)
    return StepPlan(dependencies, optional)


def plan_of(execution: PlaybookExecution) -> StepPlan:
    """The plan ``execution`` runs: from its snapshot (cached by ``definition_hash``), or
    from its playbook's steps when it has no snapshot (never cached: steps change)."""
    snapshot = execution.definition_snapshot
    if not (isinstance(snapshot, dict) and isinstance(snapshot.get("steps"), list)):
        return _from_rows(execution.playbook.steps)
    digest = execution.definition_hash
    if digest is None:
        return _from_snapshot(snapshot["steps"])
    with _plans_lock:
        plan = _plans.get(digest)
        if plan is not None:
            _plans.move_to_end(digest)
            return plan
    plan = _from_snapshot(snapshot["steps"])
    with _plans_lock:
        _plans[digest] = plan
        if len(_plans) > PLANS_KEPT:
            _plans.popitem(last=False)
    return plan
