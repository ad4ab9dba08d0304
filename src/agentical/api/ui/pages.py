"""``/ui/executions``: the list of runs and each run's live page, and the small JSON view
the page polls (every second, until the run has finished)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session

from agentical.api.lookup import find_execution
from agentical.api.paging import Cursor, page_of
from agentical.api.ui.layout import NODE_HEIGHT, NODE_WIDTH, lay_out
from agentical.api.ui.view import FINISHED, RunView, run_view, seconds
from agentical.api.wiring import Caller, Wiring
from agentical.db import history
from agentical.db.models.playbook import Playbook, PlaybookExecution
from agentical.db.models.playbook.step_plan import plan_of

MAX_DRAWN_STEPS = 300
"""Larger plans get the table only: an SVG of thousands of nodes helps nobody."""
RUNS_PER_PAGE = 50
TRAIL_SHOWN = 20
"""The run page's trail panel: the newest entries (``/executions/{id}/audit`` has all)."""

pages = Environment(
    loader=PackageLoader("agentical.api.ui", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(at: datetime | None) -> str:
    return "" if at is None else at.strftime("%Y-%m-%d %H:%M:%S UTC")


def _row(
    request: Request, execution: PlaybookExecution, names: dict[int, str]
) -> dict[str, object]:
    finished = execution.status in FINISHED
    return {
        "url": request.url_for("run_page", execution_id=execution.execution_id),
        "playbook": names.get(execution.playbook_id or 0, "(deleted playbook)"),
        "status": execution.status.value,
        "progress": execution.progress_percentage or 0.0,
        "started": _when(execution.started_at),
        "timing": seconds(execution.duration_seconds)
        if finished and execution.duration_seconds is not None
        else "",
        "execution_id": execution.execution_id,
    }


def _view(session: Session, execution_id: str) -> tuple[PlaybookExecution, RunView]:
    """The execution (with what its page shows) and its view, its newest trail entries in."""
    execution = find_execution(session, execution_id, detail=True)
    trail = session.scalars(history.audit_trail(execution=execution).limit(TRAIL_SHOWN))
    return execution, run_view(execution, trail.all())


def add_routes(router: APIRouter, wiring: Wiring) -> None:
    @router.get("/ui/executions", response_class=HTMLResponse, summary="Page: recent runs")
    def run_list_page(
        request: Request,
        session: Session = wiring.session,
        cursor: Cursor = None,
    ) -> Response:
        page = page_of(session, history.recent_executions(), cursor, RUNS_PER_PAGE)
        ids = {execution.playbook_id for execution in page.items}
        names = {
            playbook_id: f"{name} v{version}"
            for playbook_id, name, version in session.execute(
                select(Playbook.id, Playbook.name, Playbook.version).where(Playbook.id.in_(ids))
            )
        }
        older = None
        if page.next_cursor is not None:
            older = request.url_for("run_list_page").include_query_params(cursor=page.next_cursor)
        html = pages.get_template("runs.html").render(
            rows=[_row(request, execution, names) for execution in page.items], older_url=older
        )
        return HTMLResponse(html)

    @router.get(
        "/ui/executions/{execution_id}",
        response_class=HTMLResponse,
        summary="Page: one run, its steps drawn as a graph, updated while it runs",
    )
    def run_page(
        request: Request,
        execution_id: str,
        session: Session = wiring.session,
        caller: Caller = wiring.caller,
    ) -> Response:
        execution, view = _view(session, execution_id)
        graph = plan_of(execution).dependency_graph
        layout = lay_out(graph) if len(graph) <= MAX_DRAWN_STEPS else None
        html = pages.get_template("run.html").render(
            view=view,
            steps={step.name: step for step in view.steps},
            layout=layout,
            node_width=NODE_WIDTH,
            node_height=NODE_HEIGHT,
            max_drawn=MAX_DRAWN_STEPS,
            view_url=request.url_for("run_view_state", execution_id=execution_id),
            api_url=request.url_for("get_execution", execution_id=execution_id),
            list_url=request.url_for("run_list_page"),
            # The service names who acts: the page shows it and asks for no name.
            service_actor=caller.actor,
        )
        return HTMLResponse(html)

    @router.get(
        "/ui/executions/{execution_id}/view",
        response_model=RunView,
        summary="What the run page shows, as JSON (the page polls it)",
    )
    def run_view_state(execution_id: str, session: Session = wiring.session) -> Response:
        _execution, view = _view(session, execution_id)
        return JSONResponse(view.model_dump(mode="json"))
