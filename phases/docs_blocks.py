"""Generated blocks in the docs: text between ``<!-- BEGIN GENERATED: id -->`` and
``<!-- END GENERATED: id -->`` comes from code and data; everything around it is hand-written and
never touched.

This module holds the mechanism (the markers themselves are found and replaced by
``store.marker_blocks``) and the blocks about the models (target models, switching models,
repository structure, capability and sampler tables, model reference table, the benchmark
pipeline's profile table, the benchmark report), which render from the repository's
``models.conf``, candidate cards and benchmark data, and are required wherever a models.conf exists.
The docs phase uses them. Blocks about onboard itself (workflow diagram, phase table, exit codes) are
added by ``workflow.generated_docs``, which renders them from the workflow's code.

``check(root)`` lists every inconsistency as ``file:line: what``: a required block missing, a block
out of date (the line is the first line that differs), and cross-references that point nowhere
(``./start.sh X`` or ``[bench-X]`` in prose for a profile models.conf lacks, per-model sections and
benchmark data for profiles that are gone, a bench profile without its production profile, the
report's chart missing). ``fix(root)`` re-renders the blocks that exist (atomically) and nothing else;
``complete(root)`` also appends missing required blocks: the docs phase writes its result through the
journal.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from onboard.llamacpp.server_command import flag_value
from onboard.store import marker_blocks as mb
from onboard.store.models_conf import Section

SAMPLER_FLAGS = (("--temp", "temp"), ("--top-p", "top-p"), ("--top-k", "top-k"), ("--min-p", "min-p"),
                 ("--repeat-penalty", "repeat-penalty"), ("--presence-penalty", "presence-penalty"))
# the files the docs phase keeps (docs that explain the format, e.g. docs/models-conf.md, hold examples)
PROSE_FILES = ("README.md", "docs/client-settings.md", "docs/gpu-strategy-guide.md", "benchmarks/evalplus/README.md",
               "results/REPORT.md")


@dataclass(frozen=True)
class Block:
    file: str  # relative to the repository root
    id: str
    render: Callable[[Path], str]
    required: Callable[[Path], bool]  # must this repository have the block?
    header: str = ""  # the start of the file when the docs phase creates it


# -- the repository's data ---------------------------------------------------------------------------
def _conf(root: Path):  # -> store.models_conf.ModelsConf
    from onboard.store.models_conf import ModelsConf

    return ModelsConf.load(root / "models.conf")


def _production(root: Path) -> list[Section]:
    return [s for s in _conf(root).sections if not s.id.startswith("bench-")]


def _args(section: Section) -> list[str]:
    from onboard.store.models_conf import split_extra_args

    try:
        return split_extra_args(section.values.get("EXTRA_ARGS", ""))
    except Exception:  # a malformed EXTRA_ARGS is the models.conf checker's to report
        return []


def _cards(root: Path) -> dict[str, object]:
    """Candidate cards by profile id (a card that does not read is left out, never fatal here)."""
    from onboard.llamacpp.candidate_card import load_card
    from onboard.phases.contract import profile_id
    from onboard.phases.repo_layout import card_files

    cards: dict[str, object] = {}
    for name, path in card_files(root):
        try:
            cards[profile_id(name)] = load_card(path, require_repo=False)
        except Exception:
            continue
    return cards


def _data(root: Path, relpath: str) -> dict:
    """A pipeline JSON file for rendering; a broken one renders as empty (check reports it at its line)."""
    from onboard.llamacpp.errors import BadInput
    from onboard.phases import bench_pipeline as bp

    try:
        return bp.load_json(root, relpath)
    except BadInput:
        return {}


def _cell(value: object) -> str:
    text = "-" if value in (None, "") else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _has_conf(root: Path) -> bool:
    return (root / "models.conf").is_file()


# -- blocks about the models -------------------------------------------------------------------------
def _target_models(root: Path) -> str:
    rows = ["| profile | model | context | speed | description |", "|---|---|---|---|---|"]
    for s in _production(root):
        v = s.values
        rows.append(f"| `{s.id}` | {_cell(v.get('NAME'))} (`{_cell(v.get('MODEL'))}`) | {_cell(v.get('CTX_SIZE'))} | "
                    f"{_cell(v.get('SPEED'))} | {_cell(v.get('DESCRIPTION'))} |")
    if len(rows) == 2:
        return "No profiles in models.conf yet."
    return "\n".join(rows)


def _switching_models(root: Path) -> str:
    profiles = _production(root)
    if not profiles:
        return "No profiles in models.conf yet."
    width = max(len(s.id) for s in profiles)
    lines = ["One llama-server at a time: stop the running one (Ctrl-C), then start another profile of "
             "`models.conf`:", "", "```sh"]
    lines += [f"./start.sh {s.id.ljust(width)}  # {s.values.get('NAME') or s.id}, {s.values.get('SPEED') or 'speed unknown'}"
              for s in profiles]
    lines += ["```", "", "`./start.sh PROFILE --dry-run` prints the command line without starting it."]
    return "\n".join(lines)


STRUCTURE = (
    ("models.conf", "one section per llama-server profile: production `[id]`, benchmark `[bench-id]`"),
    ("start.sh", "`./start.sh <profile-id>` starts llama-server with that profile"),
    ("rig.toml", "the rig: devices, usable memory, the llama-server binary (optional: detected otherwise)"),
    ("models/documentation/CANDIDATES/", "candidate cards, `README_<name>.md`"),
    ("docs/client-settings.md", "per-model capabilities and sampler settings for clients"),
    ("docs/gpu-strategy-guide.md", "placement strategies and the model reference table"),
    ("benchmarks/evalplus/", "the EvalPlus pipeline: `benchmark.sh`, client settings, display names and reference scores"),
    ("results/", "benchmark results (`results/evalplus/`) and `REPORT.md`"),
)


def _repository_structure(root: Path) -> str:
    lines = ["```"]
    width = max(len(p) for p, _ in STRUCTURE)
    lines += [f"{path.ljust(width)}  {what}" for path, what in STRUCTURE]
    model_dirs = sorted({str(Path(s.values["MODEL"]).parent) + "/" for s in _production(root) if s.values.get("MODEL")})
    for d in model_dirs:
        lines.append(f"{d.ljust(width)}  model files of " + ", ".join(
            f"[{s.id}]" for s in _production(root) if str(Path(s.values.get("MODEL", "")).parent) + "/" == d))
    lines.append("```")
    return "\n".join(lines)


def _capability_table(root: Path) -> str:
    from onboard.phases import bench_pipeline as bp

    cards = _cards(root)
    client = _data(root, bp.CLIENT_JSON).get("profiles") or {}
    rows = ["| profile | model | thinking | reasoning format | context | system prompt (benchmark) |",
            "|---|---|---|---|---|---|"]
    for s in _production(root):
        card = cards.get(s.id)
        thinking = "?" if card is None else ("yes" if getattr(card, "thinking", False) else "no")
        reasoning = flag_value(_args(s), "--reasoning-format") or "server default"
        prompt = (client.get(f"bench-{s.id}") or {}).get("system_prompt")
        rows.append(f"| `{s.id}` | {_cell(s.values.get('NAME'))} | {thinking} | {reasoning} | "
                    f"{_cell(s.values.get('CTX_SIZE'))} | {_cell(prompt)} |")
    return "\n".join(rows) if len(rows) > 2 else "No profiles in models.conf yet."


def _sampler_table(root: Path) -> str:
    rows = ["| profile | " + " | ".join(name for _f, name in SAMPLER_FLAGS) + " |",
            "|---|" + "---|" * len(SAMPLER_FLAGS)]
    for s in _production(root):
        args = _args(s)
        rows.append(f"| `{s.id}` | " + " | ".join(_cell(flag_value(args, f)) for f, _n in SAMPLER_FLAGS) + " |")
    return "\n".join(rows + ["", "`-` = llama-server's default. Benchmark profiles carry no sampler settings "
                                 "(EvalPlus asks for temperature 0)."]) if len(rows) > 2 else "No profiles in models.conf yet."


def _model_reference(root: Path) -> str:
    rows = ["| profile | model file | strategy | context | -ngl | split / overrides | speed |",
            "|---|---|---|---|---|---|---|"]
    for s in _production(root):
        args = _args(s)
        strategy = re.search(r"strategy (\S+)", s.values.get("DESCRIPTION", ""))
        placement = []
        if flag_value(args, "-ts"):
            placement.append(f"-ts {flag_value(args, '-ts')}")
        n_ot = sum(1 for a in args if a == "-ot")
        if n_ot:
            placement.append(f"{n_ot} -ot rule{'s' if n_ot > 1 else ''}")
        if "--cpu-moe" in args or flag_value(args, "--n-cpu-moe"):
            placement.append("MoE experts on CPU")
        rows.append(f"| `{s.id}` | `{_cell(s.values.get('MODEL'))}` | {strategy.group(1).rstrip(',') if strategy else '-'} | "
                    f"{_cell(s.values.get('CTX_SIZE'))} | {_cell(s.values.get('N_GPU_LAYERS'))} | "
                    f"{_cell(', '.join(placement))} | {_cell(s.values.get('SPEED'))} |")
    return "\n".join(rows) if len(rows) > 2 else "No profiles in models.conf yet."


def _bench_profiles(root: Path) -> str:
    from onboard.phases import bench_pipeline as bp

    models = _data(root, bp.MODELS_JSON)
    rows = ["| bench profile | production profile | display name | context | -ngl | EXTRA_ARGS | reference HumanEval+ |",
            "|---|---|---|---|---|---|---|"]
    for s in bp.bench_sections(root):
        entry = models.get(s.id) or {}
        ref = (entry.get("reference") or {}).get("humaneval_plus")
        rows.append(f"| `{s.id}` | `{bp.production_id(s.id)}` | {_cell(entry.get('display_name') or s.values.get('NAME'))} | "
                    f"{_cell(s.values.get('CTX_SIZE'))} | {_cell(s.values.get('N_GPU_LAYERS'))} | "
                    f"`{_cell(s.values.get('EXTRA_ARGS'))}` | {_cell(ref)} |")
    return "\n".join(rows) if len(rows) > 2 else "No `[bench-*]` profiles in models.conf yet."


def _report(root: Path) -> str:
    from onboard.phases.bench_report import render_table

    return render_table(root)


def _report_required(root: Path) -> bool:
    from onboard.phases import bench_pipeline as bp

    return (root / bp.REPORT).is_file() or bool(bp.summaries(root))


CLIENT_SETTINGS_HEADER = ("# Client settings\n\nRecommended sampler settings per model, written by `onboard` "
                          "(samplers phase) from each model's card, generation_config.json and GGUF metadata.\n")
PIPELINE_README_HEADER = (
    "# EvalPlus benchmark pipeline\n\n"
    "Every model is measured the same way: its `[bench-<id>]` profile (context 10240, `-b 512 -ub 512`, no sampler\n"
    "arguments, `--reasoning-format none` for thinking models) serves HumanEval+ (and MBPP+ where the internet is\n"
    "reachable); our client asks greedily with a budget that fits thinking models, EvalPlus's own `evaluate` scores.\n\n"
    "```sh\nbenchmarks/evalplus/benchmark.sh              # every bench-* profile of models.conf\n"
    "benchmarks/evalplus/benchmark.sh --quick 20   # the first 20 tasks only (said so in the report)\n```\n\n"
    "`client.json` holds the token budget, timeouts and per-model system prompts; `models.json` the display names\n"
    "and official reference scores (add them by hand, with their source). Results land in `results/evalplus/`,\n"
    "the report in `results/REPORT.md`.\n")

REPOSITORY_BLOCKS: tuple[Block, ...] = (
    Block("README.md", "target-models", _target_models, _has_conf, "# Local models\n"),
    Block("README.md", "switching-models", _switching_models, _has_conf, "# Local models\n"),
    Block("README.md", "repository-structure", _repository_structure, _has_conf, "# Local models\n"),
    Block("docs/client-settings.md", "capability-table", _capability_table, _has_conf, CLIENT_SETTINGS_HEADER),
    Block("docs/client-settings.md", "sampler-table", _sampler_table, _has_conf, CLIENT_SETTINGS_HEADER),
    Block("docs/gpu-strategy-guide.md", "model-reference", _model_reference, _has_conf, "# GPU strategy guide\n"),
    Block("benchmarks/evalplus/README.md", "bench-profiles", _bench_profiles, _has_conf, PIPELINE_README_HEADER),
    Block("results/REPORT.md", "benchmark-results", _report, _report_required),
)


def _report_header() -> str:
    from onboard.phases.bench_report import REPORT_HEADER

    return REPORT_HEADER


# -- finding, checking and fixing ----------------------------------------------------------------------
def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.is_file() else ""


def _first_difference(body: str, start: int, expected: str) -> int:
    """The line number (1-based, in the file) of the block's first line that differs; the body starts
    at line ``start``."""
    have, want = body.split("\n"), expected.split("\n")
    for i, (a, b) in enumerate(zip(have, want)):
        if a != b:
            return start + i
    return start + min(len(have), len(want)) - 1


def check(root: Path, blocks: Sequence[Block] = REPOSITORY_BLOCKS) -> list[str]:
    """Every inconsistency as ``file:line: what`` (empty = the docs are consistent)."""
    problems = []
    for block in blocks:
        path = root / block.file
        text = _read(path)
        found = mb.body_of(text, block.id, mb.GENERATED)
        if found is None:
            if block.required(root):
                problems.append(f"{block.file}:1: generated block '{block.id}' is missing "
                                "(`onboard advance NAME` in the docs phase adds it, or add its BEGIN/END markers)")
            continue
        body, start = found
        expected = block.render(root) + "\n"
        if body != expected:
            line = _first_difference(body, start, expected)
            problems.append(f"{block.file}:{line}: generated block '{block.id}' is out of date (run: onboard docs fix)")
    if _has_conf(root):
        problems += _cross_references(root)
    return problems


def fix(root: Path, blocks: Sequence[Block] = REPOSITORY_BLOCKS) -> list[str]:
    """Re-render every generated block that exists (and the report's chart); returns the files changed.
    Under the repository's write lock, like the phases' writes (store/repo_lock.py)."""
    from onboard.store.repo_lock import writing

    with writing(root):
        return _fix(root, blocks)


def _fix(root: Path, blocks: Sequence[Block]) -> list[str]:
    from onboard.store.atomic import inside_root, write_atomic

    changed = []
    for file in sorted({b.file for b in blocks}):
        path = inside_root(root, file)  # a docs/ symlink leading out of the repository is refused
        if not path.is_file():
            continue
        text = _read(path)
        new = _rendered(root, file, text, blocks, append_missing=False)
        if new != text:
            write_atomic(path, new)
            changed.append(file)
    from onboard.phases.bench_pipeline import CHART

    chart = chart_text(root)
    if chart is not None and chart != _read(root / CHART):
        path = inside_root(root, CHART)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, chart)
        changed.append(CHART)
    return changed


def complete(root: Path, blocks: Sequence[Block] = REPOSITORY_BLOCKS) -> dict[str, str]:
    """The new text of every file whose blocks need rendering or adding ({relpath: text}); missing
    required blocks are appended at the end (a missing file starts with the block's header)."""
    out = {}
    for file in sorted({b.file for b in blocks}):
        path = root / file
        text = _read(path)
        if not path.is_file():
            if not any(b.required(root) for b in blocks if b.file == file):
                continue
            text = next((b.header for b in blocks if b.file == file and b.header), None) or (
                _report_header() if file == "results/REPORT.md" else "")
        new = _rendered(root, file, text, blocks, append_missing=True)
        if new != _read(path) or not path.is_file():
            out[file] = new
    from onboard.phases.bench_pipeline import CHART

    chart = chart_text(root)
    if chart is not None and chart != _read(root / CHART):
        out[CHART] = chart
    return out


def _rendered(root: Path, file: str, text: str, blocks: Sequence[Block], *, append_missing: bool) -> str:
    for block in (b for b in blocks if b.file == file):
        if mb.locate(text, block.id, mb.GENERATED) is not None:
            text = mb.with_body(text, block.id, block.render(root), mb.GENERATED)
        elif append_missing and block.required(root):
            text = mb.appended(text, mb.render_block(block.id, block.render(root), mb.GENERATED))
    return text


def chart_text(root: Path) -> str | None:
    """The report's chart as it should be (SVG text); None without results or without matplotlib."""
    from onboard.phases import bench_pipeline as bp

    if not bp.summaries(root):
        return None
    try:
        from onboard.phases.bench_report import render_chart
        return render_chart(root)
    except ImportError:  # matplotlib is in the bench extra; `check` then reports the chart missing
        return None


# -- cross-references in prose and data ----------------------------------------------------------------
_START = re.compile(r"start\.sh\s+([a-z0-9][a-z0-9._-]*)")
_BENCH_REF = re.compile(r"\[(bench-[a-z0-9][a-z0-9._-]*)\]")


def _cross_references(root: Path) -> list[str]:
    from onboard.phases import bench_pipeline as bp

    conf = _conf(root)
    ids = {s.id for s in conf.sections}
    problems = []
    for s in conf.sections:
        if s.id.startswith("bench-") and bp.production_id(s.id) not in ids:
            problems.append(f"models.conf:{s.line}: [{s.id}] has no production profile [{bp.production_id(s.id)}]")
    files = sorted({p for pattern in PROSE_FILES for p in root.glob(pattern) if p.is_file()})
    for path in files:
        rel = str(path.relative_to(root))
        text = _read(path)
        blanked = mb.blank_blocks(text, mb.GENERATED)  # blocks are checked above
        for number, line in enumerate(blanked.split("\n"), start=1):
            for pattern in (_START, _BENCH_REF):
                for m in pattern.finditer(line):
                    if m.group(1) not in ids:
                        problems.append(f"{rel}:{number}: refers to profile [{m.group(1)}], which models.conf does not have")
        if rel == "docs/client-settings.md":
            for number, line in enumerate(text.split("\n"), start=1):
                begin = mb.begin_in(line)
                if begin is not None and begin[0] == mb.ONBOARD and begin[1] not in ids:
                    problems.append(f"{rel}:{number}: per-model section '{begin[1]}' has no profile in models.conf")
    for relpath in (bp.MODELS_JSON, bp.CLIENT_JSON):
        problems += _json_keys(root, relpath, ids)
    if bp.summaries(root):
        chart = chart_text(root)
        if not (root / bp.CHART).is_file():
            problems.append(f"{bp.REPORT}:1: the chart {bp.CHART} is missing (run: onboard docs fix)")
        elif chart is not None and chart != _read(root / bp.CHART):
            problems.append(f"{bp.REPORT}:1: the chart {bp.CHART} is out of date (run: onboard docs fix)")
    return problems


def _json_keys(root: Path, relpath: str, ids: set[str]) -> list[str]:
    import json

    from onboard.phases import bench_pipeline as bp

    path = root / relpath
    if not path.is_file():
        return []
    text = _read(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        return [f"{relpath}:{err.lineno}: not valid JSON: {err.msg}"]
    entries = (data.get("profiles") or {}) if relpath == bp.CLIENT_JSON else data
    problems = []
    for key in entries if isinstance(entries, dict) else ():
        if key not in ids:
            line = next((i for i, l in enumerate(text.split("\n"), start=1) if f'"{key}"' in l), 1)
            problems.append(f"{relpath}:{line}: '{key}' has no [{key}] profile in models.conf")
    return problems


