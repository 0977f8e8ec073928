"""Opening the database for commands that only read it (status, list, history).

These never import the engine, the ORM mapping, gguf, huggingface_hub, nvidia-ml-py or the planner,
and never take a lease. A repository without a database simply has no candidates yet.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy import Connection

from onboard.store import queries
from onboard.workflow.commands._common import repo_paths
from onboard.workflow.errors import WorkflowError
from onboard.workflow.exit_codes import Exit


@contextmanager
def read_connection(ctx: click.Context) -> Iterator[Connection | None]:
    _root, db = repo_paths(ctx)
    from onboard.store.db import open_for_reading

    engine = open_for_reading(db)  # checked; brought up to date where it may be written
    if engine is None:
        yield None
        return
    from sqlalchemy.exc import DatabaseError

    from onboard.store.db import DatabaseProblem

    try:
        with engine.connect() as conn:
            yield conn
    except DatabaseError as err:  # a page damaged beyond the header: named, never a traceback
        raise DatabaseProblem(db, f"cannot be read ({str(err.orig).splitlines()[0]})",
                              "run `onboard doctor` to see what can be recovered") from None


def find_candidate(conn: Connection | None, name: str) -> queries.CandidateRow:
    cand = queries.candidate(conn, name) if conn is not None else None
    if cand is None:
        close = queries.close_names(conn, name) if conn is not None else []
        raise WorkflowError(Exit.UNKNOWN, f"unknown candidate {name!r}"
                            + (f"; did you mean {', '.join(close)}?" if close else ""),
                            fix="onboard list --all" if close == [] else None)
    return cand


def complete_candidates(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[str]:
    """Shell completion of a candidate NAME: the candidates of this repository's database (never an
    error while the person types: no repository or no database completes nothing)."""
    try:
        with read_connection(ctx) as conn:
            if conn is None:
                return []
            names = [c.name for c in queries.candidates(conn, include_final=True, final_states=())]
    except Exception:  # noqa: BLE001 - completion must never print a traceback into the shell
        return []
    return sorted(n for n in names if n.startswith(incomplete))


def complete_cards(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[str]:
    """Shell completion of `start NAME`: the candidate cards (README_<NAME>.md) of this repository."""
    try:
        root, _db = repo_paths(ctx)
    except Exception:  # noqa: BLE001
        return []
    from onboard.phases.repo_layout import card_files

    names = [name for name, _path in card_files(root)]
    return sorted(n for n in names if n.startswith(incomplete))
