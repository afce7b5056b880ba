"""``keel users create|list|disable|enable`` and ``keel tokens create|list|revoke``.

These act on the metadata database of this machine's Keel home (``KEEL_HOME`` / ``KEEL_DB_URL``), the one
``keel server --auth`` serves: run them where the server runs. A token is printed once and never stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from keel.cli.output import console, format_ms

if TYPE_CHECKING:
    from keel.store import Database

__all__ = ["tokens_app", "users_app"]

users_app = typer.Typer(help="Users of `keel server --auth` (the first one created is an admin).",
                        no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens: `Authorization: Bearer <token>`, KEEL_TOKEN, MLFLOW_TRACKING_TOKEN.",
                         no_args_is_help=True)


def metadata_db() -> Database:
    """The metadata database of the local Keel home."""
    from keel.config import get_settings
    from keel.store import open_database

    settings = get_settings()
    return open_database(settings.resolved_db_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)


@users_app.command("create")
def create_user(name: str, admin: bool = typer.Option(False, "--admin", help="A server-wide admin.")) -> None:
    """Create a user."""
    from keel.governance.users import create_user as create

    user = create(metadata_db(), name, admin=admin)
    typer.echo(f"created user {user.name}" + (" (admin)" if user.admin else ""))


@users_app.command("list")
def list_users() -> None:
    """List users."""
    from keel.governance.users import list_users as users

    table = Table(title="users")
    for column in ("name", "admin", "disabled", "created"):
        table.add_column(column)
    for user in users(metadata_db()):
        flags = ("yes" if user.admin else "", "yes" if user.disabled else "")
        table.add_row(user.name, *flags, format_ms(user.created_at))
    console.print(table)


@users_app.command("disable")
def disable_user(name: str) -> None:
    """Disable a user: their tokens stop working."""
    from keel.governance.users import set_disabled

    set_disabled(metadata_db(), name, True)
    typer.echo(f"disabled user {name}")


@users_app.command("enable")
def enable_user(name: str) -> None:
    """Enable a disabled user again."""
    from keel.governance.users import set_disabled

    set_disabled(metadata_db(), name, False)
    typer.echo(f"enabled user {name}")


@tokens_app.command("create")
def create_token(user: str = typer.Option(..., "--user", "-u", help="Whose token."),
                 name: str = typer.Option("default", help="A label, e.g. ci or laptop."),
                 scope: str = typer.Option("admin", help="The most the token may do: read, write, maintain, admin "
                                                         "(capped by the user's role)."),
                 expires: str | None = typer.Option("90d", help="Lifetime, e.g. 30d, 12h; 'never' for none.")) -> None:
    """Issue a token and print it (shown only this once)."""
    from keel.governance.tokens import create_token as create
    from keel.governance.tokens import parse_duration

    lifetime = None if expires in (None, "never") else parse_duration(expires)
    issued = create(metadata_db(), user, name, scope=scope, expires_in_s=lifetime)
    typer.echo(issued.token)
    until = format_ms(issued.info.expires_at) or "never"
    typer.echo(f"token {issued.info.id} for {user} (scope {issued.info.scope}, expires {until}); "
               "store it now, it is not shown again", err=True)


@tokens_app.command("list")
def list_tokens(user: str | None = typer.Option(None, "--user", "-u", help="Only this user's tokens.")) -> None:
    """List tokens (never their secrets)."""
    from keel.governance.tokens import list_tokens as tokens

    table = Table(title="tokens")
    for column in ("id", "user", "name", "scope", "created", "expires", "revoked"):
        table.add_column(column)
    for t in tokens(metadata_db(), user):
        table.add_row(t.id, t.user, t.name, t.scope, format_ms(t.created_at), format_ms(t.expires_at) or "never",
                      format_ms(t.revoked_at))
    console.print(table)


@tokens_app.command("revoke")
def revoke_token(token_id: str = typer.Argument(..., help="The token's id (see `keel tokens list`).")) -> None:
    """Revoke a token: it stops working at once (within the server's auth cache TTL)."""
    from keel.governance.tokens import revoke_token as revoke

    revoke(metadata_db(), token_id)
    typer.echo(f"revoked token {token_id.split('_')[1] if token_id.startswith('keel_') else token_id}")
