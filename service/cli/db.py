"""`ticketsmith db upgrade`: database migrations."""

from __future__ import annotations

from service.cli._common import (
    JsonOption,
    db_app,
    fail,
    load_settings,
    out,
)
from service.container import migrate_database, redacted_database_url
from service.errors import TicketsmithError


@db_app.command("upgrade")
def db_upgrade(as_json: JsonOption = False) -> None:
    """Apply pending database migrations (the service does this at start unless auto_migrate is off)."""
    settings = load_settings(as_json)
    try:
        revision = migrate_database(settings)
    except TicketsmithError as exc:
        fail(exc, as_json=as_json)
    if as_json:
        out.print_json(data={"revision": revision, "database": redacted_database_url(settings)})
    else:
        out.print(f"database at revision {revision}")
