"""The journal: every file change a step makes is recorded before it is written, and undone by meaning.

A change is one *place* in one file: a section of models.conf (``conf_section``), a marked block of
a shared Markdown file (``block``: ``<!-- BEGIN onboard: id -->`` ... ``<!-- END onboard: id -->``,
e.g. one model's section of docs/client-settings.md), a whole file the candidate owns (``file``), or
a run of lines added or changed in a person's own file (``hunk``: a row of their table, an entry of
their listing, a section of their doc, an entry of their script's dict), found again by its text and
the unchanged lines around it. The record holds the place's text before and after. Undoing checks that
the place still holds exactly what we wrote; if a person or another candidate changed it since,
that is a conflict: reported, never overwritten. Every other byte of the file is left alone.

Write protocol per change (the crash-safety tests kill the process at each named point):
``before_undo_record`` -> record committed -> ``after_undo_record`` -> atomic write
(``before_rename`` inside) -> ``after_file_write``.
"""
from __future__ import annotations

import difflib
import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from onboard.llamacpp.errors import Exit, OnboardError
from onboard.store import crashpoints, repo_lock
from onboard.store.atomic import inside_root, read_text, remove_file, write_atomic
from onboard.store.db import utcnow
from onboard.store.marker_blocks import find_block, render_block, replace_block
from onboard.store.models_conf import ModelsConf
from onboard.store.schema import Step, UndoRecord

MODELS_CONF = "models.conf"


class SectionNotOurs(OnboardError, ValueError):
    """A models.conf section onboard would write exists and was not created by this candidate: a
    person's hand-written profile (or another candidate's) is never changed (exit 6)."""

    code = Exit.BAD_INPUT

    def __init__(self, path: Path, line: int, section_id: str) -> None:
        super().__init__(
            f"{path}:{line}: section [{section_id}] exists and was not written by onboard for this candidate; "
            "onboard never changes a section it did not create",
            fix=f"give the candidate another profile id (onboard abandon NAME --undo, then onboard start NAME "
                f"--profile-id ID), or rename or remove [{section_id}] yourself",
            path=path, line=line, field=f"[{section_id}]")
        self.section_id = section_id


@dataclass(frozen=True)
class Conflict:
    """A place that changed since onboard wrote it; undoing would overwrite someone's edit."""

    file: str
    place: str
    detail: str

    def __str__(self) -> str:
        return f"{self.file}: {self.place}: {self.detail}"


def _locked(method):  # noqa: ANN001, ANN202
    """Run a journal write under the repository's write lock: another candidate's command writing the
    same file (models.conf, a doc) waits, so neither change is lost (store/repo_lock.py)."""
    @functools.wraps(method)
    def under_lock(self: "Journal", *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        with repo_lock.writing(self.root):
            return method(self, *args, **kwargs)
    return under_lock


class Journal:
    """Journalled, atomic file changes for one candidate, inside the repository ``root``."""

    def __init__(self, sessions: sessionmaker[Session], root: Path, candidate_id: int) -> None:
        self.sessions = sessions
        self.root = Path(root)
        self.candidate_id = candidate_id

    # -- steps -------------------------------------------------------------------------------
    def open_step(self, kind: str, from_state: str, to_state: str, argv: list[str]) -> Step:
        with self.sessions() as session:
            step = Step(candidate_id=self.candidate_id, kind=kind, from_state=from_state, to_state=to_state,
                        status="open", argv=json.dumps(argv), started_at=utcnow())
            session.add(step)
            session.commit()
        crashpoints.reach("step_opened")
        return step

    def open_steps(self) -> list[Step]:
        with self.sessions() as session:
            return list(session.scalars(select(Step).where(
                Step.candidate_id == self.candidate_id, Step.status == "open").order_by(Step.id)))

    def records(self, step_ids: list[int], *, state: str | None = "pending") -> list[UndoRecord]:
        with self.sessions() as session:
            query = select(UndoRecord).where(UndoRecord.step_id.in_(step_ids))
            if state is not None:
                query = query.where(UndoRecord.state == state)
            return list(session.scalars(query.order_by(UndoRecord.id)))

    # -- forward changes -----------------------------------------------------------------------
    @_locked
    def set_conf_section(self, step: Step, section_id: str, values: dict[str, str],
                         comments: list[str] | tuple[str, ...] = ()) -> bool:
        """Write profile ``section_id`` into models.conf (replacing one this candidate wrote). False if
        no change; :class:`SectionNotOurs` when the section exists and this candidate did not create it."""
        conf = self._conf()
        existing = conf.section(section_id)
        if existing is not None and not self.created_section(section_id):
            raise SectionNotOurs(self._path(MODELS_CONF), existing.line, section_id)
        new = conf.with_section(section_id, values, list(comments))
        return self._change_conf(step, conf, new, section_id)

    def created_section(self, section_id: str) -> bool:
        """Whether this candidate created models.conf section ``section_id`` (a live record of it
        writing the section where there was none): onboard changes only the sections it created."""
        with self.sessions() as session:
            return session.scalar(select(UndoRecord.id).where(
                UndoRecord.candidate_id == self.candidate_id, UndoRecord.kind == "conf_section",
                UndoRecord.key == section_id, UndoRecord.before.is_(None), UndoRecord.state == "pending").limit(1)) \
                is not None

    @_locked
    def remove_conf_section(self, step: Step, section_id: str) -> bool:
        conf = self._conf()
        if conf.section(section_id) is None:
            return False
        if not self.created_section(section_id):
            raise SectionNotOurs(self._path(MODELS_CONF), conf.section(section_id).line, section_id)
        return self._change_conf(step, conf, conf.without_section(section_id), section_id)

    @_locked
    def set_block(self, step: Step, relpath: str, block_id: str, body: str | None,
                  new_file_header: str = "") -> bool:
        """Put ``body`` between the block's markers in ``relpath`` (appended if absent; None removes it).

        ``new_file_header`` starts the file when it does not exist yet.
        """
        path = self._path(relpath)
        text = read_text(path)
        before = find_block(text or "", block_id)
        after = None if body is None else render_block(block_id, body)
        if before == after:
            return False
        self._record(step, relpath, "block", block_id, before, after)
        write_atomic(path, replace_block(text if text is not None else new_file_header, before, after))
        crashpoints.reach("after_file_write")
        return True

    @_locked
    def write_file(self, step: Step, relpath: str, text: str | None) -> bool:
        """Create, replace (or with None delete) a whole file the candidate owns."""
        path = self._path(relpath)
        before = read_text(path)
        if before == text:
            return False
        self._record(step, relpath, "file", None, before, text)
        self._apply_file(path, text)
        crashpoints.reach("after_file_write")
        return True

    @_locked
    def edit_text(self, step: Step, relpath: str, new_text: str, label: str) -> bool:
        """Change a person's own file into ``new_text``, journalled hunk by hunk (False if no change).

        ``new_text`` is the file's current text with edits made by meaning (a row added to a table,
        an entry to a dict); every run of changed lines becomes one ``hunk`` record labelled ``label``
        with the unchanged lines around it, so that a rollback removes exactly those lines wherever
        they are by then, and reports a conflict when a person changed them since. Callers compute
        ``new_text`` from the current text under the repository's write lock (``PhaseContext.writing``).
        """
        path = self._path(relpath)
        old_text = read_text(path)
        if old_text == new_text:
            return False
        hunks = text_hunks(old_text or "", new_text)
        for before, after, context in hunks:
            self._record(step, relpath, "hunk", json.dumps({"label": label, **context}), before, after)
        write_atomic(path, new_text)
        crashpoints.reach("after_file_write")
        return True

    # -- undo -------------------------------------------------------------------------------------
    def conflicts(self, records: list[UndoRecord]) -> list[Conflict]:
        """Places among ``records`` that hold neither our last text there nor the text before it.

        A place written several times (a profile the profile, samplers and test phases each changed)
        is judged by its NEWEST record: undoing newest first walks back through the older ones.
        """
        newest: dict[tuple[str, str, str | None], UndoRecord] = {}
        found = []
        for rec in records:  # records come oldest first
            place = (rec.file, rec.kind, rec.key)
            older = newest.get(place)
            if older is not None and rec.before != older.after and not any(c.file == rec.file and c.place == self._place(rec)
                                                                           for c in found):
                # someone changed the place between two of onboard's writes, and the newer write kept
                # it: walking back past the newer write would put the older text over that edit
                found.append(Conflict(rec.file, self._place(rec),
                                      "edited between two of onboard's writes; undo it by hand or keep it "
                                      "and use `onboard abandon` without --undo"))
            newest[place] = rec
        for rec in newest.values():
            current = self._current(rec)
            if current not in (rec.after, rec.before):
                found.append(Conflict(rec.file, self._place(rec),
                                      "changed since onboard wrote it; undo it by hand or keep it "
                                      "and use `onboard abandon` without --undo"))
        return found

    @_locked
    def undo(self, step: Step | None, records: list[UndoRecord]) -> list[Conflict]:
        """Restore each place of ``records`` (newest first) to its text before, journalled under ``step``.

        Checks every place first: with any conflict nothing is written and the conflicts are returned.
        ``step`` None is the recovery of an interrupted step: its records are redone idempotently
        (a place already holding its text before is skipped), so no new records are needed.
        """
        conflicts = self.conflicts(records)
        if conflicts:
            return conflicts
        for rec in reversed(records):
            current = self._current(rec)
            if current == rec.before:
                continue  # the write never happened (crash before it) or was already undone
            if step is not None:
                self._record(step, rec.file, rec.kind, rec.key, rec.after, rec.before)
            self._restore(rec, rec.before)
            crashpoints.reach("after_file_write")
        return []

    def mark(self, session: Session, records: list[UndoRecord], state: str) -> None:
        """Mark ``records`` (e.g. ``undone``) inside the caller's commit."""
        for rec in records:
            session.get(UndoRecord, rec.id).state = state

    # -- internals --------------------------------------------------------------------------------
    def _path(self, relpath: str) -> Path:
        """The real path of ``relpath``; :class:`store.atomic.OutsideRepository` (a ValueError) when
        ``..``, an absolute path or a symlink on the way would lead out of the repository."""
        return inside_root(self.root, relpath)

    def _conf(self) -> ModelsConf:
        return ModelsConf.load(self._path(MODELS_CONF))

    def _change_conf(self, step: Step, conf: ModelsConf, new: ModelsConf, section_id: str) -> bool:
        if new.text == conf.text:
            return False
        self._record(step, MODELS_CONF, "conf_section", section_id,
                     conf.section_text(section_id), new.section_text(section_id))
        write_atomic(self._path(MODELS_CONF), new.text)
        crashpoints.reach("after_file_write")
        return True

    def _record(self, step: Step, relpath: str, kind: str, key: str | None,
                before: str | None, after: str | None) -> None:
        crashpoints.reach("before_undo_record")
        with self.sessions() as session:
            session.add(UndoRecord(step_id=step.id, candidate_id=self.candidate_id, file=relpath, kind=kind,
                                   key=key, before=before, after=after, state="pending", created_at=utcnow()))
            session.commit()
        crashpoints.reach("after_undo_record")

    def _current(self, rec: UndoRecord) -> str | None:
        if rec.kind == "conf_section":
            return self._conf().section_text(rec.key)
        if rec.kind == "block":
            return find_block(read_text(self._path(rec.file)) or "", rec.key)
        if rec.kind == "hunk":
            lines = _lines(read_text(self._path(rec.file)) or "")
            context = json.loads(rec.key)
            for text in (rec.after, rec.before):
                if _locate(lines, _lines(text or ""), context) is not None:
                    return text
            return _CHANGED
        return read_text(self._path(rec.file))

    def _place(self, rec: UndoRecord) -> str:
        if rec.kind == "hunk":
            return json.loads(rec.key).get("label") or "lines"
        return {"conf_section": f"section [{rec.key}]", "block": f"block '{rec.key}'"}.get(rec.kind, "whole file")

    def _restore(self, rec: UndoRecord, text: str | None) -> None:
        if rec.kind == "hunk":
            path = self._path(rec.file)
            lines = _lines(read_text(path) or "")
            context = json.loads(rec.key)
            current = _lines(rec.after if text == rec.before else rec.before or "")
            at = _locate(lines, current, context)
            if at is None:  # conflicts() ran first; the place moved meanwhile: never guess
                raise RuntimeError(f"{rec.file}: {self._place(rec)} not found")
            lines[at:at + len(current)] = _lines(text or "")
            write_atomic(path, "".join(lines))
            return
        if rec.kind == "file":
            self._apply_file(self._path(rec.file), text)
            return
        if rec.kind == "block":
            path = self._path(rec.file)
            current_text = read_text(path) or ""
            write_atomic(path, replace_block(current_text, find_block(current_text, rec.key), text))
            return
        conf = self._conf()
        current = conf.section_text(rec.key)
        if text is None:
            new_text = conf.without_section(rec.key).text
        elif current is None:
            new_text = _append_section_text(conf.text, text)
        else:
            new_text = conf.text.replace(current, text, 1)
        write_atomic(self._path(MODELS_CONF), new_text)

    def _apply_file(self, path: Path, text: str | None) -> None:
        if text is None:
            remove_file(path)
        else:
            write_atomic(path, text)


_CHANGED = "\0changed since onboard wrote it\0"  # a hunk's place holding neither its text before nor after
_CONTEXT_LINES = 3


def _lines(text: str) -> list[str]:
    """Lines with their own endings (``\n`` or ``\r\n`` kept), so a CRLF file stays CRLF."""
    return [line for line in re.split(r"(?<=\n)", text) if line]


_BOF, _EOF = "\0start of file\0", "\0end of file\0"  # context that pins a run to a file's first or last line


def text_hunks(old: str, new: str) -> list[tuple[str, str, dict[str, list[str]]]]:
    """The runs of lines that differ between ``old`` and ``new``: ``(before, after, context)`` each,
    context = up to three lines of ``old`` above (``above``) and below (``below``) the run, the start
    and the end of the file counting as lines (a run added at the end is found at the end, never after
    whatever follows it later).

    Each run is its own record, so a person's edit of one added row conflicts with that row only; a
    context line that another run changed is tolerated by ``_locate``, which falls back to less context.
    """
    a, b = [_BOF, *_lines(old), _EOF], [_BOF, *_lines(new), _EOF]
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    return [("".join(a[i1:i2]), "".join(b[j1:j2]),
             {"above": a[max(0, i1 - _CONTEXT_LINES):i1], "below": a[i2:i2 + _CONTEXT_LINES]})
            for op, i1, i2, j1, j2 in matcher.get_opcodes() if op != "equal"]


def _locate(lines: list[str], block: list[str], context: dict[str, list[str]]) -> int | None:
    """Where ``block`` stands in ``lines`` between its context, or None.

    With as much of the context as still matches (a person may have edited a neighbouring line or
    added a row after ours), and only where exactly one place fits: never a guess. An empty block
    (inserted lines, looked for before the insertion) needs at least one line of context.
    """
    above, below = context.get("above", []), context.get("below", [])
    framed = [_BOF, *lines, _EOF]
    for keep in range(max(len(above), len(below)), -1 if block else 0, -1) if (above or below) else [0]:
        want_above = above[len(above) - min(keep, len(above)):]
        want_below = below[:min(keep, len(below))]
        found = [at for at in range(len(want_above), len(framed) - len(block) - len(want_below) + 1)
                 if framed[at:at + len(block)] == block and framed[at - len(want_above):at] == want_above
                 and framed[at + len(block):at + len(block) + len(want_below)] == want_below]
        if len(found) == 1:
            return found[0] - 1  # the index in ``lines`` (without the start-of-file line)
        if len(found) > 1:
            return None  # less context would only be more ambiguous
    return None


def _append_section_text(conf_text: str, section_text: str) -> str:
    """Put a section's exact text back at the end of the file, one blank line after the last one."""
    if not conf_text:
        return section_text
    sep = "" if conf_text.endswith("\n\n") else ("\n" if conf_text.endswith("\n") else "\n\n")
    return conf_text + sep + section_text
