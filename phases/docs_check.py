"""Are a repository's docs consistent with its models.conf, by meaning?

Why a second checker next to ``phases.docs_blocks``: a repository made by ``onboard init`` keeps its
model lists in generated blocks, which are checked by re-rendering them. A person's own repository
keeps them in hand-written tables, trees, lists and sections that no renderer produced; those are
checked by what they say: every production profile appears in every place that lists all models,
no row or folder line is left for a model that is gone, every ``./start.sh X`` and ``bench-X``
names a real profile, every bench profile is listed where the bench profiles are, and the benchmark
pipeline's client settings and report names hold no entry for a bench profile that is gone. The places come
from ``phases.repo_map``; generated blocks stay ``docs_blocks.check``'s, called from here.

Each finding is ``file:line: what, fix``; an empty list means the docs are consistent.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from onboard.phases import doc_fields, docs_blocks
from onboard.phases.docs_blocks import Block
from onboard.phases.repo_map import BLOCK_ROLES, Place, RepoMap, build_map, doc_files
from onboard.store import marker_blocks as mb
from onboard.store.suggest import did_you_mean

_START_RE = re.compile(r"(?<![\w-])(\.{0,2}/)?start\.sh\s+([a-z0-9][a-z0-9._-]*)")
_BLOCKS_REFERENCE_RE = re.compile(r"^[^:]+:\d+: refers to profile \[[^\]]*\], which models\.conf does not have$")
_BENCH_BRACKET_RE = re.compile(r"\[(bench-[a-z0-9][a-z0-9._-]*)\]")
_BENCH_CODE_RE = re.compile(r"`(bench-[a-z0-9][a-z0-9._-]*)`")
# words that look like a bench profile id but are the prose's own (placeholders, file names)
_NOT_IDS = {"bench-id", "bench-model-id", "bench-profile", "bench-profiles", "bench-client", "bench-client.conf"}
_FILE_EXT_RE = re.compile(r"\.(md|conf|py|sh|json|toml|txt|ya?ml)$")
# the person's own files that name profiles in prose (their tables are found wherever they are)
_OWNER_PROSE = ("AI_INSTRUCTIONS.md", "ROADMAP.md", ".claude/agents/", "docs/")
# the benchmark pipeline's files that hold one entry per bench profile
_PIPELINE_FILES = (
    ("benchmarks/evalplus/bench-client.conf", re.compile(r"^\s*\[(bench-[a-z0-9][a-z0-9._-]*)\]"),
     "a client section for profile"),
    ("benchmarks/evalplus/generate-report.py", re.compile(r"[\"'](bench-[a-z0-9][a-z0-9._-]*)[\"']\s*:"),
     "an entry for profile"),
)
_MODEL_BLOCK_ROLES = set(BLOCK_ROLES.values())
_WHAT = {"table": "a row for it", "tree": "a line for its model folder", "list": "an item for it",
         "sections": "a section for it"}


def hand_written(rmap: RepoMap) -> bool:
    """Does the repository keep its model lists in hand-written places (not in our generated blocks)?

    A repository with any of our model blocks (made by ``onboard init``) is checked by its blocks
    alone; one without them, holding tables, trees, lists or sections that list models, by meaning."""
    if any(p.kind == "block" and p.role in _MODEL_BLOCK_ROLES for p in rmap.places):
        return False
    return any(p.kind != "block" for p in rmap.places)


def check(root: Path, blocks: Sequence[Block] = docs_blocks.REPOSITORY_BLOCKS,
          rmap: RepoMap | None = None) -> list[str]:
    """Every inconsistency between the docs and models.conf as ``file:line: what, fix``."""
    from onboard.store.models_conf import ModelsConf

    rmap = rmap if rmap is not None else build_map(root)
    if not hand_written(rmap):
        return docs_blocks.check(root, blocks)
    conf = ModelsConf.load(root / "models.conf")
    production = [s.id for s in conf.sections if not s.id.startswith("bench-")]
    bench = [s.id for s in conf.sections if s.id.startswith("bench-")]
    # blocks that exist are still checked; prose references are checked below with the person's rules
    present = [b for b in blocks if _has_block(root, b)]
    problems = [p for p in docs_blocks.check(root, present) if not _BLOCKS_REFERENCE_RE.match(p)]
    problems += [str(r) for r in rmap.problems]
    identities = doc_fields.conf_identities(conf, root)
    for place in rmap.places:
        if place.kind != "block":
            problems += _check_place(place, production, bench, identities)
    ids = {s.id for s in conf.sections}
    reported = {p.split(": ", 1)[0] for p in problems}  # a stale row is not reported again for its reference
    problems += [p for p in _references(root, rmap, ids) if p.split(": ", 1)[0] not in reported]
    problems += _pipeline_entries(root, ids)
    return problems


def _has_block(root: Path, block: Block) -> bool:
    path = root / block.file
    text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
    return mb.has_begin(text, block.id, mb.GENERATED)


def _label(place: Place) -> str:
    return f"{place.file} '{place.heading}'" if place.heading else place.file


def _check_place(place: Place, production: list[str], bench: list[str],
                 identities: dict[str, set[str]]) -> list[str]:
    problems = []
    named = {pid for _, pid in place.entries}
    if place.kind == "tree":  # profiles sharing one model folder are all listed by its line
        named |= {pid for pid in production
                  if any(doc_fields.names_profile(text, identities[pid]) for _, text in place.items)}
    if place.role == "bench-profiles":
        for bench_id in bench:
            pid = bench_id[len("bench-"):]
            if pid not in named:
                problems.append(f"{place.file}:{place.line}: {bench_id} is not listed in {_label(place)}, "
                                f"add {_WHAT.get(place.kind, 'an entry for it')}")
    elif place.per_model:
        for pid in production:
            if pid not in named:
                problems.append(f"{place.file}:{place.line}: {pid} is not listed in {_label(place)}, "
                                f"add {_WHAT.get(place.kind, 'an entry for it')}")
    entry_lines = {line for line, _ in place.entries}
    for line, text in place.items:
        if line in entry_lines:
            continue
        if place.kind == "table":
            what = text.split(" | ", 1)[0]
            problems.append(f"{place.file}:{line}: the row '{what}' in {_label(place)} names no profile in "
                            "models.conf (a model that is gone?), remove the row or add the profile")
        elif place.kind == "tree":
            problems.append(f"{place.file}:{line}: the folder '{text}' in {_label(place)} is no profile's "
                            "model folder in models.conf (a model that is gone?), remove the line or add "
                            "the profile")
        elif place.kind == "list" and doc_fields.looks_like_model_name(text):
            problems.append(f"{place.file}:{line}: the item '{text}' in {_label(place)} names no profile in "
                            "models.conf (a model that is gone?), remove the item or add the profile")
        elif place.kind == "sections" and place.per_model and doc_fields.looks_like_model_name(text):
            problems.append(f"{place.file}:{line}: the section '{text}' in {_label(place)} names no profile "
                            "in models.conf (a model that is gone?), remove the section or add the profile")
    return problems


def _reference_files(root: Path, rmap: RepoMap) -> list[str]:
    """The files whose prose is checked: those holding a place, the files the blocks checker reads,
    and the person's instructions, roadmap and agents."""
    prose = {q.relative_to(root).as_posix() for pattern in docs_blocks.PROSE_FILES for q in root.glob(pattern)}
    with_places = {p.file for p in rmap.places}
    return [rel for rel in doc_files(root) if rel in with_places or rel in prose or rel.startswith(_OWNER_PROSE)]


def _in_code(line: str, pos: int) -> bool:
    return line.count("`", 0, pos) % 2 == 1


def _references(root: Path, rmap: RepoMap, ids: set[str]) -> list[str]:
    """``./start.sh X``, ``[bench-X]`` and `` `bench-X` `` that name no profile, at their line.

    ``start.sh`` counts as a command only as ``./start.sh X`` or inside code (prose such as "start.sh
    should not need env tricks" names no profile)."""
    problems = []
    for rel in _reference_files(root, rmap):
        try:
            text = (root / rel).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # the map already reports a file it cannot read
        blanked = mb.blank_blocks(text, mb.GENERATED)  # blocks: docs_blocks' own
        for number, line in enumerate(blanked.split("\n"), start=1):
            found = [m.group(2).rstrip(".") for m in _START_RE.finditer(line)
                     if m.group(1) or _in_code(line, m.start())]
            found += [m.group(1) for m in _BENCH_BRACKET_RE.finditer(line)]
            found += [m.group(1) for m in _BENCH_CODE_RE.finditer(line)
                      if m.group(1) not in _NOT_IDS and not _FILE_EXT_RE.search(m.group(1))]
            for ref in dict.fromkeys(found):
                if ref not in ids:
                    problems.append(f"{rel}:{number}: refers to profile [{ref}], which models.conf does not "
                                    f"have; {_suggest(ref, ids)}")
    return problems


def _pipeline_entries(root: Path, ids: set[str]) -> list[str]:
    """Entries of the benchmark pipeline's own files for bench profiles that are gone: a ``[bench-X]``
    section of bench-client.conf, a ``"bench-X"`` key of generate-report.py's name and reference maps."""
    problems = []
    for rel, pattern, what in _PIPELINE_FILES:
        path = root / rel
        if not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        for number, line in enumerate(text.split("\n"), start=1):
            if line.lstrip().startswith("#"):
                continue
            for ref in dict.fromkeys(m.group(1) for m in pattern.finditer(line)):
                if ref not in ids and ref not in _NOT_IDS:
                    problems.append(f"{rel}:{number}: {what} [{ref}], which models.conf does not have; remove it "
                                    f"or add the profile")
    return problems


def _suggest(ref: str, ids: set[str]) -> str:
    return did_you_mean(ref, sorted(ids), n=1, cutoff=0.8, show="[{}]".format) or "correct or remove the reference"

