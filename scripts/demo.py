"""`make demo`: migrate a fresh SQLite file, build a playbook, run it once, print it."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from agentical.db import migrate
from agentical.db.models.playbook import (
    Playbook,
    PlaybookCategory,
    PlaybookExecution,
    PlaybookStep,
    PlaybookVariable,
    StepType,
    VariableType,
)

DATABASE = Path(".demo/agentical.db")


def main() -> None:
    DATABASE.parent.mkdir(exist_ok=True)
    DATABASE.unlink(missing_ok=True)
    engine = create_engine(f"sqlite:///{DATABASE}")
    with engine.begin() as connection:
        migrate.upgrade(connection)

    with Session(engine) as session:
        playbook = Playbook(
            name="Database failover",
            category=PlaybookCategory.INCIDENT_RESPONSE,
            description="Promote the replica when the primary stops answering.",
            tags=["database", "failover"],
            success_criteria=["Writes succeed on the new primary"],
            created_by="demo",
        )
        playbook.steps = [
            PlaybookStep(step_name="assess", step_order=1, estimated_duration_minutes=5),
            PlaybookStep(step_name="promote", step_order=2, step_type=StepType.AUTOMATED),
            PlaybookStep(step_name="verify", step_order=3),
        ]
        playbook.variables = [
            PlaybookVariable(
                variable_name="severity",
                variable_type=VariableType.SELECT,
                enum_values=["low", "medium", "high"],
                default_value="high",
            ),
            PlaybookVariable(
                variable_name="api_token", variable_type=VariableType.STRING, is_sensitive=True
            ),
        ]
        session.add(playbook)
        session.flush()
        playbook.steps[1].add_dependency("assess")
        playbook.steps[2].add_dependency("promote")
        playbook.publish()

        execution = PlaybookExecution(playbook=playbook, triggered_by="demo")
        session.add(execution)
        execution.start_execution({"severity": "high", "api_token": "s3cr3t"})
        execution.update_progress(50, "replica promoted")
        execution.mark_success_criteria("Writes succeed on the new primary")
        execution.complete_execution(overall_success=True)
        playbook.update_performance_metrics(execution.execution_time_seconds or 0.0, True)
        session.commit()

        report = {
            "playbook": playbook.to_dict(),
            "steps": [step.to_dict() for step in playbook.steps],
            "variables": [variable.to_dict() for variable in playbook.variables],
            "execution": execution.to_dict(),
        }
    print(json.dumps(report, indent=2))
    print(f"\nDatabase: {DATABASE} (migrated with Alembic; open it with sqlite3)")


if __name__ == "__main__":
    main()
