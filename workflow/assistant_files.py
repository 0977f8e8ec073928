"""The assistant entry point in a person's repository: our ``/add-model`` skill, and short onboard
sections appended to the person's own agent notes.

A person who already uses Claude Code has agents of their own (``.claude/agents/model-manager.md``,
``gpu-optimizer.md``, ``benchmark.md``, ...). ``install(root)`` adds to them, never rewrites them:

- ``.claude/skills/add-model/SKILL.md``: the same skill as onboard's own checkout (package data,
  ``workflow/template/dot-claude/skills/add-model/SKILL.md``), with its mentions of role agents fitted
  to the agents this repository has: onboard's read-only ``onboard-*`` agents where they exist, else
  the person's agent for that role, else the mention is left out, so the skill never sends the
  assistant to an agent that is not there. An existing skill file that differs is never overwritten.
- one marked section at the end of each of the person's ``model-manager.md``, ``gpu-optimizer.md``
  and ``benchmark.md`` (where they exist), between ``<!-- BEGIN onboard: add-model -->`` and
  ``<!-- END onboard: add-model -->`` (the one marker-block format, ``store.marker_blocks.render_block``),
  written in the file's own line endings.

Why appended marked blocks and no journal: these files are the person's notes, not a candidate's
work; nothing rolls them back but ``remove(root)``, which takes out exactly our blocks (and the one
line break we put before each) and our skill file, and keeps, and reports, what a person edited since
(an edited block or skill file is theirs now). ``install`` twice changes nothing. ``check(root)`` says
what is missing or differs. ``install`` and ``remove`` return the files they changed; ``notes``, when
given, collects one line per file kept as it is, and why.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from onboard.llamacpp.errors import BadInput
from onboard.store.atomic import remove_file, write_atomic
from onboard.store.marker_blocks import find_block, has_begin, markers, render_block

SKILL = ".claude/skills/add-model/SKILL.md"
AGENTS_DIR = ".claude/agents"
BLOCK_ID = "add-model"

MODEL_MANAGER = """## Evaluating a candidate with onboard

Added by `onboard` for the `/add-model` skill (`.claude/skills/add-model/SKILL.md`). When a model is
added through onboard, phases 1-2 (evaluate, download) are yours to explain: onboard reads the card
`models/documentation/CANDIDATES/README_NAME.md` and the GGUF header, lists the quants on the hub with
their sizes and fits each one to the rig; you compare them with the person, who chooses.

```sh
onboard start NAME                      # evaluate: the fit table, one row per quant, * = recommended
onboard status NAME --json              # where the candidate stands, its quants and the recommendation
onboard inspect OWNER/REPO:QUANT --json # one quant's GGUF header (architecture, size), read remotely
onboard hardware --json                 # the rig onboard plans for (detected, or rig.toml)
onboard samplers models/documentation/CANDIDATES/README_NAME.md --json   # the card's sampler advice
onboard advance NAME --quant Q          # the person's choice: evaluate -> download
onboard advance NAME --download         # only when the person agrees (size, disk)
onboard advance NAME                    # checks every shard, size and GGUF magic: download -> profile
```

Read `status.facts.evaluate.quants`, `status.facts.evaluate.recommended_quant` and `status.facts.evaluate.quant_listing`
(files and sizes per quant). The download lands in `models/<ModelName>/<Quant>/`: either the person runs
the printed `hf download` command, or agrees to `onboard advance NAME --download`. The card,
`models.conf` and the docs are not edited by hand for a candidate onboard tracks: every change goes
through `onboard advance` and `onboard rollback`, run by the main conversation after the person agrees.
"""

GPU_OPTIMIZER = """## Untested profiles and the iteration flow with onboard

Added by `onboard` for the `/add-model` skill. A candidate's production profile is written by
onboard's profile phase from its plan (strategy A/B/C/D/L, `-ngl`, `-ts`, `-ot` rules, cache types):
the section `[<id>]` of `models.conf` carries the comment `NOT YET TESTED` and
`SPEED=~N t/s (estimated)` until the test phase has measured it. A passing test writes the measured
speed back and removes `NOT YET TESTED`; nothing else marks a profile as tested.

```sh
onboard status NAME --json                                   # the plan: strategy, fit, memory per device
onboard plan models/<ModelName>/<Quant>/FILE.gguf --ctx 32768 --json   # what if: changes nothing
onboard advance NAME --ctx N                                 # profile: re-plan for another context
onboard advance NAME                                         # test: launch llama-server with the profile, measure
onboard advance NAME --log FILE                              # test: read a log the person ran elsewhere
onboard logs analyze FILE --json                             # a log: buffers per device, OOM, speed
onboard advance NAME --apply-suggestion                      # test failed: apply the proposed change, test again
onboard rollback NAME                                        # back one phase, undoing what it wrote
```

The iteration: profile (planned, NOT YET TESTED) -> test (`onboard advance NAME`, or
`onboard advance NAME --log FILE` with a log of `./start.sh <id>`) -> on a failure explain
`status.facts.test.suggestion.why` and, with the person's yes, `onboard advance NAME --apply-suggestion`
-> or go back with `onboard rollback NAME` (test -> samplers -> profile, each undoing its own edits)
and re-plan with `onboard advance NAME --ctx N`. Explain `status.facts.profile.plan.strategy`,
`status.facts.profile.plan.fits`, and `status.predicted_vs_measured[].measured_mib` against
`status.predicted_vs_measured[].predicted_mib`. Do not edit a profile onboard tracks by hand: its
rollback would then stop at your edit and report a conflict.
"""

BENCHMARK = """## A new bench profile with onboard

Added by `onboard` for the `/add-model` skill. Entering onboard's bench-profile phase does the whole
checklist for a new model, and `onboard rollback NAME` in that phase takes exactly these lines out again:

- `models.conf`: `[bench-<id>]` with CTX_SIZE=10240, `-b 512 -ub 512`, more GPU layers than production,
  `--reasoning-format none` for a thinking model and no sampler arguments;
- `benchmarks/evalplus/bench-client.conf`: a section when the model needs a system prompt;
- `benchmarks/evalplus/generate-report.py`: the model's `DISPLAY_NAMES` entry, and its `REFERENCE_MAP`
  entry when `benchmarks/evalplus/reference-scores.json` has official scores for it;
- `benchmarks/evalplus/README.md`: its row in the profiles table.

Do not add them by hand for a candidate onboard tracks. Check them and follow the run:

```sh
onboard status NAME --json              # bench-profile or benchmark, and the guard: bench profile valid
onboard serve bench-ID --dry-run        # the bench profile's llama-server command, without starting it
onboard advance NAME --quick N          # benchmark: the first N tasks only (not comparable to published scores)
onboard advance NAME                    # benchmark: the full EvalPlus HumanEval+ run (hours on a big model)
onboard history NAME --json             # earlier runs
```

Report `status.facts.benchmark.run.base_pass1`, `status.facts.benchmark.run.plus_pass1`,
`status.facts.benchmark.run.n_tasks` and `status.facts.benchmark.run.quick`. The main conversation starts a
run after the person agrees; `onboard advance NAME --skip-bench` skips phases 6-7 only when the person
says so.
"""


@dataclass(frozen=True)
class Role:
    """A role the skill names: onboard's read-only agent for it, the person's usual agent for it, and
    the section onboard appends to the person's agent (None: onboard has nothing to add there)."""

    ours: str
    theirs: str | None
    block: str | None


ROLES: tuple[Role, ...] = (
    Role("onboard-evaluator", "model-manager", MODEL_MANAGER),
    Role("onboard-gpu-placement", "gpu-optimizer", GPU_OPTIMIZER),
    Role("onboard-benchmark", "benchmark", BENCHMARK),
    Role("onboard-docs", None, None),
)


# -- the skill, fitted to the repository's agents ----------------------------------------------------
def skill_template() -> str:
    """Our skill as shipped (the checkout's own .claude/skills/add-model/SKILL.md)."""
    source = resources.files("onboard.workflow").joinpath("template", "dot-claude", "skills", "add-model", "SKILL.md")
    return source.read_text(encoding="utf-8")


def agent_names(root: Path) -> dict[str, str | None]:
    """Per role (by onboard's agent name): the agent this repository has for it, or None."""
    agents = root / AGENTS_DIR
    names: dict[str, str | None] = {}
    for role in ROLES:
        if (agents / f"{role.ours}.md").is_file():
            names[role.ours] = role.ours
        elif role.theirs and (agents / f"{role.theirs}.md").is_file():
            names[role.ours] = role.theirs
        else:
            names[role.ours] = None
    return names


def _sentence_naming(name: str) -> re.Pattern[str]:
    """A sentence of a paragraph (not crossing a blank line) that names ``name``, with the spaces
    before it: it starts with a capital after a full stop, and a dot inside it is one not followed by
    a space (``status.facts.profile.plan``)."""
    inner = r"(?:[^.!?\n]|[.!?](?!\s)|\n(?![ \t]*\n))"
    return re.compile(rf"(?<=[.!?])[ \t]+[A-Z]{inner}*?\b{re.escape(name)}\b{inner}*?[.!?](?=\s|$)")


def render_skill(root: Path, template: str | None = None) -> str:
    """The skill for this repository: each role agent renamed to the one it has, or left out."""
    text = skill_template() if template is None else template
    names = agent_names(root)
    for ours, name in names.items():
        if name is None:
            text = _sentence_naming(ours).sub("", text)
            text = re.sub(rf"(?m)^- {re.escape(ours)}:.*\n", "", text)
        elif name != ours:
            text = re.sub(rf"\b{re.escape(ours)}\b", name, text)
    if not any(names.values()):  # no role agents at all: no roles section
        text = re.sub(r"(?ms)^## Roles\b.*?(?=^## |\Z)", "", text).rstrip("\n") + "\n"
    return text


# -- the person's agent files --------------------------------------------------------------------------
def _eol(text: str) -> str:
    """The file's own line ending (the one most of its lines use)."""
    return "\r\n" if text.count("\r\n") * 2 > text.count("\n") else "\n"


def _read(root: Path, relpath: str) -> str | None:
    path = root / relpath
    if not path.is_file():
        return None
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise BadInput(f"not UTF-8 text (byte {err.start})", path=relpath,
                       fix="save the file as UTF-8, then run the command again") from None


def _write(root: Path, relpath: str, text: str) -> None:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text.encode("utf-8"))


def _our_block(role: Role, eol: str) -> str:
    return render_block(BLOCK_ID, role.block or "").replace("\n", eol)


def _block_in(text: str) -> str | None:
    """Our block as the file holds it (in LF form), or "" when a BEGIN marker has no END, or None."""
    lf = text.replace("\r\n", "\n")
    found = find_block(lf, BLOCK_ID)
    if found is None and has_begin(lf, BLOCK_ID):
        return ""
    return found


def _agent_files(root: Path) -> list[tuple[str, Role]]:
    """The person's agent files this repository has that onboard adds a section to."""
    return [(f"{AGENTS_DIR}/{role.theirs}.md", role) for role in ROLES
            if role.theirs and role.block and (root / AGENTS_DIR / f"{role.theirs}.md").is_file()]


def _noter(notes: list[str] | None) -> Callable[[str], None]:
    return notes.append if notes is not None else (lambda _line: None)


# -- install, remove, check ------------------------------------------------------------------------------
def install(root: Path, notes: list[str] | None = None) -> list[str]:
    """Install the skill and append our section to each of the person's agent files that has none.

    Returns the files changed (none on a second run). A skill file that exists and differs, or a
    section a person edited, is left as it is and noted."""
    root = Path(root)
    note = _noter(notes)
    changed: list[str] = []
    skill, current = render_skill(root), _read(root, SKILL)
    if current is None:
        _write(root, SKILL, skill)
        changed.append(SKILL)
    elif current != skill:
        note(f"{SKILL}: kept: it differs from onboard's /add-model skill (yours, or edited since); "
             f"remove it and install again to get onboard's")
    for relpath, role in _agent_files(root):
        text = _read(root, relpath) or ""
        found = _block_in(text)
        if found is None:
            eol = _eol(text) if text else "\n"
            _write(root, relpath, text + (eol if text else "") + _our_block(role, eol))
            changed.append(relpath)
        elif found != _our_block(role, "\n"):
            note(f"{relpath}: kept: its onboard section differs from onboard's (edited since)")
    return changed


def remove(root: Path, notes: list[str] | None = None) -> list[str]:
    """Take out exactly what ``install`` added: our sections (with the line break put before each)
    and our skill file, keeping (and noting) any a person edited since. Returns the files changed."""
    root = Path(root)
    note = _noter(notes)
    changed: list[str] = []
    for relpath, role in _agent_files(root):
        text = _read(root, relpath) or ""
        found = _block_in(text)
        if found is None:
            continue
        if found != _our_block(role, "\n"):
            note(f"{relpath}: kept its onboard section: edited since onboard wrote it (remove it by hand)")
            continue
        eol = _eol(text)
        block = _our_block(role, eol)
        at = text.find(block)
        if at < 0:  # the block's line endings were changed: the person's text now
            note(f"{relpath}: kept its onboard section: its line endings were changed since")
            continue
        before, after = text[:at], text[at + len(block):]
        if before.endswith(eol):
            before = before[:-len(eol)]
        _write(root, relpath, before + after)
        changed.append(relpath)
    current = _read(root, SKILL)
    if current is not None:
        if current == render_skill(root):
            remove_file(root / SKILL)
            changed.append(SKILL)
            _remove_empty_dirs(root, Path(SKILL).parent)
        else:
            note(f"{SKILL}: kept: it differs from onboard's /add-model skill (yours, or edited since)")
    return changed


def _remove_empty_dirs(root: Path, relative: Path) -> None:
    """The skill's folders, innermost first, as far as they are empty (install made them)."""
    for folder in (relative, *relative.parents):
        if str(folder) in (".", ""):
            break
        path = root / folder
        if not path.is_dir() or any(path.iterdir()):
            break
        path.rmdir()


def check(root: Path) -> list[str]:
    """What is not installed as onboard would install it, one ``file: what`` each (empty: all there)."""
    root = Path(root)
    problems: list[str] = []
    current = _read(root, SKILL)
    if current is None:
        problems.append(f"{SKILL}: missing (the /add-model skill)")
    elif current != render_skill(root):
        problems.append(f"{SKILL}: differs from onboard's /add-model skill for this repository")
    for relpath, role in _agent_files(root):
        found = _block_in(_read(root, relpath) or "")
        if found is None:
            problems.append(f"{relpath}: no onboard section ({markers(BLOCK_ID)[0].strip()})")
        elif found != _our_block(role, "\n"):
            problems.append(f"{relpath}: its onboard section differs from onboard's (edited since)")
    return problems
