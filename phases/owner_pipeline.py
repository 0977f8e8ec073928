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
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phases import bench_pipeline as bp

REPORT_SCRIPT = f"{bp.PIPELINE_DIR}/generate-report.py"
CLIENT_CONF = f"{bp.PIPELINE_DIR}/bench-client.conf"
REFERENCE_SCORES = f"{bp.PIPELINE_DIR}/reference-scores.json"
BENCHMARK_SH = f"{bp.PIPELINE_DIR}/benchmark.sh"
RESULTS_DIR = f"{bp.PIPELINE_DIR}/results"
REPORT = f"{RESULTS_DIR}/REPORT.md"
MARKERS = (REPORT_SCRIPT, CLIENT_CONF, REFERENCE_SCORES)  # any of them: the owner's pipeline
DISPLAY_NAMES = "DISPLAY_NAMES"
REFERENCE_MAP = "REFERENCE_MAP"
REPORT_TIMEOUT_S = 90.0  # the report runs under the repository's write lock (other writers wait up to 120 s)
SCRATCH_SKIP = (".venv", "venv", "__pycache__", ".git", ".pytest_cache")
_SECTION = re.compile(r"^\s*\[([A-Za-z0-9_.-]+)\]\s*$")
_KEY = re.compile(r"^(\s*)([A-Za-z_][A-Za-z0-9_]*)(\s*[=:]\s*)(.*?)\s*$")
_QUANT = re.compile(r"(?i)\b(?:ud[-_])?(?:i?q[1-8](?:_[a-z0-9]+)*|f16|bf16|f32|mxfp4(?:_moe)?)\b")


def is_owner_pipeline(root: Path) -> bool:
    """The repository keeps its own pipeline (report script, client INI or reference scores), so the
    phases enter models there instead of in our models.json / client.json."""
    return any((Path(root) / rel).is_file() for rel in MARKERS)


def _read(root: Path, relpath: str) -> str | None:
    from store.atomic import read_text

    return read_text(Path(root) / relpath)


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


# -- bench-client.conf ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClientSection:
    id: str
    line: int  # 1-based line of the [header]
    values: dict[str, str]
    key_lines: dict[str, str]  # key -> the line as written (to copy its style)
    comment_above: bool  # a "# ..." line right above the header
    comment_below: bool  # a "# ..." line right below it


def client_sections(text: str) -> list[ClientSection]:
    """The sections of bench-client.conf, read as benchmark.sh reads them (``KEY=value`` lines under a
    ``[section]``, ``#`` comments and blank lines skipped)."""
    sections: list[ClientSection] = []
    lines = text.replace("\r\n", "\n").split("\n")
    for number, line in enumerate(lines, start=1):
        header = _SECTION.match(line)
        if header:
            above = lines[number - 2].strip() if number >= 2 else ""
            below = lines[number].strip() if number < len(lines) else ""
            sections.append(ClientSection(header.group(1), number, {}, {}, above.startswith("#"),
                                          below.startswith("#")))
            continue
        key = _KEY.match(line)
        if sections and key and not line.lstrip().startswith(("#", ";")):
            sections[-1].values[key.group(2)] = key.group(4)
            sections[-1].key_lines[key.group(2)] = line
    return sections


def _prompt_line(sections: list[ClientSection], prompt: str) -> str:
    """``SYSTEM_PROMPT=...`` in the style the file already uses: the spelling and separator of its own
    system-prompt key, else of any key (upper case when its keys are), else benchmark.sh's style."""
    written = [(k, line) for s in sections for k, line in s.key_lines.items()]
    for key, line in written:
        if re.fullmatch(r"(?i)system_?prompt", key):
            match = _KEY.match(line)
            return f"{match.group(1)}{key}{match.group(3)}{prompt}"
    if written:
        key, line = written[0]
        match = _KEY.match(line)
        name = "SYSTEM_PROMPT" if key.isupper() else "system_prompt"
        return f"{match.group(1)}{name}{match.group(3)}{prompt}"
    return f"SYSTEM_PROMPT={prompt}"


def client_conf_with(text: str | None, bench: str, system_prompt: str, model_name: str) -> str:
    """bench-client.conf with a ``[bench]`` section holding the system prompt, appended after the last
    section. The same section already there with the same prompt: unchanged; with anything else:
    BadInput naming its line (a person's section is never overwritten)."""
    from llamacpp.errors import BadInput

    if "\n" in system_prompt or "\r" in system_prompt:
        raise BadInput("the system prompt spans several lines; bench-client.conf holds one line per key",
                       path=CLIENT_CONF, fix="write the section by hand, or --skip-bench")
    text = text or ""
    sections = client_sections(text)
    line = _prompt_line(sections, system_prompt)
    for section in sections:
        if section.id != bench:
            continue
        key = next((k for k in section.values if re.fullmatch(r"(?i)system_?prompt", k)), None)
        if key is not None and section.values[key] == system_prompt and len(section.values) == 1:
            return text
        raise BadInput(f"[{bench}] is already there", path=CLIENT_CONF, line=section.line,
                       fix=f"remove that section (or rename it) and advance again; onboard adds [{bench}] with "
                           f"{line.strip()!r}")
    nl = _newline(text)
    body = text
    if body and not body.endswith(("\n", "\r")):
        body += nl
    if body.strip():
        body += nl if not body.endswith(nl + nl) else ""
    comment = f"# {model_name}: system prompt from the model card (added by onboard)"
    if any(s.comment_above for s in sections):
        lines = [comment, f"[{bench}]", line]
    elif any(s.comment_below for s in sections):
        lines = [f"[{bench}]", comment, line]
    else:
        lines = [f"[{bench}]", line]
    return body + nl.join(lines) + nl


def client_settings(root: Path, bench: str) -> dict[str, str]:
    """The ``[bench]`` section of bench-client.conf ({} when absent)."""
    text = _read(root, CLIENT_CONF)
    for section in client_sections(text or ""):
        if section.id == bench:
            return dict(section.values)
    return {}


def client_config(root: Path, bench: str, *, thinking: bool):  # -> llamacpp.evalplus_run.ClientConfig
    """How our client asks for this bench profile: the owner's SYSTEM_PROMPT and MAX_TOKENS where
    bench-client.conf has them, else our budgets (the larger one for a thinking model)."""
    from llamacpp.errors import BadInput
    from llamacpp.evalplus_run import ClientConfig

    settings = {k.upper(): v for k, v in client_settings(root, bench).items()}
    budget = bp.DEFAULT_CLIENT["thinking_max_tokens" if thinking else "max_tokens"]
    if settings.get("MAX_TOKENS"):
        try:
            budget = int(settings["MAX_TOKENS"])
        except ValueError:
            raise BadInput(f"[{bench}] MAX_TOKENS={settings['MAX_TOKENS']!r} is not a number", path=CLIENT_CONF,
                           fix="give a number of tokens") from None
    return ClientConfig(max_tokens=budget, request_timeout_s=float(bp.DEFAULT_CLIENT["request_timeout_s"]),
                        system_prompt=settings.get("SYSTEM_PROMPT") or None)


# -- generate-report.py --------------------------------------------------------------------------------
def parse_script(text: str, relpath: str = REPORT_SCRIPT):  # -> libcst.Module
    """The report script as a libcst tree; a script that does not parse is BadInput at its line."""
    import libcst as cst

    from llamacpp.errors import BadInput

    try:
        return cst.parse_module(text)
    except cst.ParserSyntaxError as err:
        line, message = err.raw_line, err.message
    try:  # libcst's native parser sometimes names the line after the error; Python's own compiler is exact
        compile(text, relpath, "exec")
    except SyntaxError as err:
        line, message = err.lineno or line, err.msg
    raise BadInput(f"does not parse as Python: {message}", path=relpath, line=line,
                   fix="correct the script by hand (python -m py_compile shows the same), then advance again")


def _module_dict(module, name: str):  # -> libcst.Dict | None
    """The dict literal assigned to ``name`` at module level."""
    import libcst as cst

    for statement in module.body:
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            if isinstance(small, cst.Assign) and isinstance(small.value, cst.Dict) and any(
                    isinstance(t.target, cst.Name) and t.target.value == name for t in small.targets):
                return small.value
            if isinstance(small, cst.AnnAssign) and isinstance(small.value, cst.Dict) and \
                    isinstance(small.target, cst.Name) and small.target.value == name:
                return small.value
    return None


def script_dict(text: str, name: str, relpath: str = REPORT_SCRIPT) -> dict[str, Any] | None:
    """The string-keyed entries of the module-level dict ``name`` (None when the script has none)."""
    import libcst as cst

    node = _module_dict(parse_script(text, relpath), name)
    if node is None:
        return None
    out: dict[str, Any] = {}
    for element in node.elements:
        if isinstance(element, cst.DictElement) and isinstance(element.key, cst.SimpleString):
            value = element.value.evaluated_value if isinstance(element.value, cst.SimpleString) else None
            out[element.key.evaluated_value] = value
    return out


def _literal(text: str, like: str) -> str:
    """A Python string literal for ``text`` quoted like ``like`` (the dict's own keys)."""
    if like.startswith("'") and repr(text).startswith("'"):
        return repr(text)
    return json.dumps(text, ensure_ascii=False)


def _appended(node, key: str, value: str):  # (libcst.Dict) -> libcst.Dict
    """``node`` with ``key: value`` after its last element, laid out like the elements before it:
    same indent and spacing around the colon, a trailing comma where the last element had one, the
    last element's own comment kept on its line and comment lines below it kept above the new one."""
    import libcst as cst

    def literal(text: str) -> str:
        return json.dumps(text, ensure_ascii=False)

    elements = list(node.elements)
    if not elements:
        multiline = isinstance(node.lbrace.whitespace_after, cst.ParenthesizedWhitespace)
        return cst.parse_expression(("{\n    %s: %s,\n}" if multiline else "{%s: %s}") % (literal(key), literal(value)))
    last = elements[-1]
    like = last.key.value if isinstance(last.key, cst.SimpleString) else '"'
    had_comma = isinstance(last.comma, cst.Comma)
    comma_before = last.comma.whitespace_before if had_comma else cst.SimpleWhitespace("")
    sep = elements[-2].comma.whitespace_after if len(elements) >= 2 else node.lbrace.whitespace_after
    if len(elements) == 1 and not isinstance(sep, cst.ParenthesizedWhitespace):
        sep = cst.SimpleWhitespace(" ")  # {"a": 1} -> {"a": 1, "b": 2}
    tail_on_comma = had_comma and isinstance(last.comma.whitespace_after, cst.ParenthesizedWhitespace)
    close = last.comma.whitespace_after if tail_on_comma else node.rbrace.whitespace_before
    rbrace = node.rbrace
    if isinstance(sep, cst.ParenthesizedWhitespace) and isinstance(close, cst.ParenthesizedWhitespace):
        # one element a line, "}" on its own line: the last element keeps its comment and the comment
        # lines under it, then the new element's line; the new one closes as the last one did
        after_last = close.with_changes(last_line=sep.last_line, indent=sep.indent)
        fresh_close = close.with_changes(first_line=cst.TrailingWhitespace(), empty_lines=[])
        new_comma = cst.Comma(whitespace_before=comma_before,
                              whitespace_after=fresh_close if tail_on_comma else cst.SimpleWhitespace("")) \
            if had_comma else cst.MaybeSentinel.DEFAULT
        if not tail_on_comma:
            rbrace = rbrace.with_changes(whitespace_before=fresh_close)
    else:  # on one line, or "}" right after the last element
        after_last = sep.with_changes(first_line=cst.TrailingWhitespace(), empty_lines=[]) \
            if isinstance(sep, cst.ParenthesizedWhitespace) else sep
        new_comma = last.comma
    element = cst.DictElement(
        key=cst.SimpleString(_literal(key, like)), value=cst.SimpleString(_literal(value, like)),
        whitespace_before_colon=last.whitespace_before_colon, whitespace_after_colon=last.whitespace_after_colon,
        comma=new_comma)
    elements[-1] = last.with_changes(comma=cst.Comma(whitespace_before=comma_before, whitespace_after=after_last))
    return node.with_changes(elements=[*elements, element], rbrace=rbrace)


def script_with_entry(text: str, dict_name: str, key: str, value: str, relpath: str = REPORT_SCRIPT) -> str:
    """The report script with ``dict_name[key] = value`` added in its source (unchanged when the key
    is there already: a person's own entry is kept as they wrote it). The result is compiled to prove
    that it still parses; BadInput when the script does not parse or has no such dict."""
    from llamacpp.errors import BadInput

    module = parse_script(text, relpath)
    node = _module_dict(module, dict_name)
    if node is None:
        raise BadInput(f"has no module-level {dict_name} = {{...}} dict", path=relpath,
                       fix=f"add `{dict_name} = {{}}` to the script (its report looks names up there), "
                           "or advance with --skip-bench")
    if key in (script_dict(text, dict_name, relpath) or {}):
        return text
    new_text = module.deep_replace(node, _appended(node, key, value)).code
    compile(new_text, relpath, "exec")  # a SyntaxError here is a bug of ours: nothing has been written yet
    if (script_dict(new_text, dict_name, relpath) or {}).get(key) != value:
        raise AssertionError(f"{relpath}: {dict_name}[{key!r}] was not added as meant")
    return new_text


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
    from llamacpp.errors import BadInput

    text = _read(root, REFERENCE_SCORES)
    if text is None:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise BadInput(f"not valid JSON: {err.msg}", path=REFERENCE_SCORES, line=err.lineno,
                       fix="correct it by hand") from None
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


# -- phase 6: the entries ------------------------------------------------------------------------------
@dataclass
class Entries:
    """What phase 6 writes into the owner's pipeline files, computed before anything is written."""

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
    script = _read(root, REPORT_SCRIPT)
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
        conf = _read(root, CLIENT_CONF)
        new_conf = client_conf_with(conf, bench, system_prompt, display_name)
        if new_conf != (conf or ""):
            out.edits.append((CLIENT_CONF, new_conf, f"[{bench}] of bench-client.conf"))
        out.notes.append(f"{CLIENT_CONF}: [{bench}] system prompt {system_prompt!r}")
    return out


def check_entries(root: Path, bench: str, *, system_prompt: str | None) -> str | None:
    """What is wrong with the pipeline files phase 6 edited (None = they parse and hold the entries)."""
    from llamacpp.errors import BadInput

    script = _read(root, REPORT_SCRIPT)
    try:
        if script is not None:
            compile(script, REPORT_SCRIPT, "exec")
            names = script_dict(script, DISPLAY_NAMES)
            if names is not None and bench not in names:
                return f"{REPORT_SCRIPT}: DISPLAY_NAMES has no {bench!r} entry"
        if system_prompt and bench not in {s.id for s in client_sections(_read(root, CLIENT_CONF) or "")}:
            return f"{CLIENT_CONF}: no [{bench}] section (the model needs its system prompt there)"
    except SyntaxError as err:
        return f"{REPORT_SCRIPT}:{err.lineno}: does not parse as Python: {err.msg}"
    except BadInput as err:
        return str(err)
    return None


# -- phase 7: the results and the owner's report ----------------------------------------------------------
@dataclass(frozen=True)
class ResultsLayout:
    """Where one bench profile's files go: ``results/<bench>/<subdir>/`` and three file names, each a
    template in which ``{bench}`` is the bench profile id and ``{name}`` its NAME as EvalPlus writes
    a model name into a file name (``/`` -> ``--``)."""

    subdir: str  # "" or e.g. "humaneval"
    samples: str  # e.g. "{bench}_openai_temp_0.0-sanitized.jsonl": the answers EvalPlus scored
    raw: str  # e.g. "{bench}_openai_temp_0.0.jsonl": the answers as the model gave them
    eval_results: str  # e.g. "{bench}_openai_temp_0.0-sanitized_eval_results.json"
    source: str  # how it was found, for the message

    def paths(self, bench: str, name: str) -> tuple[str, str, str]:
        """(samples, raw answers, EvalPlus results) repository paths."""
        base = "/".join(p for p in (RESULTS_DIR, bench, self.subdir) if p)
        safe_name = name.strip("./").replace("/", "--")
        return tuple(f"{base}/{t.replace('{bench}', bench).replace('{name}', safe_name)}"  # type: ignore[return-value]
                     for t in (self.samples, self.raw, self.eval_results))


def _profile_names(root: Path) -> dict[str, str]:
    from store.models_conf import ModelsConf

    try:
        return {s.id: s.values.get("NAME", "") for s in ModelsConf.load(Path(root) / "models.conf").sections}
    except Exception:  # noqa: BLE001  (a layout hint only; models.conf errors are reported where it is read)
        return {}


def eval_result_files(root: Path, bench: str | None = None) -> list[Path]:
    """The EvalPlus result files under the owner's results/ (one bench profile's, or every one's), as
    generate-report.py finds them (hidden and ``archive*`` folders skipped)."""
    base = Path(root) / RESULTS_DIR
    if not base.is_dir():
        return []
    dirs = [base / bench] if bench else sorted(p for p in base.iterdir() if p.is_dir())
    return [f for d in dirs if d.is_dir() and not d.name.startswith((".", "archive"))
            for f in sorted(d.rglob("*eval_results.json")) if f.is_file()]


def _layout_of(example: Path, root: Path) -> ResultsLayout:
    """The layout one existing result file shows: its folder under ``results/<bench>/`` and its names
    with the bench id (or the profile's NAME) they contain made a template."""
    rel = example.relative_to(root / RESULTS_DIR)
    bench, subdir, name = rel.parts[0], "/".join(rel.parts[1:-1]), rel.parts[-1]
    source = f"as {RESULTS_DIR}/{rel.as_posix()}"
    if name == "eval_results.json":
        return ResultsLayout(subdir, "samples.jsonl", "samples.raw.jsonl", name, source)
    sep = "." if name.endswith(".eval_results.json") else "_"
    stem = name[:-len(sep + "eval_results.json")]
    profile_name = _profile_names(root).get(bench, "").strip("./").replace("/", "--")
    if stem.startswith(bench):
        template = "{bench}" + stem[len(bench):]
    elif profile_name and stem.startswith(profile_name):
        template = "{name}" + stem[len(profile_name):]
    else:  # the same name in every profile's folder
        template = stem
    if (example.parent / f"{stem}.raw.jsonl").is_file() or not stem.endswith("-sanitized"):
        raw = template + ".raw.jsonl"
    else:  # EvalPlus's own pair: X.jsonl as generated, X-sanitized.jsonl as scored
        raw = template[:-len("-sanitized")] + ".jsonl"
    return ResultsLayout(subdir, template + ".jsonl", raw, template + sep + "eval_results.json", source)


def results_layout(root: Path) -> ResultsLayout:
    """The layout of the newest results already there; else what the pipeline's shell scripts name
    (``$RESULTS_DIR/$id/<folder>``, ``${id}<suffix>.jsonl``); else ``results/<bench-id>/<bench-id>.jsonl``."""
    root = Path(root)
    found = eval_result_files(root)
    if found:
        return _layout_of(max(found, key=lambda f: (f.stat().st_mtime, str(f))), root)
    subdir, stem, named = "", "{bench}", []
    folder = re.compile(r"RESULTS(?:_DIR)?\}?\"?/\"?\$\{?[A-Za-z_]+\}?\"?/([A-Za-z0-9_.-]+)")
    file_name = re.compile(r"/\$\{?[A-Za-z_]+\}?(_[A-Za-z0-9_.+-]+?)\.jsonl\b")
    for script in sorted((root / bp.PIPELINE_DIR).glob("*.sh"), key=lambda p: (p.name != "benchmark.sh", p.name)):
        text = script.read_text(encoding="utf-8", errors="replace")
        if not subdir and (match := folder.search(text)):
            subdir = match.group(1)
            named.append(script.name)
        if stem == "{bench}" and (match := file_name.search(text)):
            stem = "{bench}" + match.group(1)
            named.append(script.name)
    raw = stem[:-len("-sanitized")] + ".jsonl" if stem.endswith("-sanitized") else stem + ".raw.jsonl"
    source = f"as {', '.join(sorted(set(named)))} names them" if named else "default (no results yet to follow)"
    return ResultsLayout(subdir, stem + ".jsonl", raw, stem + "_eval_results.json", source)


def result_files(root: Path, bench: str, name: str, *, samples: str, raw: str, eval_results: str) -> dict[str, str]:
    """The run's files at their places in the owner's layout ({repository path: text})."""
    samples_path, raw_path, eval_path = results_layout(root).paths(bench, name)
    return {samples_path: samples, raw_path: raw, eval_path: eval_results}


def _report_args(script: str) -> list[str]:
    """The arguments benchmark.sh gives the report script, where the script declares them."""
    args = []
    if re.search(r"""["']--results-dir["']""", script):
        args += ["--results-dir", "results"]
    if re.search(r"""["']--reference["']""", script):
        args += ["--reference", Path(REFERENCE_SCORES).name]
    return args


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts} if folder.is_dir() else {}


def regenerate_report(root: Path, scratch: Path, *,
                      timeout_s: float = REPORT_TIMEOUT_S) -> tuple[dict[str, str], list[str]]:
    """Run the owner's generate-report.py as benchmark.sh does, on a scratch copy of the pipeline
    folder (results included), and return what it wrote under results/ ({repository path: text}), for
    the caller to write through the journal, and the files it wrote that are not text (left out: the
    journal keeps text). A failing script is ExternalFailure with its stderr."""
    from llamacpp.errors import ExternalFailure

    root = Path(root)
    script = _read(root, REPORT_SCRIPT)
    if script is None:
        return {}, []
    if scratch.exists():
        shutil.rmtree(scratch)
    shutil.copytree(root / bp.PIPELINE_DIR, scratch, symlinks=True,
                    ignore=shutil.ignore_patterns(*SCRATCH_SKIP))
    results = scratch / "results"
    before = _snapshot(results)
    argv = [sys.executable, Path(REPORT_SCRIPT).name, *_report_args(script)]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    try:
        proc = subprocess.run(argv, cwd=scratch, capture_output=True, text=True, timeout=timeout_s,
                              stdin=subprocess.DEVNULL, env=env)
    except subprocess.TimeoutExpired:
        raise ExternalFailure(f"{REPORT_SCRIPT} did not finish in {timeout_s:.0f} s",
                              fix=f"run it by hand in {bp.PIPELINE_DIR}/ and look") from None
    if proc.returncode != 0:
        raise ExternalFailure(f"{REPORT_SCRIPT} failed (exit {proc.returncode}): {proc.stderr.strip()[-1200:]}",
                              fix=f"correct the script (it ran as: {' '.join(argv[1:])} in a copy of "
                                  f"{bp.PIPELINE_DIR}/), then `onboard docs fix` or advance again")
    out, binary = {}, []
    for rel, data in sorted(_snapshot(results).items()):
        if before.get(rel) != data:
            try:
                out[f"{RESULTS_DIR}/{rel}"] = data.decode("utf-8")
            except UnicodeDecodeError:
                binary.append(f"{RESULTS_DIR}/{rel}")
    return out, binary


# -- scores --------------------------------------------------------------------------------------------
def eval_scores(data: Any) -> dict[str, float] | None:
    """pass@1 (fractions) from an EvalPlus eval_results.json: its ``pass_at_k`` summary where it has
    one, else counted from the per-task verdicts as EvalPlus counts them (plus = base and plus pass)."""
    if not isinstance(data, dict):
        return None
    pass_at_k = data.get("pass_at_k")
    if isinstance(pass_at_k, dict) and (pass_at_k.get("base") or {}).get("pass@1") is not None:
        out = {"humaneval": float(pass_at_k["base"]["pass@1"])}
        if (pass_at_k.get("plus") or {}).get("pass@1") is not None:
            out["humaneval_plus"] = float(pass_at_k["plus"]["pass@1"])
        return out
    tasks = data.get("eval")
    if not isinstance(tasks, dict) or not tasks:
        return None
    firsts = [v[0] for v in tasks.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
    if len(firsts) != len(tasks):
        return None
    out = {"humaneval": sum(r.get("base_status") == "pass" for r in firsts) / len(firsts)}
    if any("plus_status" in r for r in firsts):
        plus = sum(r.get("base_status") == r.get("plus_status") == "pass" for r in firsts)
        out["humaneval_plus"] = plus / len(firsts)
    return out


def latest_scores(root: Path, bench_id: str) -> dict[str, float] | None:
    """pass@1 base (``humaneval``) and plus (``humaneval_plus``) as fractions from the newest results of
    ``bench_id`` in either pipeline (the owner's EvalPlus result files, our summaries); None = none."""
    root = Path(root)
    found: list[tuple[float, dict[str, float]]] = []
    for path in eval_result_files(root, bench_id):
        try:
            scores = eval_scores(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError):
            continue
        if scores:
            found.append((path.stat().st_mtime, scores))
    for summary in bp.summaries(root):
        if summary.get("profile") == bench_id and summary.get("dataset", "humaneval") == "humaneval":
            scores = {"humaneval": float(summary["base_pass1"])}
            if summary.get("plus_pass1") is not None:
                scores["humaneval_plus"] = float(summary["plus_pass1"])
            found.append(((root / summary["_file"]).stat().st_mtime, scores))
    return max(found, key=lambda item: item[0])[1] if found else None


# -- the map `onboard adopt` prints ---------------------------------------------------------------------
def pipeline_places(root: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Where the person's benchmark pipeline keeps what (for ``onboard adopt``'s map): bench profiles,
    client prompts, display names, the reference map, reference scores, results and the report; and
    what could not be read (``file:line: why``). Empty when the repository has no pipeline of its own."""
    from llamacpp.errors import BadInput
    from store.models_conf import ModelsConf

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
    text = _read(root, CLIENT_CONF)
    if text is not None:
        sections = client_sections(text)
        places.append({"role": "client-prompts", "file": CLIENT_CONF, "line": sections[0].line if sections else 1,
                       "entries": [s.id for s in sections]})
    text = _read(root, REPORT_SCRIPT)
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
