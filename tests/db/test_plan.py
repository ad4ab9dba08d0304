"""The plan of a definition, read from either spelling of a snapshot."""

from __future__ import annotations

import gc
import json
import tracemalloc
from typing import Any

from agentical.db.enums import StepType
from agentical.db.plan import (
    DEFAULT_PLAYBOOK_TIMEOUT_MINUTES,
    DEFAULT_RETRY_DELAY_SECONDS,
    PlanCache,
    compile_plan,
    estimated_plan_bytes,
    plan_for,
)
from agentical.db.schemas.definition import PlaybookDefinition

DOCUMENT = {
    "name": "Plan",
    "category": "deployment",
    "steps": [
        {"name": "build", "type": "script", "retry_attempts": 2},
        {"name": "test", "type": "script", "depends_on": ["build"], "timeout_minutes": 5},
        {"name": "approve", "type": "approval", "depends_on": ["test"]},
        {
            "name": "deploy",
            "type": "webhook",
            "depends_on": ["approve"],
            "optional": True,
            "conditions": {"when": "steps.approve.status == 'completed'"},
        },
    ],
}


def test_the_file_form_reads_with_the_schema_defaults() -> None:
    snapshot = PlaybookDefinition.model_validate(DOCUMENT).to_document()
    plan = compile_plan(snapshot)
    assert list(plan.steps) == ["build", "test", "approve", "deploy"]
    build, test, approve, deploy = plan.steps.values()
    assert (build.step_type, build.retry_attempts) == (StepType.SCRIPT, 2)
    assert build.retry_delay_seconds == DEFAULT_RETRY_DELAY_SECONDS
    assert (test.depends_on, test.timeout_minutes) == (("build",), 5)
    assert (approve.for_workers, build.for_workers) == (False, True)
    assert (deploy.optional, deploy.condition) == (True, "steps.approve.status == 'completed'")
    assert plan.timeout_minutes == DEFAULT_PLAYBOOK_TIMEOUT_MINUTES
    assert plan.dependants_of("build") == ("test",)
    assert plan.downstream_of("build") == ["test", "approve", "deploy"]


def test_raw_rows_read_like_the_file_form() -> None:
    raw = {
        "timeout_minutes": None,
        "steps": [
            {
                "step_name": "b",
                "step_order": 2,
                "step_type": "manual",
                "depends_on": ["a"],
                "is_optional": True,
                "retry_delay_seconds": 0,
            },
            {"step_name": "a", "step_order": 1, "step_type": "script"},
        ],
    }
    plan = compile_plan(raw)
    assert list(plan.steps) == ["a", "b"]  # in order, whatever the list order
    assert (plan.step("b").optional, plan.step("b").retry_delay_seconds) == (True, 0)
    assert plan.timeout_minutes is None


def test_a_plan_is_compiled_once_per_definition_hash() -> None:
    snapshot = PlaybookDefinition.model_validate(DOCUMENT).to_document()
    assert plan_for(snapshot, "digest-1") is plan_for(snapshot, "digest-1")
    assert plan_for(snapshot, None) is not plan_for(snapshot, None)


def test_the_dependency_order_puts_each_step_after_its_dependencies_else_in_run_order() -> None:
    plan = compile_plan(
        {
            "steps": [
                {"name": "report", "order": 1, "depends_on": ["restore", "check"]},
                {"name": "check", "order": 2},
                {"name": "restore", "order": 3, "depends_on": ["backup"]},
                {"name": "backup", "order": 4},
                {"name": "notify", "order": 5},
            ]
        }
    )
    order = sorted(plan.dependency_order, key=plan.dependency_order.__getitem__)
    assert order == ["check", "backup", "restore", "report", "notify"]


def test_steps_a_raw_snapshot_leaves_in_a_cycle_come_last_in_run_order() -> None:
    plan = compile_plan(
        {
            "steps": [
                {"name": "a", "order": 1, "depends_on": ["b"]},
                {"name": "b", "order": 2, "depends_on": ["a"]},
                {"name": "c", "order": 3},
            ]
        }
    )
    assert plan.dependency_order == {"c": 0, "a": 1, "b": 2}


def _definition(steps: int, *, text_bytes: int = 0) -> dict[str, Any]:
    """A definition in the snapshot's file form whose steps carry configurations and
    parameters of every JSON kind, ``text_bytes`` of text each besides."""
    return {
        "steps": [
            {
                "name": f"step_{index}",
                "type": "script",
                "configuration": {
                    "command": f"deploy --shard {index} " + "x" * text_bytes,
                    "env": {"REGION": "eu-west-1", "RETRIES": index % 5, "DRY_RUN": False},
                    "hosts": [f"db-{index}-{replica}" for replica in range(3)],
                },
                "parameters": {"target": "{{ host }}", "weights": [0.5, 0.25, 0.25]},
            }
            for index in range(steps)
        ]
    }


def test_a_plan_s_estimated_size_covers_what_it_keeps_alive() -> None:
    """The cache's size bound is only as good as this estimate: it must not be below what
    a plan compiled from a stored snapshot holds once the snapshot is gone."""
    for text_bytes in (0, 2_000):
        stored = json.dumps(_definition(2_000, text_bytes=text_bytes))
        gc.collect()
        tracemalloc.start()
        try:
            plan = compile_plan(json.loads(stored))
            plan.dependency_order  # noqa: B018  (cached on the plan by the first run)
            gc.collect()
            kept = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        assert kept <= estimated_plan_bytes(plan) <= 2 * kept, (text_bytes, kept)


def test_the_plan_cache_is_bounded_by_count_and_by_size_keeping_the_newest() -> None:
    small = compile_plan(_definition(2))
    large = compile_plan(_definition(500, text_bytes=1_000))
    cache = PlanCache(
        max_plans=3, max_bytes=estimated_plan_bytes(large) + 3 * estimated_plan_bytes(small)
    )

    for digest in ("a", "b", "c"):
        cache.put(digest, small)
    assert cache.get("a") is small  # used: "b" is now the oldest
    cache.put("d", small)
    assert [cache.get(digest) is not None for digest in "abcd"] == [True, False, True, True]

    cache.put("large", large)  # fits beside two of the three small plans
    assert [cache.get(digest) is not None for digest in "acd"] == [False, True, True]
    assert cache.get("large") is large

    oversized = PlanCache(max_bytes=estimated_plan_bytes(small))
    oversized.put("small", small)
    oversized.put("large", large)
    assert (oversized.get("small"), oversized.get("large")) == (None, large)


def test_the_first_plan_kept_for_a_definition_hash_is_the_one_every_caller_gets() -> None:
    cache = PlanCache()
    first, second = compile_plan(_definition(2)), compile_plan(_definition(2))
    assert cache.put("digest", first) is first
    assert cache.put("digest", second) is first
