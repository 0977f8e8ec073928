"""Journalled writes and undo by meaning, on a real models.conf and a real SQLite journal."""
from __future__ import annotations

import pytest

from onboard.store.db import open_db
from onboard.store.journal import Journal
from onboard.store.schema import Candidate

PERSON = r"""# my hand-written profiles
[qwen-7b]
NAME=Qwen 7B
MODEL=models/Qwen-7B/Q4_K_M/qwen.gguf
EXTRA_ARGS=-fa on -ot 'blk\.(1[0-9]|2[0-3])\.ffn_.*=CPU'
"""


@pytest.fixture()
def repo(tmp_path):
    (tmp_path / "models.conf").write_text(PERSON)
    sessions = open_db(tmp_path / ".onboard" / "onboard.db")
    with sessions() as s:
        cand = Candidate(name="tiny", state="profile", created_at="t", updated_at="t")
        s.add(cand)
        s.commit()
    return tmp_path, Journal(sessions, tmp_path, cand.id)


def _write_profile(journal: Journal, **values):
    step = journal.open_step("advance", "download", "profile", ["advance", "tiny"])
    journal.set_conf_section(step, "tiny", {"NAME": "Tiny", "MODEL": "models/Tiny/Q8_0/t.gguf", **values},
                             ["NOT YET TESTED"])
    return step


def test_undo_removes_only_the_added_section(repo):
    root, journal = repo
    step = _write_profile(journal)
    text = (root / "models.conf").read_text()
    assert "[tiny]" in text and text.startswith(PERSON)
    undo_step = journal.open_step("rollback", "profile", "download", [])
    assert journal.undo(undo_step, journal.records([step.id])) == []
    assert (root / "models.conf").read_text() == PERSON


def test_a_section_this_candidate_did_not_create_is_never_written(repo):
    from onboard.store.journal import SectionNotOurs

    root, journal = repo
    step = journal.open_step("advance", "download", "profile", [])
    with pytest.raises(SectionNotOurs, match=r"models.conf:2: section \[qwen-7b\] exists"):
        journal.set_conf_section(step, "qwen-7b", {"NAME": "Qwen 7B", "MODEL": "other.gguf"}, [])
    with pytest.raises(SectionNotOurs):
        journal.remove_conf_section(step, "qwen-7b")
    assert (root / "models.conf").read_text() == PERSON and journal.records([step.id]) == []


def test_a_section_this_candidate_created_may_be_rewritten_and_is_undone_in_order(repo):
    root, journal = repo
    step = _write_profile(journal)
    journal.set_conf_section(step, "tiny", {"NAME": "Tiny", "MODEL": "models/Tiny/Q8_0/t.gguf", "SPEED": "9 t/s"}, [])
    assert "SPEED=9 t/s" in (root / "models.conf").read_text()
    journal.undo(journal.open_step("rollback", "profile", "download", []), journal.records([step.id]))
    assert (root / "models.conf").read_text() == PERSON


def test_a_hand_edit_since_the_write_is_a_conflict_and_nothing_is_written(repo):
    root, journal = repo
    step = _write_profile(journal)
    edited = (root / "models.conf").read_text().replace("NAME=Tiny", "NAME=Tiny (my edit)")
    (root / "models.conf").write_text(edited)
    conflicts = journal.undo(journal.open_step("rollback", "profile", "download", []), journal.records([step.id]))
    assert len(conflicts) == 1 and "[tiny]" in str(conflicts[0]) and "changed since" in str(conflicts[0])
    assert (root / "models.conf").read_text() == edited


def test_edits_elsewhere_in_the_file_do_not_block_undo_and_are_kept(repo):
    root, journal = repo
    step = _write_profile(journal)
    text = (root / "models.conf").read_text().replace("EXTRA_ARGS=-fa on", "EXTRA_ARGS=-fa off")
    (root / "models.conf").write_text(text)
    assert journal.undo(journal.open_step("rollback", "profile", "download", []), journal.records([step.id])) == []
    assert (root / "models.conf").read_text() == PERSON.replace("-fa on", "-fa off")


def test_whole_file_write_is_undone_and_a_no_op_write_records_nothing(repo):
    root, journal = repo
    step = journal.open_step("advance", "samplers", "test", [])
    assert journal.write_file(step, "docs/new.md", "hello\n")
    assert not journal.write_file(step, "docs/new.md", "hello\n")
    assert len(journal.records([step.id])) == 1
    journal.undo(journal.open_step("rollback", "test", "samplers", []), journal.records([step.id]))
    assert not (root / "docs" / "new.md").exists()


def test_writes_outside_the_repository_are_refused(repo):
    _root, journal = repo
    step = journal.open_step("advance", "samplers", "test", [])
    with pytest.raises(ValueError, match="outside the repository"):
        journal.write_file(step, "../escape.md", "x")


def test_markdown_block_of_one_model_is_added_and_undone_without_touching_the_prose(repo):
    root, journal = repo
    doc = root / "docs" / "client-settings.md"
    doc.parent.mkdir()
    prose = "# Client settings\n\nHand-written advice.\n"
    doc.write_text(prose)
    step = journal.open_step("advance", "samplers", "test", [])
    assert journal.set_block(step, "docs/client-settings.md", "tiny", "## Tiny\ntemperature 0.6\n")
    text = doc.read_text()
    assert text.startswith(prose) and "<!-- BEGIN onboard: tiny -->\n## Tiny\n" in text
    doc.write_text(text + "\nMore prose written later.\n")
    assert journal.undo(journal.open_step("rollback", "test", "samplers", []), journal.records([step.id])) == []
    assert doc.read_text() == prose + "\nMore prose written later.\n"


def test_a_place_written_by_several_steps_is_undone_newest_first_without_false_conflicts(repo):
    root, journal = repo
    first = _write_profile(journal)
    second = journal.open_step("advance", "profile", "samplers", [])
    journal.set_conf_section(second, "tiny", {"NAME": "Tiny", "MODEL": "models/Tiny/Q8_0/t.gguf",
                                              "EXTRA_ARGS": "--temp 0.6"}, ["NOT YET TESTED"])
    third = journal.open_step("run", "test", "test", [])
    journal.set_conf_section(third, "tiny", {"NAME": "Tiny", "SPEED": "12.5 t/s", "MODEL": "models/Tiny/Q8_0/t.gguf",
                                             "EXTRA_ARGS": "--temp 0.6"}, ["tested"])
    records = journal.records([first.id, second.id, third.id])
    assert journal.conflicts(records) == []
    assert journal.undo(journal.open_step("abandon", "test", "abandoned", []), records) == []
    assert (root / "models.conf").read_text() == PERSON
