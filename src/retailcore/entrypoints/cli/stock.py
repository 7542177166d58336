"""Placeholder until this module is written; main.py registers its Typer app."""

import typer

app = typer.Typer(
    help="Stock: levels, valuation and the agreement check with the ledger.", no_args_is_help=True
)
