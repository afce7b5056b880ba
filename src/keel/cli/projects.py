"""``keel projects create|list``, ``keel members add|remove|list`` and ``keel models approve|requests``.

Projects and members act on the local metadata database (run them where ``keel server`` runs). Approving a
promotion goes through the server when ``KEEL_TRACKING_URI`` points at one (with ``KEEL_TOKEN``), else locally.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from keel.cli.output import console, format_ms
from keel.cli.users import metadata_db

__all__ = ["approve", "members_app", "projects_app", "requests"]

projects_app = typer.Typer(help="Projects (workspaces) grouping experiments, data, features, models, deployments.",
                           no_args_is_help=True)
members_app = typer.Typer(help="Members of a project and their roles: viewer, editor, maintainer, admin.",
                          no_args_is_help=True)

_PROJECT = typer.Option(None, "--project", "-p", help="The project (default: KEEL_PROJECT or 'default').")


def _project(value: str | None) -> str:
    from keel.config import get_settings

    return value or get_settings().project


@projects_app.command("create")
def create_project(name: str, description: str | None = typer.Option(None, help="What the project is for.")) -> None:
    """Create a project."""
    from keel.governance.projects import create_project as create

    create(metadata_db(), name, description)
    typer.echo(f"created project {name}")


@projects_app.command("list")
def list_projects() -> None:
    """List projects."""
    from keel.governance.projects import list_projects as projects

    table = Table(title="projects")
    for column in ("name", "description", "created"):
        table.add_column(column)
    for p in projects(metadata_db()):
        table.add_row(p.name, p.description or "", format_ms(p.created_at))
    console.print(table)


@members_app.command("add")
def add_member(user: str, role: str = typer.Argument(..., help="viewer, editor, maintainer or admin."),
               project: str | None = _PROJECT) -> None:
    """Give a user a role in a project (replacing their role there)."""
    from keel.governance.projects import add_member as add

    member = add(metadata_db(), _project(project), user, role)
    typer.echo(f"{member.user} is {member.role} in project {member.project}")


@members_app.command("remove")
def remove_member(user: str, project: str | None = _PROJECT) -> None:
    """Take a user's role in a project away."""
    from keel.governance.projects import remove_member as remove

    remove(metadata_db(), _project(project), user)
    typer.echo(f"removed {user} from project {_project(project)}")


@members_app.command("list")
def list_members(project: str | None = _PROJECT) -> None:
    """List a project's members."""
    from keel.governance.projects import list_members as members

    table = Table(title=f"members of {_project(project)}")
    for column in ("user", "role", "added"):
        table.add_column(column)
    for m in members(metadata_db(), _project(project)):
        table.add_row(m.user, m.role, format_ms(m.added_at))
    console.print(table)


def _remote() -> Any:
    from keel.config import get_settings

    settings = get_settings()
    if not settings.is_remote:
        return None
    from keel.client.http import HttpSession

    return HttpSession(settings.tracking_uri or "", token=settings.token, timeout_s=settings.http_timeout_s,
                       retry_for_s=0)


def approve(request_id: str = typer.Argument(..., help="The promotion request's id (see `keel models requests`).")
            ) -> None:
    """Approve a pending promotion to a protected alias: the alias moves now (needs the maintainer role)."""
    session = _remote()
    if session is not None:
        req = session.json("POST", f"/api/v1/promotion-requests/{request_id}/approve")["promotion_request"]
    else:
        from dataclasses import asdict

        from keel.config import current_user
        from keel.governance.approvals import approve_request

        req = asdict(approve_request(metadata_db(), request_id, current_user()))
    typer.echo(f"approved: {req['model']} v{req['version']} is now {req['alias']!r}")


def requests(project: str | None = _PROJECT) -> None:
    """List pending promotion requests."""
    from keel.governance.approvals import list_requests

    table = Table(title="pending promotion requests")
    for column in ("id", "model", "version", "alias", "requested by", "at"):
        table.add_column(column)
    for r in list_requests(metadata_db(), _project(project)):
        table.add_row(r.id, r.model, str(r.version), r.alias, r.requested_by, format_ms(r.requested_at))
    console.print(table)
