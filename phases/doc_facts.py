"""A model's facts for the docs: what a docs entry can say about it, gathered once.

Why its own module: every place in a person's docs (a table row, a tree line, a list item, a section)
shows some of the same facts, in the shared field vocabulary (``phases.doc_fields``). They come from
the production profile (NAME, DESCRIPTION, SPEED, MODEL, CTX_SIZE, EXTRA_ARGS and the measured-memory
comments the test phase leaves), the candidate's options, its card, the model's GGUF header when the
file is there, and the benchmark scores. A fact nobody knows yet is None (written ``TBD`` by the
renderers), never guessed.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from onboard.llamacpp.server_command import flag_value
from onboard.phases.doc_fields import FIELDS

TBD = "TBD"  # what a cell holds when the fact is not known yet: plain to see, easy to search for
SAMPLER_FLAGS = {"temp": "--temp", "top_p": "--top-p", "top_k": "--top-k", "min_p": "--min-p",
                 "repeat_penalty": "--repeat-penalty", "presence_penalty": "--presence-penalty"}
QUANT_IN_TEXT = re.compile(r"\b(?:UD-)?(?:I?Q\d[A-Z0-9_]*|BF16|F16|F32|MXFP4[A-Z0-9_]*)\b", re.I)
_MEASURED = re.compile(r"^#?\s*measured (\S+): (.*)$")
_MIB = re.compile(r"(\d+(?:\.\d+)?) MiB")
_STRATEGY = re.compile(r"\bstrategy ([A-DL](?:\+[A-DL])*|CPU|given)\b", re.I)


# -- facts ----------------------------------------------------------------------------------------------
def model_facts(root: Path, profile_id: str, options: dict[str, Any]) -> dict[str, str | None]:
    """The facts about ``[profile_id]`` a docs entry can show, keyed by the doc_fields vocabulary.

    Values are written as a person writes them (speed to 0.1 t/s, an estimate as ``~N t/s``, scores as
    percentages to 0.1; memory exact in MiB per device, rounded by each column as its rows are); None =
    not known (rendered as ``TBD``). One key beyond
    the vocabulary: ``card``, the candidate card's path, for a section's source line. A profile that
    models.conf lacks is BadInput: the docs cannot describe what the profile phase has not written.
    """
    from onboard.llamacpp.errors import BadInput
    from onboard.store.models_conf import ModelsConf, split_extra_args

    conf = ModelsConf.load(Path(root) / "models.conf")
    section = conf.section(profile_id)
    if section is None:
        raise BadInput(f"models.conf has no [{profile_id}] profile", path=str(Path(root) / "models.conf"),
                       fix="the profile phase writes it: onboard rollback NAME back to it")
    values = section.values
    try:
        args = split_extra_args(values.get("EXTRA_ARGS", ""))
    except BadInput:
        args = []
    facts: dict[str, str | None] = dict.fromkeys(FIELDS)
    model = values.get("MODEL") or None
    header = _header(Path(root), model)
    summary = _summary(header)
    card = _card(Path(root), profile_id)
    bench = f"bench-{profile_id}"
    facts.update({
        "profile": profile_id,
        "model": values.get("NAME") or options.get("display_name") or profile_id,
        "start": f"./start.sh {profile_id}",
        "bench": bench if conf.section(bench) is not None else None,
        "file": model,
        "quant": options.get("quant") or _quant_of(model, values.get("DESCRIPTION", "")),
        "context": values.get("CTX_SIZE") or None,
        "speed": speed_text(values.get("SPEED", "")),
        "vram": vram_text(device_memory(section.comments)),
        "strategy": _strategy(values.get("DESCRIPTION", ""), section.comments),
        "description": values.get("DESCRIPTION") or None,
        "status": "untested" if any("NOT YET TESTED" in c for c in section.comments) else "tested",
    })
    if summary is not None:
        moe = summary.kind == "moe"
        facts["arch"] = "MoE" if moe else "Dense"
        facts["params"] = params_text(summary.total_params)
        facts["active"] = params_text(summary.active_params if moe else summary.total_params)
    elif options.get("architecture"):
        facts["arch"] = str(options["architecture"])
    for field, flag in SAMPLER_FLAGS.items():
        facts[field] = flag_value(args, flag)
    facts["thinking"] = _yes_no(_thinking(options, card))
    facts["tools"] = _yes_no(_tools(card, header))
    if (options.get("chat") or {}).get("kind") == "base":  # no chat, hence no tools: what the file is, not the card
        facts["tools"] = "No"
        facts["notes"] = facts.get("notes") or "completion only (base model)"
    facts["vision"] = _yes_no(_vision(Path(root), model, args, header))
    facts["system_prompt"] = (options.get("samplers") or {}).get("system_prompt") or None
    scores = benchmark_scores(Path(root), bench)
    if scores:
        facts["humaneval"] = percent(scores.get("humaneval"))
        facts["humaneval_plus"] = percent(scores.get("humaneval_plus"))
        facts["status"] = "benchmarked" if facts["status"] == "tested" else facts["status"]
    facts["reference"] = _reference(Path(root), bench)
    facts["card"] = _relative(card.path, Path(root)) if card is not None else None  # a section's source line
    return facts


def speed_text(speed: str) -> str | None:
    """``SPEED`` as a person writes it: ``45.3 t/s`` measured, ``~45 t/s`` estimated, None unknown."""
    m = re.search(r"(\d+(?:\.\d+)?)\s*(?:t/s|tok/s|tokens/s)", speed)
    if not m:
        return None
    value = float(m.group(1))
    if "~" in speed or "estimat" in speed.lower():
        return f"~{value:.0f} t/s"
    return f"{value:.1f} t/s"


def device_memory(comments: Sequence[str]) -> dict[str, float]:
    """Measured MiB per device from the test phase's ``measured DEV: weights N MiB, KV N MiB, ...`` comments."""
    out: dict[str, float] = {}
    for comment in comments:
        m = _MEASURED.match(comment.strip())
        if m and m.group(1) != "CPU":
            out[m.group(1)] = sum(float(x) for x in _MIB.findall(m.group(2)))
    return out


def vram_text(memory: dict[str, float]) -> str | None:
    """``CUDA0 21811 MiB + CUDA1 14234 MiB``, exact, so each docs column can round it its own way
    (``21.3 GB``, ``21 GB``, ``21811 MiB``); None when unmeasured."""
    if not memory:
        return None
    return " + ".join(f"{dev} {mib:.0f} MiB" for dev, mib in memory.items())


def params_text(count: int | float | None) -> str | None:
    """A parameter count as model names write it: ``30.5B``, ``270M``."""
    if not count:
        return None
    if count >= 1e9:
        return f"{count / 1e9:.1f}B".replace(".0B", "B")
    return f"{count / 1e6:.0f}M"


def percent(fraction: float | None) -> str | None:
    return None if fraction is None else f"{fraction * 100:.1f}%"


def benchmark_scores(root: Path, bench: str) -> dict[str, float] | None:
    """HumanEval / HumanEval+ pass@1 (fractions) of ``[bench]``: the owner's pipeline first, else ours."""
    try:
        from onboard.phases.owner_results import latest_scores
    except ImportError:  # a repository without the owner's pipeline code path
        latest_scores = None
    if latest_scores is not None:
        try:
            scores = latest_scores(root, bench)
        except Exception:  # noqa: BLE001 - a broken results file is the docs check's to report
            scores = None
        if scores:
            return scores
    from onboard.phases.bench_pipeline import summaries

    found = [s for s in summaries(root) if s.get("profile") == bench and s.get("dataset") == "humaneval"]
    if not found:
        return None
    latest = max(found, key=lambda s: str(s.get("date") or ""))
    return {"humaneval": latest.get("base_pass1"), "humaneval_plus": latest.get("plus_pass1")}


def _reference(root: Path, bench: str) -> str | None:
    from onboard.llamacpp.errors import BadInput
    from onboard.phases import bench_pipeline as bp

    try:
        entry = bp.load_json(root, bp.MODELS_JSON).get(bench) or {}
    except BadInput:
        return None
    ref = (entry.get("reference") or {}) if isinstance(entry, dict) else {}
    value = ref.get("humaneval_plus") if isinstance(ref, dict) else None
    if isinstance(value, (int, float)):
        return percent(value) if value <= 1 else f"{value:.1f}%"
    return None


def _header(root: Path, model: str | None):  # -> llamacpp.gguf_header.GGUFHeader | None
    if not model:
        return None
    path = Path(model) if Path(model).is_absolute() else root / model
    if not path.is_file():
        return None
    try:
        from onboard.llamacpp.gguf_header import read_header

        return read_header(path)
    except Exception:  # noqa: BLE001 - facts from the header are a bonus; the test phase checked the file
        return None


def _summary(header):  # -> llamacpp.model_summary.ModelSummary | None
    if header is None:
        return None
    try:
        from onboard.llamacpp.model_summary import summarize

        return summarize(header)
    except Exception:  # noqa: BLE001
        return None


def _card(root: Path, profile_id: str):  # -> llamacpp.candidate_card.CandidateCard | None
    from onboard.llamacpp.candidate_card import load_card
    from onboard.phases.repo_layout import card_for_profile

    found = card_for_profile(root, profile_id)
    if found is None:
        return None
    try:
        return load_card(found[1], require_repo=False)
    except Exception:  # noqa: BLE001 - a card that does not read gives no facts
        return None


def _relative(path: Path, root: Path) -> str:
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _quant_of(model: str | None, description: str) -> str | None:
    if model:
        parts = re.split(r"[\\/]+", model)
        if len(parts) >= 3 and QUANT_IN_TEXT.fullmatch(parts[-2]):
            return parts[-2]
        m = QUANT_IN_TEXT.search(parts[-1].replace(".gguf", ""))
        if m:
            return m.group(0).upper()
    m = QUANT_IN_TEXT.search(description)
    return m.group(0) if m else None


def _strategy(description: str, comments: Sequence[str]) -> str | None:
    for text in [description, *comments]:
        m = _STRATEGY.search(text)
        if m:
            return m.group(1).upper() if m.group(1).lower() not in ("cpu", "given") else m.group(1)
    return None


def _thinking(options: dict[str, Any], card) -> bool | None:
    if "thinking" in options:
        return bool(options["thinking"])
    if card is not None:
        return bool(card.thinking)
    found = (options.get("samplers") or {}).get("thinking_model")
    return None if found is None else bool(found)


def _tools(card, header) -> bool | None:
    if card is not None and isinstance(card.metadata.get("tools"), bool):
        return card.metadata["tools"]
    template = (header.metadata.get("tokenizer.chat_template") if header is not None else None)
    if isinstance(template, str) and template:
        return bool(re.search(r"\btools\b", template))
    return None


def _vision(root: Path, model: str | None, args: Sequence[str], header) -> bool | None:
    if "--mmproj" in args or any(a.startswith("--mmproj=") for a in args):
        return True
    if header is None or not model:
        return None
    folder = (Path(model) if Path(model).is_absolute() else root / model).parent
    return any(folder.glob("mmproj*.gguf"))


def _yes_no(value: bool | None) -> str | None:
    return None if value is None else ("Yes" if value else "No")
