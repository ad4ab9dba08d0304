"""``/executions/{execution_id}/steps/{step_name}/...``: a person approves or rejects an
approval step, completes a manual one, or has a failed step run again."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Body, Response
from sqlalchemy.orm import Session

from agentical.api.bodies import ApproveBody, CompleteBody, RejectBody
from agentical.api.executions import detail_response
from agentical.api.lookup import find_execution, find_step_run
from agentical.api.wiring import Caller, Wiring
from agentical.db import runs
from agentical.db.models.playbook import ExecutionDetailRead, PlaybookStepExecution

STEP_PATH = "/executions/{execution_id}/steps/{step_name}"


def add_routes(router: APIRouter, wiring: Wiring) -> None:
    def act(
        session: Session,
        caller: Caller,
        by: str | None,
        path: tuple[str, str],
        decide: Callable[[PlaybookStepExecution, str], None],
    ) -> Response:
        """``decide`` the step as the person acting, who is also the trail's actor."""
        execution_id, step_name = path
        person = caller.required(by)
        with caller.acting(person):
            decide(find_step_run(session, execution_id, step_name), person)
            session.commit()
        return detail_response(session, execution_id)

    @router.post(
        f"{STEP_PATH}/approve",
        response_model=ExecutionDetailRead,
        summary="Approve a waiting approval step",
    )
    def approve(
        execution_id: str,
        step_name: str,
        body: ApproveBody = Body(default_factory=ApproveBody),
        session: Session = wiring.session,
        caller: Caller = wiring.caller,
    ) -> Response:
        return act(
            session,
            caller,
            body.by,
            (execution_id, step_name),
            lambda run, person: runs.approve_step(session, run, person, body.comment),
        )

    @router.post(
        f"{STEP_PATH}/reject",
        response_model=ExecutionDetailRead,
        summary="Reject a waiting approval step (it fails for good)",
    )
    def reject(
        execution_id: str,
        step_name: str,
        body: RejectBody,
        session: Session = wiring.session,
        caller: Caller = wiring.caller,
    ) -> Response:
        return act(
            session,
            caller,
            body.by,
            (execution_id, step_name),
            lambda run, person: runs.reject_step(session, run, person, body.reason),
        )

    @router.post(
        f"{STEP_PATH}/retry",
        response_model=ExecutionDetailRead,
        summary="Run a failed step again (the steps its failure skipped wait for it again)",
    )
    def retry(
        execution_id: str,
        step_name: str,
        session: Session = wiring.session,
        caller: Caller = wiring.caller,
    ) -> Response:
        with caller.acting():
            runs.retry_step(session, find_execution(session, execution_id), step_name)
            session.commit()
        return detail_response(session, execution_id)

    @router.post(
        f"{STEP_PATH}/complete",
        response_model=ExecutionDetailRead,
        summary="Complete a ready manual step",
    )
    def complete(
        execution_id: str,
        step_name: str,
        body: CompleteBody = Body(default_factory=CompleteBody),
        session: Session = wiring.session,
        caller: Caller = wiring.caller,
    ) -> Response:
        return act(
            session,
            caller,
            body.by,
            (execution_id, step_name),
            lambda run, person: run.complete_step(body.output, completed_by=person),
        )
