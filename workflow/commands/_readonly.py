"""Opening the database for commands that only read it (status, list, history).

These never import the engine, the ORM mapping, gguf, huggingface_hub, nvidia-ml-py or the planner,
and never take a lease. A repository without a database simply has no candidates yet.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy import Connection

from store import queries
from workflow.commands._common import repo_paths
from workflow.errors import WorkflowError
from workflow.exit_codes import Exit


@contextmanager
def read_connection(ctx: click.Context) -> Iterator[Connection | None]:
    _root, db = repo_paths(ctx)
    from store.db import open_for_reading

    engine = open_for_reading(db)  # checked; brought up to date where it may be written
    if engine is None:
        yield None
        return
    from sqlalchemy.exc import DatabaseError

    from store.db import DatabaseProblem

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
