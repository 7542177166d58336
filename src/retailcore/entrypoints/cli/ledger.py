"""Placeholder until this module is written; main.py registers its Typer app."""

import typer

app = typer.Typer(help="Ledger: exchange rates, revaluation, reconciliation.", no_args_is_help=True)
