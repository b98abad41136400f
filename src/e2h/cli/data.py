"""`e2h data …` (placeholder until the data commands land)."""

import typer

app = typer.Typer(no_args_is_help=True)
