"""Opening the database for commands that only read it (status, list, history).

These never import the engine, gguf, huggingface_hub, nvidia-ml-py or the planner, and never take a
lease. A repository without a database simply has no candidates yet.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy.orm import Session

from workflow.commands._common import repo_paths


@contextmanager
def read_session(ctx: click.Context) -> Iterator[Session | None]:
    _root, db = repo_paths(ctx)
    if not db.exists():
        yield None
        return
    from store.db import open_db

    with open_db(db, create=False)() as session:
        yield session
