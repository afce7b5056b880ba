"""Projects (workspaces) and their members: each member has one role per project.

Every experiment, dataset, feature view, model and deployment carries a ``project``; the server answers a request
in the project named by its ``X-Keel-Project`` header (default: the server's project) with the caller's role there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update

from keel.errors import AlreadyExists, NotFound
from keel.governance.roles import Role, check_role
from keel.governance.tables import project_members
from keel.governance.users import check_name, get_user
from keel.store import Database
from keel.store.tables import projects

__all__ = ["Member", "Project", "add_member", "create_project", "list_members", "list_projects", "member_role",
           "remove_member", "require_project"]

_P = projects.c
_M = project_members.c


@dataclass(frozen=True)
class Project:
    """One project (workspace)."""

    name: str
    description: str | None
    created_at: int


@dataclass(frozen=True)
class Member:
    """A user's role in a project."""

    project: str
    user: str
    role: Role
    added_at: int


def _now() -> int:
    return int(time.time() * 1000)


def create_project(db: Database, name: str, description: str | None = None) -> Project:
    """Create project ``name``."""
    check_name(name, "project")
    with db.write() as conn:
        if conn.execute(select(_P.name).where(_P.name == name)).first() is not None:
            raise AlreadyExists(f"project {name!r} exists already; see `keel projects list`", field="project")
        project = Project(name, description, _now())
        conn.execute(insert(projects).values(name=name, description=description, created_at=project.created_at))
    return project


def list_projects(db: Database) -> list[Project]:
    """Every project, by name."""
    with db.read() as conn:
        rows = conn.execute(select(_P.name, _P.description, _P.created_at).order_by(_P.name)).all()
    return [Project(*row) for row in rows]


def require_project(db: Database, name: str) -> None:
    """:class:`NotFound` unless project ``name`` exists."""
    with db.read() as conn:
        if conn.execute(select(_P.name).where(_P.name == name)).first() is None:
            raise NotFound(f"project {name!r} not found; create it with `keel projects create {name}`",
                           field="project")


def add_member(db: Database, project: str, user: str, role: str) -> Member:
    """Give ``user`` the role ``role`` in ``project`` (replacing the role they had there)."""
    member = Member(project, user, check_role(role), _now())
    require_project(db, project)
    get_user(db, user)
    with db.write() as conn:
        changed = conn.execute(update(project_members).where(_M.project == project, _M.user == user)
                               .values(role=member.role)).rowcount
        if not changed:
            conn.execute(insert(project_members).values(project=project, user=user, role=member.role,
                                                        added_at=member.added_at))
    return member


def remove_member(db: Database, project: str, user: str) -> None:
    """Take ``user``'s role in ``project`` away."""
    with db.write() as conn:
        if conn.execute(delete(project_members).where(_M.project == project, _M.user == user)).rowcount == 0:
            raise NotFound(f"user {user!r} is not a member of project {project!r}; see `keel members list`",
                           field="user")


def list_members(db: Database, project: str) -> list[Member]:
    """The members of ``project``, by user."""
    with db.read() as conn:
        rows = conn.execute(select(_M.project, _M.user, _M.role, _M.added_at).where(_M.project == project)
                            .order_by(_M.user)).all()
    return [Member(*row) for row in rows]


def member_role(db: Database, user: str, project: str) -> Role | None:
    """``user``'s role in ``project`` (None when not a member)."""
    with db.read() as conn:
        role = conn.execute(select(_M.role).where(_M.project == project, _M.user == user)).scalar()
    return check_role(role) if role is not None else None
