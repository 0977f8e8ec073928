"""The assistant entry point in a person's own repository (workflow/assistant_files.py), on a copy of
the owner's repository (tests/owner_repo.py): his agents model-manager, gpu-optimizer, benchmark and
doc-keeper, no skill yet.

What a person relies on: install adds our /add-model skill and one marked section at the very end of
three of his agent files and changes no byte he wrote; a second install changes nothing; remove gives
back every byte; what he edited since (a section, the skill) or had before (his own skill) is kept
and reported, never overwritten or removed; the skill never sends the assistant to an agent that is
not there; and the installed text passes the same checks as this checkout's skill and agents
(tests/test_assistant_skill.py): real commands and options, real exit codes, JSON fields that the
real-output test checks, no editing snippets.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.owner_repo import make_owner_repo
from tests.test_assistant_skill import (
    FIELD,
    FILES,
    check_command,
    field_refs,
    onboard_lines,
    snippets,
    split_front_matter,
)
from onboard.workflow import assistant_files as af
from onboard.workflow.assistant_files import SKILL
from onboard.workflow.exit_codes import Exit

ROOT = Path(__file__).resolve().parent.parent
AGENTS = {"model-manager": af.MODEL_MANAGER, "gpu-optimizer": af.GPU_OPTIMIZER, "benchmark": af.BENCHMARK}
AGENT_FILES = [f".claude/agents/{name}.md" for name in AGENTS]
BEGIN, END = "<!-- BEGIN onboard: add-model -->", "<!-- END onboard: add-model -->"


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file and folder of the repository but .git (folders as b"<dir>")."""
    return {str(p.relative_to(root)): (b"<dir>" if p.is_dir() else p.read_bytes())
            for p in sorted(root.rglob("*")) if ".git" not in p.relative_to(root).parts}


def git_status(root: Path) -> list[str]:
    out = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=all"],
                         capture_output=True, text=True, check=True).stdout
    return sorted(out.splitlines())


@pytest.fixture
def owner(tmp_path: Path) -> Path:
    return make_owner_repo(tmp_path)


def test_install_adds_only_marked_sections_at_the_end_of_three_agent_files_and_the_skill(owner: Path) -> None:
    before = snapshot(owner)
    notes: list[str] = []
    changed = af.install(owner, notes)
    assert sorted(changed) == sorted([SKILL, *AGENT_FILES]) and notes == []
    after = snapshot(owner)
    assert git_status(owner) == sorted([f" M {f}" for f in AGENT_FILES] + [f"?? {SKILL}"])
    for relpath in before:
        if relpath not in AGENT_FILES:
            assert after[relpath] == before[relpath], relpath  # doc-keeper.md, the docs, models.conf: untouched
    for relpath, body in zip(AGENT_FILES, AGENTS.values()):
        old, new = before[relpath], after[relpath]
        assert new.startswith(old), relpath  # not one byte of his changed: only added at the end
        added = new[len(old):].decode()
        assert added == "\n" + BEGIN + "\n" + body.rstrip("\n") + "\n" + END + "\n"
    assert (owner / SKILL).read_text() == af.render_skill(owner)
    assert af.check(owner) == []


def test_install_twice_changes_nothing(owner: Path) -> None:
    af.install(owner)
    once = snapshot(owner)
    notes: list[str] = []
    assert af.install(owner, notes) == [] and notes == []
    assert snapshot(owner) == once


def test_remove_gives_back_every_byte(owner: Path) -> None:
    before = snapshot(owner)
    af.install(owner)
    notes: list[str] = []
    assert sorted(af.remove(owner, notes)) == sorted([SKILL, *AGENT_FILES]) and notes == []
    assert snapshot(owner) == before  # files and folders: .claude/skills/ is gone again
    assert git_status(owner) == []
    assert af.remove(owner) == []  # nothing left to remove
    assert sorted(af.check(owner)) == sorted([f"{SKILL}: missing (the /add-model skill)"] +
                                             [f"{f}: no onboard section ({BEGIN})" for f in AGENT_FILES])


def test_crlf_files_and_a_file_without_a_final_line_break_round_trip(tmp_path: Path) -> None:
    owner = make_owner_repo(tmp_path, crlf_file=".claude/agents/gpu-optimizer.md")
    bench = owner / ".claude" / "agents" / "benchmark.md"
    bench.write_bytes(bench.read_bytes().rstrip(b"\n"))
    empty = owner / ".claude" / "agents" / "model-manager.md"
    empty.write_bytes(b"")
    before = snapshot(owner)
    assert b"\r\n" in before[".claude/agents/gpu-optimizer.md"]
    af.install(owner)
    crlf = (owner / ".claude" / "agents" / "gpu-optimizer.md").read_bytes()
    added = crlf[len(before[".claude/agents/gpu-optimizer.md"]):]
    assert added.startswith(b"\r\n" + BEGIN.encode() + b"\r\n") and added.count(b"\n") == added.count(b"\r\n")
    assert bench.read_bytes().startswith(before[".claude/agents/benchmark.md"] + b"\n" + BEGIN.encode())
    assert empty.read_bytes().startswith(BEGIN.encode())
    assert af.install(owner) == [] and af.check(owner) == []
    af.remove(owner)
    assert snapshot(owner) == before


def test_an_edited_section_is_reported_and_kept(owner: Path) -> None:
    before = snapshot(owner)
    af.install(owner)
    manager = owner / ".claude" / "agents" / "model-manager.md"
    edited = manager.read_text().replace("with the person, who chooses.", "with me; I choose.")
    manager.write_text(edited)
    assert af.check(owner) == [".claude/agents/model-manager.md: its onboard section differs from onboard's (edited since)"]
    notes: list[str] = []
    assert af.install(owner, notes) == [] and manager.read_text() == edited  # never a second section
    assert notes and notes[0].startswith(".claude/agents/model-manager.md: kept")
    notes = []
    changed = af.remove(owner, notes)
    assert ".claude/agents/model-manager.md" not in changed and manager.read_text() == edited
    assert len(notes) == 1 and notes[0].startswith(".claude/agents/model-manager.md: kept its onboard section")
    for relpath in (".claude/agents/gpu-optimizer.md", ".claude/agents/benchmark.md"):
        assert (owner / relpath).read_bytes() == before[relpath]
    assert not (owner / SKILL).exists()


def test_a_section_without_its_end_marker_is_his_and_kept(owner: Path) -> None:
    af.install(owner)
    bench = owner / ".claude" / "agents" / "benchmark.md"
    cut = bench.read_text().replace(END + "\n", "")
    bench.write_text(cut)
    notes: list[str] = []
    assert ".claude/agents/benchmark.md" not in af.remove(owner, notes) and bench.read_text() == cut
    assert any(n.startswith(".claude/agents/benchmark.md: kept") for n in notes)


def test_his_own_skill_is_never_overwritten_nor_removed(owner: Path) -> None:
    skill = owner / SKILL
    skill.parent.mkdir(parents=True)
    skill.write_text("---\nname: add-model\n---\nMy own way of adding a model.\n")
    mine = skill.read_bytes()
    notes: list[str] = []
    changed = af.install(owner, notes)
    assert SKILL not in changed and sorted(changed) == sorted(AGENT_FILES)
    assert skill.read_bytes() == mine and notes and notes[0].startswith(f"{SKILL}: kept")
    assert af.check(owner) == [f"{SKILL}: differs from onboard's /add-model skill for this repository"]
    notes = []
    assert SKILL not in af.remove(owner, notes) and skill.read_bytes() == mine
    assert notes and notes[0].startswith(f"{SKILL}: kept")


def test_a_skill_edited_since_install_is_kept_by_remove(owner: Path) -> None:
    af.install(owner)
    skill = owner / SKILL
    skill.write_text(skill.read_text() + "\nAlso: ask me before any download.\n")
    edited = skill.read_bytes()
    notes: list[str] = []
    changed = af.remove(owner, notes)
    assert sorted(changed) == sorted(AGENT_FILES) and skill.read_bytes() == edited
    assert notes == [f"{SKILL}: kept: it differs from onboard's /add-model skill (yours, or edited since)"]


# -- the skill names only agents that exist ---------------------------------------------------------------
def agents_named(skill_text: str) -> set[str]:
    """Agents the skill sends the assistant to: "the X agent" in the text, "- X:" in its roles list."""
    _, body = split_front_matter(skill_text)
    named = set(re.findall(r"\b([a-z][a-z0-9-]*) agent\b", body))
    roles = body.split("## Roles", 1)[1] if "## Roles" in body else ""
    return named | set(re.findall(r"(?m)^- ([a-z][a-z0-9-]*):", roles))


def test_the_skill_names_only_agents_the_repository_has(owner: Path, tmp_path: Path) -> None:
    af.install(owner)
    text = (owner / SKILL).read_text()
    assert agents_named(text) == {"model-manager", "gpu-optimizer", "benchmark"}
    assert not [r.ours for r in af.ROLES if r.ours in text]  # none of onboard's own agents: he has none

    bare = tmp_path / "bare"
    bare.mkdir()
    af.install(bare)
    text = (bare / SKILL).read_text()
    assert agents_named(text) == set() and "## Roles" not in text and "subagent" not in text

    one = tmp_path / "one"
    (one / ".claude" / "agents").mkdir(parents=True)
    (one / ".claude" / "agents" / "gpu-optimizer.md").write_text("# mine\n")
    assert af.install(one) == [SKILL, ".claude/agents/gpu-optimizer.md"]
    assert agents_named((one / SKILL).read_text()) == {"gpu-optimizer"}

    # with onboard's read-only agents (a repository made by `onboard init`) it is this checkout's skill
    assert af.render_skill(ROOT) == (ROOT / SKILL).read_text() == af.skill_template()
    assert agents_named(af.skill_template()) == {p.stem for p in (ROOT / ".claude" / "agents").glob("onboard-*.md")}


# -- the installed text passes the checks of this checkout's skill and agents ------------------------------
def test_installed_text_names_only_real_commands_exit_codes_and_checked_fields(owner: Path, tmp_path: Path) -> None:
    af.install(owner)
    parts = [owner / SKILL]
    for name in AGENTS:  # only our sections: the rest of his agent file is his
        text = (owner / ".claude" / "agents" / f"{name}.md").read_text()
        section = tmp_path / f"{name}-section.md"
        section.write_text(text[text.index(BEGIN):])
        parts.append(section)
    checked_fields = {s.text for path in FILES for s in field_refs(path)}  # the real-output test checks these
    seen: set[str] = set()
    for path in parts:
        for s in onboard_lines(path):
            full, problems = check_command(s.text)
            assert not problems, f"{path.name}:{s.line}: {s.text}: {problems}"
            seen.add(full)
        for s in snippets(path):
            if s.fenced and not s.text.startswith("#"):
                assert re.match(r"^onboard\s", s.text), f"{path.name}:{s.line}: {s.text}"
            code = re.sub(r"\s+#.*$", "", s.text)
            assert not re.search(r"(^|\s)(>>?|tee|sed\s+-i|rm|mv|cp|truncate)(\s|$)", code), s.text
        for s in field_refs(path):
            assert FIELD.match(s.text), f"{path.name}:{s.line}: `{s.text}`"
            assert s.text in checked_fields, f"{path.name}:{s.line}: `{s.text}` is named nowhere the real-output test checks"
        for code, name in re.findall(r"exit (\d+) \(([A-Z_]+)\)", path.read_text()):
            assert Exit(int(code)).name == name, f"{path.name}: exit {code} ({name})"
        for code in re.findall(r"\bexits? (\d+)\b", path.read_text()):
            assert int(code) in {e.value for e in Exit}, f"{path.name}: exit {code}"
    assert {"start", "status", "advance", "rollback", "inspect", "hardware", "plan", "logs analyze", "serve",
            "history", "samplers"} <= seen
    meta, _ = split_front_matter((owner / SKILL).read_text())
    checkout_meta, _ = split_front_matter((ROOT / SKILL).read_text())
    assert meta == checkout_meta  # the same name, description and pre-approved read-only commands
