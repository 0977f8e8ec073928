"""`onboard start NAME`: create a candidate in the first phase and prepare it."""
from __future__ import annotations

import click

from workflow.commands._common import handle_errors, make_engine


@click.command("start")
@click.argument("name")
@click.option("--repo", metavar="OWNER/REPO", help="GGUF repository on the hub (overrides the card).")
@click.pass_context
@handle_errors
def command(ctx: click.Context, name: str, repo: str | None) -> None:
    """Start onboarding candidate NAME (its card: models/documentation/CANDIDATES/README_<NAME>.md)."""
    make_engine(ctx).start(name, repo)
