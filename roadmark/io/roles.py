"""Roles of a team project and who may do what: one table, checked by the store.

A project without members (every project made by one person) lets everyone do everything.
Once a member is added, every write the store checks needs a role that grants it; a user
who is not a member may only read. The first member added must be a lead, so nobody locks
the project against themselves.

Names are the ones the store records in provenance (the settings' user name or
``--user``); the database's own logins and grants are what keep strangers out of it.
"""

from __future__ import annotations

import time
from enum import StrEnum

import sqlalchemy as sa

from roadmark.core.annotation import utc_now
from roadmark.io import team_tables as tt
from roadmark.io.errors import FrameLeasedError, PermissionDeniedError, ProjectError


class Role(StrEnum):
    """A member's role."""

    ANNOTATOR = "annotator"
    REVIEWER = "reviewer"
    LEAD = "lead"


class Permission(StrEnum):
    """An action the store checks."""

    EDIT_OBJECTS = "edit objects"
    CLAIM_FRAMES = "claim frames"
    WORK_FRAMES = "start and finish frames"
    REVIEW = "review frames"
    COMMENT = "write review comments"
    RESOLVE_COMMENTS = "resolve review comments"
    ASSIGN = "assign frames"
    MARK_GOLD = "mark gold frames"
    CHANGE_SCHEMA = "change the label schema"
    ADD_FRAMES = "add or import frames"
    PRELABEL = "store model predictions"
    BREAK_LEASES = "break another person's lease"
    MANAGE_MEMBERS = "add and remove members"


A, R, L = Role.ANNOTATOR, Role.REVIEWER, Role.LEAD

# Who may do what (the README's table is this one).
PERMISSIONS: dict[Permission, frozenset[Role]] = {
    Permission.EDIT_OBJECTS: frozenset({A, R, L}),
    Permission.CLAIM_FRAMES: frozenset({A, L}),
    Permission.WORK_FRAMES: frozenset({A, L}),
    Permission.REVIEW: frozenset({R, L}),
    Permission.COMMENT: frozenset({R, L}),
    Permission.RESOLVE_COMMENTS: frozenset({A, R, L}),
    Permission.ASSIGN: frozenset({L}),
    Permission.MARK_GOLD: frozenset({L}),
    Permission.CHANGE_SCHEMA: frozenset({L}),
    Permission.ADD_FRAMES: frozenset({L}),
    Permission.PRELABEL: frozenset({L}),
    Permission.BREAK_LEASES: frozenset({L}),
    Permission.MANAGE_MEMBERS: frozenset({L}),
}


def parse_role(text: str) -> Role:
    """A role from its name.

    Raises:
        ProjectError: Not a role.
    """
    try:
        return Role(text.strip().lower())
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise ProjectError(f"'{text}' is not a role ({names})", field="--role") from None


def members(conn: sa.Connection) -> dict[str, Role]:
    """Every member and their role (empty for a one-person project)."""
    m = tt.members.c
    return {name: Role(role) for name, role in conn.execute(sa.select(m.user_name, m.role))}


def role_of(conn: sa.Connection, user: str) -> Role | None:
    """The user's role; ``None`` for a non-member (or when the project has no members)."""
    value = conn.execute(
        sa.select(tt.members.c.role).where(tt.members.c.user_name == user)
    ).scalar()
    return None if value is None else Role(value)


def allowed(conn: sa.Connection, user: str, permission: Permission) -> bool:
    """Whether ``user`` may do ``permission`` (always, on a project without members)."""
    role = role_of(conn, user)
    if role is not None:
        return role in PERMISSIONS[permission]
    has_members = conn.execute(sa.select(tt.members.c.user_name).limit(1)).first() is not None
    return not has_members


def require(conn: sa.Connection, user: str, permission: Permission, location: str) -> None:
    """Refuse the action unless ``user`` may do it.

    Raises:
        PermissionDeniedError: The user's role (or not being a member) does not allow it.
    """
    if allowed(conn, user, permission):
        return
    role = role_of(conn, user)
    who = f"{user} ({role.value})" if role else f"{user} (not a member)"
    needed = " or ".join(sorted(r.value for r in PERMISSIONS[permission]))
    raise PermissionDeniedError(
        f"{who} may not {permission.value}; that needs the role {needed}", path=location
    )


def set_member(conn: sa.Connection, by: str, user: str, role: Role | None, location: str) -> None:
    """Add ``user`` with ``role``, change their role, or remove them (``role=None``).

    Raises:
        PermissionDeniedError: ``by`` is not a lead (once the project has members), or the
            change would leave the project without a lead.
    """
    current = members(conn)
    if current:
        require(conn, by, Permission.MANAGE_MEMBERS, location)
    after = dict(current)
    if role is None:
        if user not in after:
            raise ProjectError(f"{user} is not a member", path=location, field="--remove")
        del after[user]
    else:
        after[user] = role
    if after and Role.LEAD not in after.values():
        raise PermissionDeniedError(
            "a team project needs at least one lead (add a lead first)", path=location
        )
    m = tt.members
    if role is None:
        conn.execute(m.delete().where(m.c.user_name == user))
    elif user in current:
        conn.execute(m.update().where(m.c.user_name == user).values(role=role.value))
    else:
        conn.execute(
            m.insert().values(
                user_name=user, role=role.value, added_by=by, added_at=utc_now().isoformat()
            )
        )


def refuse_leased(conn: sa.Connection, user: str, location: str, *frame_ids: int) -> None:
    """Refuse an edit of frames that someone else holds an unexpired edit lease on.

    Raises:
        FrameLeasedError: Another person is editing one of the frames.
    """
    if not frame_ids:
        return
    lease = tt.frame_leases.c
    row = conn.execute(
        sa.select(lease.frame_id, lease.user_name, lease.since).where(
            lease.frame_id.in_(frame_ids),
            lease.user_name != user,
            lease.expires > time.time(),
        )
    ).first()
    if row is not None:
        raise FrameLeasedError(
            f"is being edited by {row.user_name} since {row.since[:19].replace('T', ' ')} "
            "UTC; it is read-only for you until they leave it",
            path=location,
            field=f"frame {row.frame_id}",
        )
