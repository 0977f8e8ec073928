"""The lessons a person wrote down in docs/lessons_learned.md that apply to a new plan.

Why: a person who has tuned profiles by hand wrote down their pitfalls ("gemma3 needs -fa off",
"MoE offload with -ot leaves the GPU idle"). The file is theirs and hand-written, read as data: each
bullet (with its continuation lines and any code block under it), paragraph or table row is a lesson,
and a lesson applies when it mentions the model's architecture, its kind (MoE, dense, sliding window,
MLA, thinking) or one of the plan's flags.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from onboard.llamacpp.errors import BadInput

if TYPE_CHECKING:
    from onboard.phases.profile_references import PlanFacts

LESSONS = "docs/lessons_learned.md"
MOE_FLAGS = ("--n-cpu-moe", "-ncmoe", "--cpu-moe", "-cmoe")
OT_FLAGS = ("-ot", "--override-tensor")


@dataclass(frozen=True)
class Pitfall:
    """A lesson (bullet, paragraph or table row) of docs/lessons_learned.md that applies to the plan."""

    path: str
    line: int
    heading: str
    text: str
    matched: tuple[str, ...]

    @property
    def at(self) -> str:
        return f"{self.path}:{self.line}"

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at, "heading": self.heading, "matched": list(self.matched)}


# --- reading the file ---------------------------------------------------------------------
_HEADING_RE = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_BULLET_RE = re.compile(r"^(\s*)(?:[-*+]|\d+[.)])\s+(.*)$")
_FENCE_RE = re.compile(r"^\s*(```|~~~)")
_TABLE_SEP_RE = re.compile(r"^\s*\|?\s*:?-{2,}")


@dataclass
class _Lesson:
    line: int
    heading: str
    text: str
    more: list[str] = field(default_factory=list)  # continuation lines
    code: list[str] = field(default_factory=list)  # code blocks under it: matched, not shown

    @property
    def prose(self) -> str:
        return " ".join([self.text, *self.more])

    @property
    def words(self) -> str:
        return " ".join([self.heading, self.prose, *self.code])


def lessons(text: str) -> list[_Lesson]:
    """A markdown text as lessons: each bullet (with its continuation lines and any code block under
    it), paragraph or table row, with its line and the heading it is under."""
    out: list[_Lesson] = []
    heading, current, fenced, after_blank = "", None, False, False
    for no, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        if _FENCE_RE.match(line):
            fenced = not fenced
            continue
        if fenced:  # code under a lesson belongs to it (a -ot rule, a command line)
            if current is not None:
                current.code.append(line)
            continue
        if not line.strip():
            after_blank = True
            continue
        blank_before, after_blank = after_blank, False
        h = _HEADING_RE.match(line)
        if h:
            heading, current = h[2], None
            continue
        b = _BULLET_RE.match(line)
        if b:
            current = _Lesson(no, heading, b[2].strip())
            out.append(current)
        elif line.lstrip().startswith("|"):
            if not _TABLE_SEP_RE.match(line):
                cells = [c.strip() for c in line.strip().strip("|").split("|")]
                out.append(_Lesson(no, heading, " | ".join(c for c in cells if c)))
            current = None
        elif current is not None and (not blank_before or raw[:1].isspace()):
            current.more.append(line.strip())  # the same bullet or paragraph goes on
        else:
            current = _Lesson(no, heading, line.strip())
            out.append(current)
    return out


def _terms(facts: PlanFacts) -> list[tuple[str, re.Pattern[str]]]:
    """What a lesson must mention to apply: the architecture, the model's kind, the plan's flags."""
    terms: list[tuple[str, re.Pattern[str]]] = []
    if facts.arch:
        terms.append((facts.arch, _name_re(facts.arch)))
        base = re.sub(r"[-_]?moe$", "", facts.arch)
        if base != facts.arch and base:
            terms.append((base, _name_re(base)))
    if facts.moe:
        terms.append(("MoE", re.compile(r"\bMoE\b|mixture[ -]of[ -]experts|\bexperts?\b", re.I)))
    else:
        terms.append(("dense", re.compile(r"\bdense\b", re.I)))
    if facts.swa:
        terms.append(("SWA", re.compile(r"\bSWA\b|sliding[ -]window", re.I)))
    if facts.mla:
        terms.append(("MLA", re.compile(r"\bMLA\b|multi-head latent", re.I)))
    if facts.thinking:
        terms.append(("thinking", re.compile(r"\bthinking\b|\breasoning\b|<think>", re.I)))
    args = set(facts.args)
    flag = lambda *names: re.compile("|".join(rf"(?<![\w-]){re.escape(n)}(?![\w-])" for n in names))  # noqa: E731
    if args & set(OT_FLAGS):
        terms.append(("-ot", re.compile(flag("-ot", "--override-tensor").pattern + r"|override[ -]tensor", re.I)))
    if args & set(MOE_FLAGS):
        terms.append(("--n-cpu-moe", flag("--n-cpu-moe", "-ncmoe", "--cpu-moe", "-cmoe", "n-cpu-moe", "cpu-moe")))
    if args & {"-fa", "--flash-attn"}:
        terms.append(("-fa", re.compile(flag("-fa", "--flash-attn").pattern + r"|flash[ -]attention", re.I)))
    if _quantized_cache(facts.args):
        terms.append(("-ctk/-ctv", re.compile(flag("-ctk", "-ctv", "--cache-type-k", "--cache-type-v").pattern
                                              + r"|(?:KV|cache)[ -](?:cache[ -])?quantiz|q8_0 (?:KV|cache)", re.I)))
    if args & {"-ts", "--tensor-split"}:
        terms.append(("-ts", re.compile(flag("-ts", "--tensor-split").pattern + r"|tensor[ -]split", re.I)))
    return terms


def _name_re(name: str) -> re.Pattern[str]:
    """``gemma3`` also as "Gemma 3" / "gemma-3" (not "gemma 30"); ``qwen3moe`` as "Qwen3 MoE"."""
    parts = re.findall(r"[a-z]+|\d+", name.lower())
    body = r"[\s_-]?".join(re.escape(p) for p in parts)
    return re.compile(rf"(?<![a-z0-9]){body}(?![0-9]|\.\d)", re.I)


def _quantized_cache(args: Sequence[str]) -> bool:
    args = list(args)
    return any(a in ("-ctk", "-ctv", "--cache-type-k", "--cache-type-v") and i + 1 < len(args)
               and args[i + 1] not in ("f16", "f32", "bf16") for i, a in enumerate(args))


def pitfalls(root: Path, facts: PlanFacts) -> list[Pitfall]:
    """The lessons of ``root/docs/lessons_learned.md`` that mention the model's architecture, its kind
    (MoE, dense, sliding window, MLA, thinking) or one of the plan's flags, in file order. A missing
    file is no lessons; an unreadable one raises BadInput naming it."""
    path = root / LESSONS
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        return []
    except OSError as err:
        raise BadInput(f"cannot read: {err.strerror}", path=LESSONS) from None
    except UnicodeDecodeError:
        raise BadInput("not valid UTF-8", path=LESSONS, fix="save the file as UTF-8") from None
    terms = _terms(facts)
    out = []
    for lesson in lessons(text):
        matched = tuple(label for label, regex in terms if regex.search(lesson.words))
        if matched:
            out.append(Pitfall(LESSONS, lesson.line, lesson.heading, _short(lesson.prose), matched))
    return out


def _short(text: str, limit: int = 140) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."
