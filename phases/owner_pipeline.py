"""The owner's own EvalPlus pipeline, kept as it is: its client settings, its report script's name
tables, its results layout and its own report.

A repository laid out by its owner (not by ``onboard init``) has ``benchmarks/evalplus/`` with
``benchmark.sh``, ``bench-client.conf`` (an INI file: one section per bench profile that needs a
client setting such as a system prompt), ``generate-report.py`` (its ``DISPLAY_NAMES`` and
``REFERENCE_MAP`` dicts name each bench profile and the published score it is compared with),
``reference-scores.json`` and ``results/<bench-id>/...`` with EvalPlus's ``eval_results.json``
files, from which ``generate-report.py`` writes ``results/REPORT.md``.

Why edit by meaning: these are the person's files, with their comments and layout. A dict entry is
added with libcst after the last one, in the same layout, and the script is compiled again to prove
that it still parses; a client section is appended after the last section in the file's own key
style. Every edit goes through the journal as the lines that changed (``PhaseContext.edit_text``), so
a rollback removes exactly those lines. The measuring stays ours (``bench_pipeline.measure``); the
report is the owner's script's, run on a scratch copy so that its output is journalled like any write.

This module matches a model to the reference scores, plans the entries of the bench-profile phase and
describes the pipeline for ``onboard adopt``; the files' own formats are read and edited by
``phases.owner_client_conf``, ``phases.owner_report_script`` and ``phases.owner_results``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from onboard.phases.owner_client_conf import client_conf_with, client_sections
from onboard.phases.owner_layout import (CLIENT_CONF, DISPLAY_NAMES, REFERENCE_MAP, REFERENCE_SCORES, REPORT,
                                 REPORT_SCRIPT, RESULTS_DIR, is_owner_pipeline, read_file)
from onboard.phases.owner_report_script import parse_script, script_dict, script_with_entry
from onboard.phases.owner_results import results_layout
from onboard.store.json_input import parse_json

# still imported from here by phases/benchmark.py
from onboard.phases.owner_client_conf import client_config  # noqa: F401
from onboard.phases.owner_results import regenerate_report, result_files  # noqa: F401

_QUANT = re.compile(r"(?i)\b(?:ud[-_])?(?:i?q[1-8](?:_[a-z0-9]+)*|f16|bf16|f32|mxfp4(?:_moe)?)\b")


# -- reference-scores.json ----------------------------------------------------------------------------
def normalized(name: str) -> str:
    """A model name reduced to what identifies the model: no org, no parenthesised notes, no quant, no
    GGUF, lower-case letters and digits only ("unsloth/Qwen3-Coder-Next-GGUF" -> "qwen3codernext")."""
    name = name.rsplit("/", 1)[-1]
    name = re.sub(r"\([^)]*\)", " ", name)
    name = re.sub(r"(?i)gguf", " ", name)
    name = _QUANT.sub(" ", name)
    return re.sub(r"[^a-z0-9]+", "", name.lower())


def reference_models(root: Path) -> dict[str, Any]:
    """The models of reference-scores.json (its ``models`` object, or its top-level entries), {} when
    absent; bad JSON is BadInput at its line."""
    text = read_file(root, REFERENCE_SCORES)
    if text is None:
        return {}
    data = parse_json(text, REFERENCE_SCORES)
    if not isinstance(data, dict):
        return {}
    models = data.get("models") if isinstance(data.get("models"), dict) else data  # {"models": {...}} or flat
    return {k: v for k, v in models.items() if isinstance(v, dict) and not k.startswith("_")}


def match_reference(root: Path, names: list[str]) -> tuple[str, str] | None:
    """``(reference key, the name it matched)``: the reference-scores.json entry whose normalized name
    equals one of ``names`` normalized, the first name that matches winning. Two entries matching
    the same name: the one with a published score, else none (never a guess)."""
    models = reference_models(root)
    for name in names:
        want = normalized(name)
        if not want:
            continue
        found = [k for k in models if normalized(k) == want]
        scored = [k for k in found
                  if any((models[k] or {}).get(s) is not None for s in ("humaneval", "humaneval_plus"))]
        pick = found if len(found) == 1 else scored
        if len(pick) == 1:
            return pick[0], name
    return None


# -- the bench-profile phase: the entries -----------------------------------------------------------
@dataclass
class Entries:
    """What the bench-profile phase writes into the owner's pipeline files, computed before anything
    is written."""

    edits: list[tuple[str, str, str]] = field(default_factory=list)  # (relpath, new text, label)
    notes: list[str] = field(default_factory=list)

    def write(self, ctx) -> None:  # (PhaseContext) -> None
        """Write the edits through the journal: a person's file as the lines that changed, a file
        that was not there as a whole file (so that a rollback removes it again)."""
        for relpath, text, label in self.edits:
            if (Path(ctx.root) / relpath).exists():
                ctx.edit_text(relpath, text, label)
            else:
                ctx.write_file(relpath, text)


def plan_entries(root: Path, bench: str, *, display_name: str, model_names: list[str],
                 system_prompt: str | None) -> Entries:
    """The new texts of generate-report.py (DISPLAY_NAMES, and REFERENCE_MAP when reference-scores.json
    knows the model) and bench-client.conf (a section when the model needs a system prompt).
    Raises BadInput (nothing written) for a script that does not parse, or a clashing section."""
    out = Entries()
    script = read_file(root, REPORT_SCRIPT)
    if script is not None:
        parse_script(script)  # refused at its line before anything else is looked at
        new = script
        if script_dict(script, DISPLAY_NAMES) is None:
            out.notes.append(f"{REPORT_SCRIPT} has no DISPLAY_NAMES dict: no display name entered")
        else:
            new = script_with_entry(script, DISPLAY_NAMES, bench, display_name)
            out.notes.append(f"{REPORT_SCRIPT}: DISPLAY_NAMES[{bench!r}] = {display_name!r}"
                             + ("" if new != script else " (already there)"))
        matched = match_reference(root, model_names)
        if matched is None:
            out.notes.append(f"{REFERENCE_SCORES}: no entry matches {', '.join(repr(n) for n in model_names)}; "
                             f"REFERENCE_MAP left alone (add the published score there, then the entry, by hand)")
        elif script_dict(new, REFERENCE_MAP) is None:
            out.notes.append(f"{REPORT_SCRIPT} has no REFERENCE_MAP dict: the reference {matched[0]!r} not entered")
        else:
            key, name = matched
            before = new
            new = script_with_entry(new, REFERENCE_MAP, bench, key)
            out.notes.append(f"{REPORT_SCRIPT}: REFERENCE_MAP[{bench!r}] = {key!r} (reference-scores.json key "
                             f"matched by the name {name!r})" + ("" if new != before else " (already there)"))
        if new != script:
            out.edits.append((REPORT_SCRIPT, new, f"{bench} in DISPLAY_NAMES/REFERENCE_MAP"))
    else:
        out.notes.append(f"{REPORT_SCRIPT} absent: no display name entered")
    if system_prompt:
        conf = read_file(root, CLIENT_CONF)
        new_conf = client_conf_with(conf, bench, system_prompt, display_name)
        if new_conf != (conf or ""):
            out.edits.append((CLIENT_CONF, new_conf, f"[{bench}] of bench-client.conf"))
        out.notes.append(f"{CLIENT_CONF}: [{bench}] system prompt {system_prompt!r}")
    return out


def check_entries(root: Path, bench: str, *, system_prompt: str | None) -> str | None:
    """What is wrong with the pipeline files the bench-profile phase edited (None = they parse and
    hold the entries)."""
    from onboard.llamacpp.errors import BadInput

    script = read_file(root, REPORT_SCRIPT)
    try:
        if script is not None:
            compile(script, REPORT_SCRIPT, "exec")
            names = script_dict(script, DISPLAY_NAMES)
            if names is not None and bench not in names:
                return f"{REPORT_SCRIPT}: DISPLAY_NAMES has no {bench!r} entry"
        if system_prompt and bench not in {s.id for s in client_sections(read_file(root, CLIENT_CONF) or "")}:
            return f"{CLIENT_CONF}: no [{bench}] section (the model needs its system prompt there)"
    except SyntaxError as err:
        return f"{REPORT_SCRIPT}:{err.lineno}: does not parse as Python: {err.msg}"
    except BadInput as err:
        return str(err)
    return None



# -- the map `onboard adopt` prints ---------------------------------------------------------------------
def pipeline_places(root: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Where the person's benchmark pipeline keeps what (for ``onboard adopt``'s map): bench profiles,
    client prompts, display names, the reference map, reference scores, results and the report; and
    what could not be read (``file:line: why``). Empty when the repository has no pipeline of its own."""
    from onboard.llamacpp.errors import BadInput
    from onboard.store.models_conf import ModelsConf

    root = Path(root)
    if not is_owner_pipeline(root):
        return [], []
    places: list[dict[str, Any]] = []
    problems: list[str] = []
    try:
        bench = [s for s in ModelsConf.load(root / "models.conf").sections if s.id.startswith("bench-")]
        places.append({"role": "bench-profiles", "file": "models.conf", "line": bench[0].line if bench else None,
                       "entries": [s.id for s in bench]})
    except BadInput as err:
        problems.append(str(err))
    text = read_file(root, CLIENT_CONF)
    if text is not None:
        sections = client_sections(text)
        places.append({"role": "client-prompts", "file": CLIENT_CONF, "line": sections[0].line if sections else 1,
                       "entries": [s.id for s in sections]})
    text = read_file(root, REPORT_SCRIPT)
    if text is not None:
        for role, name in (("display-names", DISPLAY_NAMES), ("reference-map", REFERENCE_MAP)):
            try:
                entries = script_dict(text, name)
            except BadInput as err:
                problems.append(str(err))
                break
            if entries is None:
                problems.append(f"{REPORT_SCRIPT}: no module-level {name} dict; onboard adds no entry there")
                continue
            line = next((i for i, row in enumerate(text.splitlines(), 1) if re.match(rf"\s*{name}\s*[:=]", row)), None)
            places.append({"role": role, "file": REPORT_SCRIPT, "line": line, "entries": sorted(entries)})
    try:
        scores = reference_models(root)
        if (root / REFERENCE_SCORES).is_file():
            places.append({"role": "reference-scores", "file": REFERENCE_SCORES, "line": 1, "entries": sorted(scores)})
    except BadInput as err:
        problems.append(str(err))
    layout = results_layout(root)
    places.append({"role": "results", "file": RESULTS_DIR, "line": None,
                   "entries": [layout.paths("<bench-id>", "<NAME>")[2], f"({layout.source})"]})
    if (root / REPORT).is_file():
        places.append({"role": "report", "file": REPORT, "line": None,
                       "entries": [f"regenerated by {REPORT_SCRIPT}" if (root / REPORT_SCRIPT).is_file() else "as is"]})
    return places, problems
