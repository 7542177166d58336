"""``retailcore connectors ...``: the connectors' commands (minimal on the odoo branch: the ``sync``
group, into which :mod:`.connectors_odoo` adds ``odoo``)."""

from __future__ import annotations

import typer

from retailcore.entrypoints.cli import connectors_odoo

app = typer.Typer(help="Connectors to other systems (Shopify, Odoo).", no_args_is_help=True)
sync_app = typer.Typer(help="Synchronise a connector now.", no_args_is_help=True)
app.add_typer(sync_app, name="sync")
connectors_odoo.register(sync_app)
