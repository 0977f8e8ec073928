"""Where a models repository keeps its candidate cards: ``models/documentation/CANDIDATES/README_<name>.md``.

Why one home: the workflow starts a candidate from its card, the contract hands a phase its card, the
docs read every card for facts and tables, adoption matches a profile to its card. They must agree on
the path, and on which card belongs to which profile (people save ``README_Qwen3-32B.md`` for the
profile ``[qwen3-32b]``: the name slugged, as ``phases.contract.profile_id`` makes profile ids).
"""
from __future__ import annotations

from pathlib import Path

from onboard.llamacpp.candidate_card import CANDIDATES_DIR

CARD_PREFIX = "README_"


def card_relpath(name: str) -> str:
    """The card of candidate ``name``, relative to the repository root (POSIX separators)."""
    return f"{CANDIDATES_DIR.as_posix()}/{CARD_PREFIX}{name}.md"


def card_files(root: Path) -> list[tuple[str, Path]]:
    """``(candidate name, path)`` of every card in the repository, sorted by path; [] without the folder."""
    folder = Path(root) / CANDIDATES_DIR
    if not folder.is_dir():
        return []
    return [(path.stem[len(CARD_PREFIX):], path) for path in sorted(folder.glob(f"{CARD_PREFIX}*.md"))]


def card_for_profile(root: Path, profile_id: str) -> tuple[str, Path] | None:
    """The first card whose candidate name makes the profile id ``profile_id``, or None."""
    from onboard.phases.contract import profile_id as slug

    return next(((name, path) for name, path in card_files(root) if slug(name) == profile_id), None)
