"""The person's own experience, shown beside a new plan: their tested profiles most like it, and the
lessons in docs/lessons_learned.md that apply to it.

Why: a person who has tuned profiles by hand plans a new one by looking at the nearest tested one
("my other MoE of that size runs strategy C at 24 t/s, 21.8 GB on the 4090") and at the pitfalls they
wrote down. Both files are theirs and hand-written, so they are read as data in the formats people
write (``SPEED=24.5 t/s``, ``# GPU0 21.8 GB / GPU1 14.2 GB``, ``# 4090: 22.1GB, 5070Ti: 13.9GB``,
``# VRAM: 23.5/15.8 GB``, ``# Strategy: B (...)``, onboard's own ``measured CUDA0: ...`` lines). A
figure in a format not listed here is left out, never guessed; an estimated speed is never shown as
a measured one. The lessons are read by ``phases.profile_lessons``; this module reads the tested
profiles, picks the nearest ones and puts both together for the profile phase (``find``).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from onboard.llamacpp.errors import BadInput
from onboard.phases.profile_lessons import LESSONS, MOE_FLAGS, OT_FLAGS, Pitfall, pitfalls

NOT_YET_TESTED = "NOT YET TESTED"
MIB_PER_GB = 1024.0  # people copy GB from nvidia-smi / the server log, which count binary units
MAX_LESSONS_SHOWN = 10

# --- models.conf comments -------------------------------------------------------------------

_SPEED_RE = re.compile(r"(?<![\w.])(~?)(\d+(?:\.\d+)?)\s*(?:t(?:ok(?:ens?)?)?/s|tps)\b", re.I)
_SPEED_RANGE_RE = re.compile(r"\d\s*(?:-|–|to)\s*\d+(?:\.\d+)?\s*(?:t(?:ok(?:ens?)?)?/s|tps)\b", re.I)
_NOT_MEASURED_RE = re.compile(r"estimat|predict|guess|expected|\?", re.I)
_STRATEGY_RE = re.compile(r"(?i:\bstrategy)\s*[:=]?\s*((?:[A-D]|L|CPU)(?:\s*\+\s*(?:[A-D]|L))*)(?![\w])")
_UNIT = r"(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>GiB|GB|MiB|MB)\b"
# a backend device (GPU0, CUDA1, Vulkan0): "GPU0 21.8 GB", "CUDA0: 21.8 GB", "GPU0=21.8GB"
_BACKEND_MEM_RE = re.compile(r"(?<![\w-])(?P<dev>(?:GPU|CUDA|Vulkan|ROCm|SYCL|Metal|MTL)\d*)\s*[:=]?\s*(?P<tilde>~)?"
                             + _UNIT, re.I)
# a card's model number (4090, 5070Ti, RTX 3090): only with a colon, "4090: 22.1GB", so that a
# hardware line "RTX 4090 24GB" (its capacity) is never read as what a profile uses
_CARD_MEM_RE = re.compile(r"(?<![\w.])(?P<dev>(?:(?:RTX|GTX|RX|Arc)\s?)?\d{4}\s?(?:Ti|Super|XTX|XT)?)\s*:\s*"
                          r"(?P<tilde>~)?" + _UNIT, re.I)
# "VRAM: 23.5/15.8 GB": one figure per GPU in device order
_VRAM_RE = re.compile(r"\bVRAM\s*[:=]?\s*(?P<tilde>~)?(?P<nums>\d+(?:\.\d+)?(?:\s*(?:GiB|GB|MiB|MB)?\s*/\s*~?"
                      r"\d+(?:\.\d+)?)*)\s*(?P<unit>GiB|GB|MiB|MB)\b", re.I)
# onboard's own, written by the test phase: "measured CUDA0: weights 1234 MiB, KV 256 MiB, compute 300 MiB"
_ONBOARD_MEASURED_RE = re.compile(r"^measured (?P<dev>\S+): (?P<parts>.*)$")
_ONBOARD_PART_RE = re.compile(r"(\d+(?:\.\d+)?) MiB")
_HOST_DEVICE_RE = re.compile(r"^(?:CPU.*|.*_Host|AMX|KleidiAI.*|BLAS|RAM|Host)$", re.I)
_ESTIMATE_LINE_RE = re.compile(r"estimat|predict|budget|expected|capacity|\bfree\b", re.I)

_TESTED_LINE_RE = re.compile(r"\b(?:tested|measured)\b", re.I)
_MOE_WORDS_RE = re.compile(r"\bMoE\b|\bexperts?\b|mixture[ -]of[ -]experts|\bA\d+(?:\.\d+)?B\b", re.I)
_DENSE_WORD_RE = re.compile(r"\bdense\b", re.I)


@dataclass
class Reference:
    """One of the person's tested production profiles, as its section and comments say."""

    id: str
    line: int  # the [id] header's line in models.conf
    name: str = ""
    model: str = ""
    speed_tps: float | None = None  # measured generation speed; None when not written or only estimated
    speed_text: str = ""  # SPEED as written
    memory_mib: dict[str, float] = field(default_factory=dict)  # per GPU as written (file order)
    memory_line: int | None = None  # where the memory figures were read
    strategy: str | None = None  # "C", "B+C", ... as the comments name it
    kind: str | None = None  # "MoE" or "dense"; None when nothing says
    kind_source: str = ""
    size_bytes: int | None = None  # the MODEL file(s) on disk; None when they are not there

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "line": self.line, "speed_tps": self.speed_tps, "strategy": self.strategy,
                "kind": self.kind, "memory_gb": {d: round(m / MIB_PER_GB, 1) for d, m in self.memory_mib.items()},
                "size_gb": None if self.size_bytes is None else round(self.size_bytes / 1024 ** 3, 1)}


@dataclass(frozen=True)
class PlanFacts:
    """What the new plan is, in the terms references and lessons are compared by."""

    arch: str | None = None  # GGUF general.architecture ("gemma3", "qwen3moe")
    moe: bool = False
    size_bytes: int | None = None
    strategy: str | None = None
    args: tuple[str, ...] = ()
    swa: bool = False
    mla: bool = False
    thinking: bool = False

    @property
    def kind(self) -> str:
        return "MoE" if self.moe else "dense"


@dataclass(frozen=True)
class Near:
    """A reference chosen by :func:`nearest`, with the one-line reason it was chosen."""

    reference: Reference
    why: str


def plan_facts(plan, header, model_path: Path | None = None, *, thinking: bool = False) -> PlanFacts:
    """PlanFacts of a planner Plan for a GGUF header; the size is that of the model's files on disk
    (every shard), else the tensor bytes of the header."""
    from onboard.llamacpp.planner.model_facts import model_facts

    facts = model_facts(header)
    size = model_size(model_path.parent, model_path.name) if model_path is not None else None
    if size is None:
        size = sum(t.n_bytes for t in header.tensors) or None
    return PlanFacts(arch=header.architecture, moe=facts.is_moe, size_bytes=size, strategy=plan.strategy,
                     args=tuple(plan.args), swa=facts.n_swa > 0, mla=facts.is_mla, thinking=thinking)


# --- tested profiles ------------------------------------------------------------------------

def tested_profiles(root: Path, *, exclude: Sequence[str] = ()) -> list[Reference]:
    """Every tested production profile of ``root/models.conf`` (file order): not a ``bench-`` profile,
    no NOT YET TESTED comment. A missing file is no profiles; a malformed one raises BadInput."""
    from onboard.store.models_conf import ModelsConf

    conf = ModelsConf.load(root / "models.conf")
    refs = []
    for section in conf.sections:
        if section.id.startswith("bench-") or section.id in exclude:
            continue
        if NOT_YET_TESTED.lower() in section.text.lower():
            continue
        refs.append(_reference(root, section))
    return refs


def _reference(root: Path, section) -> Reference:  # section: store.models_conf.Section
    values = section.values
    first_line = section.line - len(section.comments)
    comments = [(first_line + i, line.strip().lstrip("#").strip())
                for i, line in enumerate(section.text.splitlines()) if line.strip().startswith("#")]
    ref = Reference(id=section.id, line=section.line, name=values.get("NAME", ""), model=values.get("MODEL", ""),
                    speed_text=values.get("SPEED", ""))
    ref.speed_tps = measured_speed(ref.speed_text)
    if ref.speed_tps is None:  # SPEED left as the estimate, the measurement written in a comment
        for _, text in comments:
            if _TESTED_LINE_RE.search(text) and not _ESTIMATE_LINE_RE.search(text) \
                    and (speed := measured_speed(text)) is not None:
                ref.speed_tps, ref.speed_text = speed, text
                break
    ref.memory_mib, ref.memory_line = memory_from_comments(comments)
    ref.strategy = next((s for _, text in comments if (s := strategy_letter(text))), None) \
        or strategy_letter(values.get("DESCRIPTION", ""))
    ref.kind, ref.kind_source = _kind(values, [text for _, text in comments])
    ref.size_bytes = model_size(root, ref.model) if ref.model else None
    return ref


def measured_speed(text: str) -> float | None:
    """The generation speed a SPEED value states as measured: ``24.5 t/s`` -> 24.5; ``~24 t/s
    (estimated)``, ``unknown``, ``80-90 t/s`` -> None (an estimate or a range is not a measurement)."""
    if not text or _NOT_MEASURED_RE.search(text) or _SPEED_RANGE_RE.search(text):
        return None
    m = _SPEED_RE.search(text)
    return float(m[2]) if m else None


def strategy_letter(text: str) -> str | None:
    """``Strategy C``, ``# Strategy: B (layer split)``, onboard's ``strategy B+C: ...`` -> the letters."""
    m = _STRATEGY_RE.search(text)
    return re.sub(r"\s+", "", m[1]) if m else None


def memory_from_comments(comments: Sequence[tuple[int, str]]) -> tuple[dict[str, float], int | None]:
    """Per-GPU memory in use (MiB) from the first comment line that states it in a known format.

    Lines that state a prediction, estimate, budget or capacity are passed over, and so is a figure
    written with ``~``: only what a person (or onboard's test phase) measured is a reference.
    onboard's own ``measured DEV:`` lines win over hand-written ones (they come from the log).
    """
    ours: dict[str, float] = {}
    ours_line = None
    for line, text in comments:
        m = _ONBOARD_MEASURED_RE.match(text)
        if m and not _HOST_DEVICE_RE.match(m["dev"]):
            ours[m["dev"]] = sum(float(v) for v in _ONBOARD_PART_RE.findall(m["parts"]))
            ours_line = ours_line or line
    if ours:
        return ours, ours_line
    for line, text in comments:
        if _ESTIMATE_LINE_RE.search(text):
            continue
        found = memory_in_line(text)
        if found:
            return found, line
    return {}, None


def memory_in_line(text: str) -> dict[str, float]:
    """The per-GPU figures of one comment line in the formats people write; {} when none."""
    out: dict[str, float] = {}
    m = _VRAM_RE.search(text)
    if m and not m["tilde"] and "~" not in m["nums"]:
        unit = m["unit"]
        nums = re.findall(r"\d+(?:\.\d+)?", m["nums"])
        for i, num in enumerate(nums):
            out[f"GPU{i}"] = _mib(float(num), unit)
        return out
    for regex in (_BACKEND_MEM_RE, _CARD_MEM_RE):
        for m in regex.finditer(text):
            dev = re.sub(r"\s+", "", m["dev"])
            if m["tilde"] or _HOST_DEVICE_RE.match(dev) or dev in out:
                continue
            out[dev] = _mib(float(m["num"]), m["unit"])
        if out:
            return out
    return out


def _mib(value: float, unit: str) -> float:
    return value * MIB_PER_GB if unit.lower() in ("gb", "gib") else value


def _kind(values: dict[str, str], comments: Sequence[str]) -> tuple[str | None, str]:
    """MoE or dense: the profile's flags say it for sure (expert rules, --n-cpu-moe); else its
    comments, NAME or DESCRIPTION when they name only one of the two; else unknown."""
    from onboard.store.models_conf import split_extra_args

    try:
        args = split_extra_args(values.get("EXTRA_ARGS", ""))
    except BadInput:
        args = []
    if any(a in MOE_FLAGS for a in args):
        return "MoE", "--n-cpu-moe" if any(a in ("--n-cpu-moe", "-ncmoe") for a in args) else "--cpu-moe"
    rules = [args[i + 1] for i, a in enumerate(args[:-1]) if a in OT_FLAGS]
    if any("exps" in rule for rule in rules):
        return "MoE", "-ot expert rule"
    words = " ".join([values.get("NAME", ""), values.get("DESCRIPTION", ""), *comments])
    moe, dense = bool(_MOE_WORDS_RE.search(words)), bool(_DENSE_WORD_RE.search(words))
    if moe != dense:
        return ("MoE" if moe else "dense"), "comments"
    return None, ""


def model_size(root: Path, model: str) -> int | None:
    """Bytes of a profile's MODEL on disk, every shard of a split model summed; None when the file
    (or one of its shards) is not there."""
    from onboard.llamacpp.gguf_header import split_shard_paths

    path = Path(model)
    path = path if path.is_absolute() else root / path
    paths = split_shard_paths(path) or [path]
    try:
        return sum(p.stat().st_size for p in paths)
    except OSError:
        return None


# --- nearest --------------------------------------------------------------------------------

def nearest(references: Sequence[Reference], plan_facts: PlanFacts, n: int = 3) -> list[Near]:
    """The ``n`` references most like the new plan: same dense/MoE kind first, then the nearest model
    size (within a factor of two counts as near; unknown sizes last), then the same strategy."""
    def key(item: tuple[int, Reference]):
        order, ref = item
        kind_rank = 2 if ref.kind is None else (0 if ref.kind == plan_facts.kind else 3)
        distance = _size_distance(ref.size_bytes, plan_facts.size_bytes)
        bucket = 99 if distance is None else int(distance)  # octaves apart
        return (kind_rank, bucket, _strategy_rank(ref.strategy, plan_facts.strategy),
                math.inf if distance is None else distance, order)

    ranked = sorted(enumerate(references), key=key)[:n]
    return [Near(ref, _why(ref, plan_facts)) for _, ref in ranked]


def _size_distance(a: int | None, b: int | None) -> float | None:
    if not a or not b:
        return None
    return abs(math.log2(a / b))


def _letters(strategy: str | None) -> set[str]:
    return set(strategy.split("+")) if strategy else set()


def _strategy_rank(ref: str | None, plan: str | None) -> int:
    if ref and plan and ref == plan:
        return 0
    if _letters(ref) & _letters(plan):
        return 1
    return 2


def _why(ref: Reference, facts: PlanFacts) -> str:
    parts = []
    if ref.kind is None:
        parts.append("kind not stated")
    elif ref.kind == facts.kind:
        parts.append(f"same kind ({ref.kind}, from {ref.kind_source})")
    else:
        parts.append(f"{ref.kind}, not {facts.kind}")
    if ref.size_bytes and facts.size_bytes:
        parts.append(f"model {_gb(ref.size_bytes)} vs {_gb(facts.size_bytes)}")
    else:
        parts.append("model size unknown (file not here)" if not ref.size_bytes else "new model's size unknown")
    rank = _strategy_rank(ref.strategy, facts.strategy)
    if rank == 0:
        parts.append(f"same strategy {ref.strategy}")
    elif rank == 1:
        parts.append(f"shares strategy {'+'.join(sorted(_letters(ref.strategy) & _letters(facts.strategy)))}")
    return ", ".join(parts)


def _gb(size: float) -> str:
    return f"{size / 1024 ** 3:.1f} GB"


# --- what the profile phase shows -----------------------------------------------------------

@dataclass
class Findings:
    near: list[Near] = field(default_factory=list)
    pitfalls: list[Pitfall] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """What the profile phase prints; nothing when the repository has neither file's content."""
        out = [f"warning: {w}" for w in self.warnings]
        if self.near:
            out.append("Your tested profiles nearest to this one:")
            for near in self.near:
                ref = near.reference
                speed = f"{ref.speed_tps:g} t/s" if ref.speed_tps is not None else "speed not measured"
                memory = ", ".join(f"{d} {m / MIB_PER_GB:.1f} GB" for d, m in ref.memory_mib.items()) \
                    or "memory not recorded"
                out.append(f"  [{ref.id}] strategy {ref.strategy or '?'}, {speed}, {memory} ({near.why})")
        if self.pitfalls:
            out.append(f"Lessons from {LESSONS} that apply:")
            for p in self.pitfalls[:MAX_LESSONS_SHOWN]:
                heading = f"{p.heading}: " if p.heading else ""
                out.append(f"  {p.at}: {heading}{p.text}  [{', '.join(p.matched)}]")
            if len(self.pitfalls) > MAX_LESSONS_SHOWN:
                out.append(f"  ... and {len(self.pitfalls) - MAX_LESSONS_SHOWN} more in {LESSONS}")
        return out

    def to_json(self) -> dict[str, Any]:
        """Small enough for the candidate's options (status --json): ids, figures, places."""
        return {"nearest": [{**n.reference.to_json(), "why": n.why} for n in self.near],
                "lessons": [p.to_json() for p in self.pitfalls[:MAX_LESSONS_SHOWN]],
                "lessons_total": len(self.pitfalls)}


def find(root: Path, facts: PlanFacts, *, exclude: Sequence[str] = (), n: int = 3) -> Findings:
    """References and lessons for a plan; a file that cannot be read becomes a warning naming it,
    never an error (the plan stands without them)."""
    found = Findings()
    try:
        found.near = nearest(tested_profiles(root, exclude=exclude), facts, n)
    except BadInput as err:
        found.warnings.append(f"tested profiles not shown: {err.message}")
    try:
        found.pitfalls = pitfalls(root, facts)
    except BadInput as err:
        found.warnings.append(f"lessons not shown: {err.message}")
    return found
