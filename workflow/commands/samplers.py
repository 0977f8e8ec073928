"""`onboard samplers CARD.md [--gguf MODEL.gguf] [--generation-config FILE] [--json]`.

The sampler settings a model's authors recommend, each with its source, so a person can check
what the samplers phase would write to the profile's EXTRA_ARGS. Thin: reading files and printing
here, the extraction in ``llamacpp.samplers``. ``--json`` prints each setting with its source (plus
``notes``). A missing or unreadable file, a damaged GGUF or bad JSON exits 6 naming the file
(and line).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from onboard.workflow.commands._common import handle_errors, print_json


def read_card(path: str) -> str:
    """The card's text; undecodable bytes are replaced, never fatal (a card is prose)."""
    from onboard.llamacpp.errors import BadInput

    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise BadInput("card not found", path=path, fix="give the path of the saved model card (README_<name>.md)") from None
    except IsADirectoryError:
        raise BadInput("is a directory, not a model card", path=path) from None
    except OSError as err:
        raise BadInput(f"cannot read the card: {err.strerror or err}", path=path) from None


def read_generation_config(path: str) -> dict[str, Any]:
    """``generation_config.json`` as a dict; bad JSON names file:line."""
    from onboard.llamacpp.errors import BadInput

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput("generation config not found", path=path,
                       fix="give the generation_config.json from the model's repository") from None
    except UnicodeDecodeError as err:
        raise BadInput(f"not UTF-8 text (byte {err.start})", path=path) from None
    except OSError as err:
        raise BadInput(f"cannot read the generation config: {err.strerror or err}", path=path) from None
    from onboard.store.json_input import parse_json

    data = parse_json(text, path, fix="fix the JSON or leave --generation-config out")
    if not isinstance(data, dict):
        raise BadInput(f"expected a JSON object, found {type(data).__name__}", path=path, line=1)
    return data


def read_gguf_metadata(path: str) -> dict[str, Any]:
    """Metadata of a local GGUF (all shards of a split model), via the project's header reader."""
    from onboard.llamacpp.gguf_header import read_header

    return dict(read_header(path).metadata)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:g}" if isinstance(value, float) else str(value)


def render(advice: Any) -> str:
    """Human text: key/value/source table, modes, system prompt, thinking, notes, llama args."""
    from onboard.llamacpp.samplers import KEYS, to_llama_args

    lines = []
    if advice.found_any:
        lines.append("Recommended sampler settings (default mode):")
        lines.append(f"  {'KEY':<17} {'VALUE':>7}  SOURCE")
        for key in KEYS:
            lines.append(f"  {key:<17} {_fmt(advice.recommended.get(key)):>7}  {advice.sources.get(key, '')}".rstrip())
    else:
        lines.append("No recommended sampler settings found: llama-server's defaults would apply "
                     "(the samplers phase asks you to accept them explicitly).")
    if advice.modes:
        lines.append("Modes:")
        for mode, values in advice.modes.items():
            shown = ", ".join(f"{k}={_fmt(v)}" for k, v in values.items() if v is not None)
            lines.append(f"  {mode}: {shown or '(no values)'}")
    if advice.system_prompt:
        prompt = advice.system_prompt
        lines.append("System prompt the card asks for:")
        lines.extend("  | " + line for line in prompt.splitlines())
    else:
        lines.append("System prompt: none required")
    lines.append(f"Thinking model: {'yes' if advice.thinking_model else 'no'}")
    if advice.notes:
        lines.append("Notes:")
        lines.extend(f"  - {note}" for note in advice.notes)
    args = to_llama_args(advice)
    if args:
        lines.append("llama-server arguments: " + " ".join(args))
    return "\n".join(lines)


@click.command("samplers")
@click.argument("card", type=click.Path(dir_okay=True))
@click.option("--gguf", "gguf_path", type=click.Path(), help="GGUF model whose general.sampling.* keys to read.")
@click.option("--generation-config", "gen_path", type=click.Path(),
              help="The model's generation_config.json.")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output: each setting with its source, and notes")
@handle_errors
def command(card: str, gguf_path: str | None, gen_path: str | None, as_json: bool) -> int:
    """Recommended sampler settings from a model card (+ generation_config.json and GGUF)."""
    from onboard.llamacpp.samplers import extract_samplers

    text = read_card(card)
    generation_config = read_generation_config(gen_path) if gen_path else None
    metadata = read_gguf_metadata(gguf_path) if gguf_path else None
    advice = extract_samplers(text, gguf_metadata=metadata, generation_config=generation_config)
    if as_json:
        print_json(advice.to_json())
    else:
        click.echo(render(advice))
    return 0
