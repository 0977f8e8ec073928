"""What every workflow command shares: finding the repository and database, building the engine,
and turning errors into a message on stderr and the documented exit code."""
from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from workflow.errors import WorkflowError
from workflow.exit_codes import Exit
from workflow.repo import resolve_db, resolve_root


def repo_paths(ctx: click.Context) -> tuple[Path, Path]:
    obj = ctx.find_root().obj or {}
    root = resolve_root(obj.get("root"))
    return root, resolve_db(root, obj.get("db"))


def make_engine(ctx: click.Context):  # -> workflow.engine.Engine (imported lazily: read-only commands skip it)
    from workflow.engine import Engine

    root, db = repo_paths(ctx)
    return Engine(root, db, sys.argv[1:])


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Map every error a person can act on to a message and its exit code; never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            code = func(*args, **kwargs)
        except WorkflowError as err:
            click.echo(f"error: {err}", err=True)
            sys.exit(int(err.code))
        except Exception as err:  # domain errors carry their own class; imported lazily
            code = _domain_exit(err)
            if code is None:
                raise
            click.echo(f"error: {err}", err=True)
            sys.exit(code)
        if code:
            sys.exit(int(code))

    return wrapper


def _domain_exit(err: Exception) -> int | None:
    contract = sys.modules.get("phases.contract")
    if contract is not None and isinstance(err, contract.NotBuilt):
        return Exit.NOT_BUILT
    errors = sys.modules.get("llamacpp.errors")
    if errors is not None:
        if isinstance(err, errors.BadInput):
            return Exit.BAD_INPUT
        if isinstance(err, errors.ExternalFailure):
            return Exit.EXTERNAL
        if isinstance(err, errors.DomainError):
            return Exit.BAD_INPUT
    return None


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))
