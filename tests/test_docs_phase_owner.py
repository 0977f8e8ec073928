"""The docs phase in a person's own repository: one entry per place, journalled, undone byte for byte.

Real files and a real journal: a git copy of the owner-style repository (tests/owner_repo.py, one
file CRLF), the candidate's profile written into its models.conf the way the profile, samplers and
test phases leave it, a SQLite workflow database, and the phase's own ``prepare``.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from onboard.llamacpp.errors import BadInput
from onboard.phases import docs
from onboard.phases.contract import PhaseContext
from onboard.store.db import open_db
from onboard.store.journal import Journal
from onboard.store.models_conf import ModelsConf
from onboard.store.schema import Candidate
from tests.owner_repo import git_diff, make_owner_repo, tracked_bytes
from tests.test_doc_rows import MODEL, TESTED, TESTED_COMMENTS

NAME = "Qwen3-8B"
CRLF_FILE = "docs/gpu-strategy-guide.md"
OPTIONS = {"quant": "Q4_K_M", "thinking": True}
FACTS = {"evaluate": {"display_name": NAME}}  # what evaluate found in the card


class Run:
    """The candidate in its docs phase: the repository, its journal, and the phase's steps."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = make_owner_repo(tmp_path, crlf_file=CRLF_FILE)
        conf = ModelsConf.load(self.root / "models.conf").with_section("qwen3-8b", TESTED, TESTED_COMMENTS)
        conf = conf.with_section("bench-qwen3-8b", {"NAME": "Qwen3-8B bench", "MODEL": MODEL, "CTX_SIZE": "10240",
                                                    "N_GPU_LAYERS": "99", "FIT": "off",
                                                    "EXTRA_ARGS": "-fa on -b 512 -ub 512 --jinja --reasoning-format none"},
                                 [])
        (self.root / "models.conf").write_bytes(conf.text.encode("utf-8"))
        self.before = tracked_bytes(self.root)  # the profile phases' work done, the docs not yet
        sessions = open_db(tmp_path / "db" / "onboard.db")
        with sessions() as s:
            cand = Candidate(name=NAME, state="docs", created_at="t", updated_at="t")
            s.add(cand)
            s.commit()
        self.journal = Journal(sessions, self.root, cand.id)
        self.steps: list = []
        self.out: list[str] = []

    def docs(self) -> None:
        step = self.journal.open_step("advance", "benchmark", "docs", ["advance", NAME])
        self.steps.append(step)
        docs.prepare(PhaseContext(NAME, self.root, dict(OPTIONS), self.journal, step, echo=self.out.append,
                                  facts_by_phase=dict(FACTS), phase="docs"))

    def undo(self):
        back = self.journal.open_step("rollback", "docs", "benchmark", ["rollback", NAME])
        return self.journal.undo(back, self.journal.records([s.id for s in self.steps]))

    def changed(self) -> dict[str, bytes]:
        now = tracked_bytes(self.root)
        return {k: v for k, v in now.items() if self.before.get(k) != v}


@pytest.fixture()
def run(tmp_path):
    return Run(tmp_path)


def _added_lines(diff: str) -> dict[str, list[str]]:
    """File -> the lines the diff adds; asserts it removes none."""
    out: dict[str, list[str]] = {}
    file = None
    for line in diff.splitlines():
        if line.startswith("+++ b/"):
            file = line[6:]
        elif line.startswith("---") or line.startswith("diff ") or line.startswith("index "):
            continue
        elif line.startswith("-"):
            raise AssertionError(f"a line was removed or rewritten in {file}: {line!r}")
        elif line.startswith("+"):
            out.setdefault(file, []).append(line[1:].rstrip("\r"))
    return out


def test_each_place_gets_exactly_one_entry_and_nothing_else_changes(run):
    run.docs()
    added = _added_lines(git_diff(run.root, ":(exclude)models.conf"))
    assert added["README.md"] == [
        "| Qwen3-8B | `qwen3-8b` | Q4_K_M | 61.3 t/s | 32K | qwen3, Q4_K_M, strategy A |",  # Target Models
        "| `./start.sh qwen3-8b` | Qwen3-8B | TBD |",  # Switching Models
        "│   ├── Qwen3-8B/", "│   │   └── Q4_K_M/",  # Repository Structure: folder and quant folder
    ]
    assert added["AI_INSTRUCTIONS.md"] == ["│   ├── Qwen3-8B/Q4_K_M/"]
    assert added["ROADMAP.md"] == ["- ⚠️ **Qwen3-8B** (`qwen3-8b`) -- production, 61.3 t/s, bench profile ready but "
                                   "not benchmarked yet"]
    settings = added["docs/client-settings.md"]
    assert settings[0] == "| Qwen3-8B | `qwen3-8b` | ✅ | TBD | TBD | 32K | TBD |"  # capabilities
    assert settings[1] == "| Qwen3-8B | 0.6 | 0.95 | 20 | 0 | - | - | TBD |"  # samplers
    assert settings[2:] == ["", "### Qwen3-8B", "", "- **Profile:** `qwen3-8b`",
                            "- **Samplers:** temperature 0.6, top_p 0.95, top_k 20, min_p 0",
                            "- **System prompt:** none needed",
                            "- Thinking model: it reasons before the answer (benchmarks serve it with "
                            "`--reasoning-format none`)."]
    assert added[CRLF_FILE] == ["| Qwen3-8B | A | 9.4 GB | 0.0 GB | TBD | 61.3 t/s |"]
    # Arch: no GGUF file in this copy and no architecture option, so unknown and said so
    assert added[".claude/agents/gpu-optimizer.md"] == ["| Qwen3-8B | qwen3-8b | TBD | A | 9.4 GB | 0.0 GB | 61.3 t/s |"]
    assert [line.split("#")[0].rstrip() for line in added[".claude/agents/model-manager.md"]] == \
        ["├── Qwen3-8B/", "│   └── Q4_K_M/"]
    assert added["benchmarks/evalplus/README.md"] == ["| `bench-qwen3-8b` | Qwen3-8B (Q4_K_M) | TBD |"]
    assert set(added) == {"README.md", "AI_INSTRUCTIONS.md", "ROADMAP.md", "docs/client-settings.md", CRLF_FILE,
                          ".claude/agents/gpu-optimizer.md", ".claude/agents/model-manager.md",
                          "benchmarks/evalplus/README.md"}
    # what was added where is printed, one line per place
    listed = [line for line in run.out if re.match(r"  \S+:\d+ (table|tree|list|sections) ", line)]
    assert len(listed) == 12
    assert any(line.startswith("  README.md:") and "'Target Models': row for qwen3-8b" in line for line in listed)


def test_the_crlf_file_stays_crlf_including_the_new_row(run):
    run.docs()
    data = (run.root / CRLF_FILE).read_bytes()
    assert data.count(b"\n") == data.count(b"\r\n") and b"| Qwen3-8B | A |" in data
    assert b"| Qwen3-8B | A | 9.4 GB | 0.0 GB | TBD | 61.3 t/s |\r\n" in data


def test_a_second_run_changes_nothing_and_records_nothing(run):
    run.docs()
    after_first = tracked_bytes(run.root)
    records = len(run.journal.records([s.id for s in run.steps]))
    run.docs()
    assert tracked_bytes(run.root) == after_first
    assert len(run.journal.records([s.id for s in run.steps])) == records
    assert "Docs: every place that lists the models already has [qwen3-8b]" in run.out


def test_undo_leaves_every_file_byte_identical(run):
    run.docs()
    assert run.changed()
    assert run.undo() == []
    assert tracked_bytes(run.root) == run.before


def test_undo_keeps_a_persons_edits_elsewhere_in_the_same_files(run):
    run.docs()
    readme = run.root / "README.md"
    text = readme.read_bytes().decode()
    edited = text.replace("| Qwen3 32B | `qwen3-32b`  | Q6_K | 27.3 t/s |", "| Qwen3 32B | `qwen3-32b`  | Q6_K | 28.0 t/s |")
    assert edited != text
    readme.write_bytes(edited.encode())
    assert run.undo() == []
    assert readme.read_bytes() == run.before["README.md"].replace(b"27.3 t/s | 32K | Dense", b"28.0 t/s | 32K | Dense")


def test_a_row_a_person_edited_after_the_docs_phase_is_a_conflict_and_undo_changes_nothing(run):
    run.docs()
    readme = run.root / "README.md"
    edited = readme.read_bytes().replace(b"| qwen3, Q4_K_M, strategy A |", b"| my small thinking model |")
    readme.write_bytes(edited)
    snapshot = tracked_bytes(run.root)
    conflicts = run.undo()
    assert len(conflicts) == 1 and "Target Models" in str(conflicts[0]) and "README.md" in str(conflicts[0])
    assert tracked_bytes(run.root) == snapshot


def test_a_place_the_map_refuses_stops_the_phase_before_anything_is_written(run):
    readme = run.root / "README.md"
    text = readme.read_bytes().decode()
    readme.write_bytes((text + "\n## Target Models\n\n| Model | Speed |\n|---|---|\n| Qwen3 32B | 27 t/s |\n").encode())
    snapshot = tracked_bytes(run.root)
    with pytest.raises(BadInput) as err:
        run.docs()
    assert err.value.path == "README.md" and err.value.line and "appears 2 times" in err.value.message
    assert err.value.fix
    assert tracked_bytes(run.root) == snapshot


def test_a_repository_without_hand_written_places_gets_generated_blocks(tmp_path):
    root = tmp_path / "fresh"
    root.mkdir()
    conf = ModelsConf.parse("").with_section("qwen3-8b", TESTED, TESTED_COMMENTS)
    (root / "models.conf").write_text(conf.text)
    sessions = open_db(tmp_path / "db" / "onboard.db")
    with sessions() as s:
        cand = Candidate(name=NAME, state="docs", created_at="t", updated_at="t")
        s.add(cand)
        s.commit()
    journal = Journal(sessions, root, cand.id)
    step = journal.open_step("advance", "benchmark", "docs", [])
    docs.prepare(PhaseContext(NAME, root, dict(OPTIONS), journal, step, echo=lambda _s: None, facts_by_phase=dict(FACTS),
                              phase="docs"))
    readme = (root / "README.md").read_text()
    assert "<!-- BEGIN GENERATED: target-models -->" in readme and "`qwen3-8b`" in readme


def test_the_guard_holds_until_the_docs_list_the_model_and_then_passes(run):
    guard = docs.PHASE.guards[0]
    ctx = PhaseContext(NAME, run.root, dict(OPTIONS), echo=lambda _s: None, facts_by_phase=dict(FACTS), phase="docs")
    before = guard.check(ctx)
    assert not before.passed and "qwen3-8b is not listed" in before.reason
    run.docs()
    after = guard.check(ctx)
    assert after.passed, after.reason


def test_a_file_without_a_final_newline_keeps_none_and_undo_restores_it(run):
    path = run.root / "docs" / "client-settings.md"
    path.write_bytes(path.read_bytes().rstrip(b"\n"))
    run.before = tracked_bytes(run.root)
    run.docs()
    data = path.read_bytes()
    assert data.endswith(b"`--reasoning-format none`).") and b"### Qwen3-8B\n" in data
    assert run.undo() == []
    assert tracked_bytes(run.root) == run.before
