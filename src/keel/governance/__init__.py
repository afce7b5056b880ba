"""Governance: who may do what (users, tokens, roles, audit log) and the lineage graph over every object.

Names load on first use, so importing :mod:`keel.governance` stays cheap.
"""

from __future__ import annotations

from keel.lazy import lazy_names

# One entry per line: "public name": "module under keel.governance".
_LAZY: dict[str, str] = {
    "AuditEntry": "audit",
    "AuditQuery": "audit",
    "audit_entries": "audit",
    "export_audit": "audit",
    "Graph": "lineage",
    "Link": "lineage",
    "Node": "lineage",
    "find_nodes": "lineage_store",
    "lineage": "lineage_store",
    "AccessControl": "access",
    "Principal": "access",
    "PromotionRequest": "approvals",
    "approve_request": "approvals",
    "list_requests": "approvals",
    "reject_request": "approvals",
    "request_promotion": "approvals",
    "Member": "projects",
    "Project": "projects",
    "add_member": "projects",
    "create_project": "projects",
    "list_members": "projects",
    "list_projects": "projects",
    "remove_member": "projects",
    "IssuedToken": "tokens",
    "TokenInfo": "tokens",
    "create_token": "tokens",
    "list_tokens": "tokens",
    "revoke_token": "tokens",
    "verify_token": "tokens",
    "User": "users",
    "create_user": "users",
    "get_user": "users",
    "list_users": "users",
    "set_disabled": "users",
}


__getattr__ = lazy_names(__name__, _LAZY)


__all__ = sorted(_LAZY)
