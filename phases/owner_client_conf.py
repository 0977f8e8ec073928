"""The owner's ``bench-client.conf``: one INI section per bench profile that needs a client setting.

Why edit by meaning: it is the person's file, with their comments and key style. A section is read
as benchmark.sh reads it, and a new one is appended after the last section in the file's own key
spelling and separator (``SYSTEM_PROMPT=...`` or ``system_prompt = ...``), with a comment line where
the other sections have one. Our client asks for a bench profile with these settings
(``client_config``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from onboard.phases import bench_pipeline as bp
from onboard.phases.owner_layout import CLIENT_CONF, newline, read_file

_SECTION = re.compile(r"^\s*\[([A-Za-z0-9_.-]+)\]\s*$")
_KEY = re.compile(r"^(\s*)([A-Za-z_][A-Za-z0-9_]*)(\s*[=:]\s*)(.*?)\s*$")


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
    from onboard.llamacpp.errors import BadInput

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
    nl = newline(text)
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
    text = read_file(root, CLIENT_CONF)
    for section in client_sections(text or ""):
        if section.id == bench:
            return dict(section.values)
    return {}


def client_config(root: Path, bench: str, *, thinking: bool):  # -> llamacpp.evalplus_run.ClientConfig
    """How our client asks for this bench profile: the owner's SYSTEM_PROMPT and MAX_TOKENS where
    bench-client.conf has them, else our budgets (the larger one for a thinking model)."""
    from onboard.llamacpp.errors import BadInput
    from onboard.llamacpp.evalplus_run import ClientConfig

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
