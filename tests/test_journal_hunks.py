"""Edits of a person's own files journalled as runs of changed lines (kind ``hunk``), on real files
and a real SQLite journal: undo removes exactly the lines onboard added, wherever they are by then;
a person's edit of those lines is a conflict; every other byte (CRLF included) is kept."""
from __future__ import annotations

import pytest

from onboard.store.db import open_db
from onboard.store.journal import Journal, text_hunks
from onboard.store.schema import Candidate

DOC = ("# My models\r\n\r\nSome prose.\r\n\r\n| Model | Speed |\r\n|---|---|\r\n| Qwen3 32B | 24.1 t/s |\r\n"
       "| GLM 4.5 Air | 18.0 t/s |\r\n\r\n## Notes\r\n\r\n- keep it short\r\n")
ROW = "| Gemma 3 270M | 95.2 t/s |\r\n"
NOTE = "- Gemma 3 270M: base model, completion only\r\n"


@pytest.fixture()
def repo(tmp_path):
    (tmp_path / "README.md").write_bytes(DOC.encode())
    sessions = open_db(tmp_path / ".onboard" / "onboard.db")
    with sessions() as s:
        cand = Candidate(name="gemma", state="docs", created_at="t", updated_at="t")
        s.add(cand)
        s.commit()
    return tmp_path, Journal(sessions, tmp_path, cand.id)


def _added(text: str) -> str:
    text = text.replace("| GLM 4.5 Air | 18.0 t/s |\r\n", "| GLM 4.5 Air | 18.0 t/s |\r\n" + ROW)
    return text.replace("- keep it short\r\n", "- keep it short\r\n" + NOTE)


def _edit(journal: Journal, root):
    step = journal.open_step("advance", "benchmark", "docs", [])
    assert journal.edit_text(step, "README.md", _added(DOC), "README.md: row and note for gemma")
    return step


def _undo(journal: Journal, step):
    return journal.undo(journal.open_step("rollback", "docs", "benchmark", []), journal.records([step.id]))


def test_two_separate_additions_are_two_hunks_with_unchanged_context():
    hunks = text_hunks(DOC, _added(DOC))
    assert [(before, after) for before, after, _ in hunks] == [("", ROW), ("", NOTE)]
    assert hunks[0][2]["above"][-1] == "| GLM 4.5 Air | 18.0 t/s |\r\n"


def test_undo_removes_exactly_the_added_lines_and_keeps_crlf(repo):
    root, journal = repo
    step = _edit(journal, root)
    assert (root / "README.md").read_bytes() == _added(DOC).encode()
    assert _undo(journal, step) == []
    assert (root / "README.md").read_bytes() == DOC.encode()


def test_undo_finds_the_lines_after_a_person_added_rows_and_prose_around_them(repo):
    root, journal = repo
    step = _edit(journal, root)
    theirs = _added(DOC).replace("Some prose.", "Some prose, edited.").replace(
        ROW, ROW + "| Their model | 5.0 t/s |\r\n")
    (root / "README.md").write_bytes(theirs.encode())
    assert _undo(journal, step) == []
    assert (root / "README.md").read_bytes() == DOC.replace("Some prose.", "Some prose, edited.").replace(
        "| GLM 4.5 Air | 18.0 t/s |\r\n", "| GLM 4.5 Air | 18.0 t/s |\r\n| Their model | 5.0 t/s |\r\n").encode()


def test_a_row_edited_by_a_person_is_a_conflict_and_nothing_is_written(repo):
    root, journal = repo
    step = _edit(journal, root)
    edited = _added(DOC).replace("95.2 t/s", "97.0 t/s")
    (root / "README.md").write_bytes(edited.encode())
    conflicts = _undo(journal, step)
    assert len(conflicts) == 1 and "row and note for gemma" in str(conflicts[0])
    assert (root / "README.md").read_bytes() == edited.encode()  # not even the untouched note was removed


def test_undo_of_an_interrupted_edit_that_never_reached_the_file_changes_nothing(repo):
    root, journal = repo
    step = journal.open_step("advance", "benchmark", "docs", [])
    for before, after, context in text_hunks(DOC, _added(DOC)):  # recorded, then the process died
        journal._record(step, "README.md", "hunk", __import__("json").dumps({"label": "x", **context}), before, after)
    assert journal.undo(None, journal.records([step.id])) == []
    assert (root / "README.md").read_bytes() == DOC.encode()


class _Killed(BaseException):
    """Stands for a SIGKILL at a named point (the process-level kills are in test_crash_safety.py)."""


@pytest.mark.parametrize("seed", range(60))
def test_an_undo_cut_at_any_write_is_recovered_then_completed_to_the_bytes_before(tmp_path, seed, monkeypatch):
    """Random runs of changed lines (some at the very start or end of the file, some next to each
    other); the undo is cut before each of its writes in turn; recovery and a second undo must give
    the original bytes every time (a run at the end of the file once matched after a later line)."""
    import random

    from onboard.store import crashpoints

    rnd = random.Random(seed)
    old_lines = [f"line {i}\n" for i in range(rnd.randint(0, 12))]
    new_lines = list(old_lines)
    for _ in range(rnd.randint(1, 4)):
        at = rnd.randint(0, len(new_lines))
        roll = rnd.random()
        if roll < 0.5 or not new_lines or at == len(new_lines):
            new_lines.insert(at, f"added {rnd.randint(0, 99)}\n")
        elif roll < 0.8:
            new_lines[at] = f"changed {rnd.randint(0, 99)}\n"
        else:
            del new_lines[at]
    old, new = "".join(old_lines), "".join(new_lines)
    if old == new:
        return
    (tmp_path / "doc.md").write_text(old)
    sessions = open_db(tmp_path / ".onboard" / "onboard.db")
    with sessions() as s:
        cand = Candidate(name="c", state="docs", created_at="t", updated_at="t")
        s.add(cand)
        s.commit()
    journal = Journal(sessions, tmp_path, cand.id)
    step = journal.open_step("advance", "benchmark", "docs", [])
    journal.edit_text(step, "doc.md", new, "doc.md: runs")
    records = journal.records([step.id])
    for cut in range(1, len(records) + 1):
        (tmp_path / "doc.md").write_text(new)
        reached = {"n": 0}

        def reach(point: str) -> None:
            if point == "before_rename":
                reached["n"] += 1
                if reached["n"] == cut:
                    raise _Killed

        monkeypatch.setattr(crashpoints, "reach", reach)
        cut_step = journal.open_step("rollback", "docs", "benchmark", [])
        with pytest.raises(_Killed):
            journal.undo(cut_step, records)
        monkeypatch.setattr(crashpoints, "reach", lambda point: None)
        assert journal.undo(None, journal.records([cut_step.id])) == []  # the recovery of the cut undo
        assert journal.undo(journal.open_step("rollback", "docs", "benchmark", []), records) == []
        assert (tmp_path / "doc.md").read_text() == old, (seed, cut)
