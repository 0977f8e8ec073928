"""Profiles -> the two ways people serve many models at once: llama-server's router preset (INI) and
llama-swap's YAML configuration.

Why here and not a second command builder: each profile's llama-server argument list comes from
:func:`llamacpp.server_command.build_server_argv`, the one builder ``start.sh`` and the test phase
use. This module only *re-expresses* that list:

* **Router preset** (``llama-server --models-preset FILE``, llama.cpp ``common/preset.cpp``): one INI
  section per model, keys are llama-server's own option names without dashes. Which names exist,
  which take a value and which are negations is read from the ``--help`` text of the llama-server that
  will serve the file (:func:`parse_help`), not from a list kept here, so a key this build does not
  know is refused before the router would refuse it. Rules of that INI reader this module follows:

  - a value ends at the first ``;`` or ``#`` (they start a comment even inside a value), surrounding
    blanks are dropped, a value is one line, and there is no quoting: such values are refused;
  - one key per option: a repeated key keeps one value, so repeated ``-ot`` rules are joined with
    commas (``--override-tensor`` splits its value on commas, exactly as on the command line);
  - options are applied in the order of their first spelling, not the file's: ``--cpu-moe``,
    ``--n-cpu-moe`` and ``--override-tensor`` all append tensor placement rules whose *order*
    decides (the first matching rule wins), so when the profile's order differs from the router's,
    those flags are written as the equivalent explicit ``override-tensor`` rules in the profile's order;
  - host, port, API keys, TLS files and the ``models-*`` options belong to the router: the router
    replaces or drops them per model, so they are left out with a comment.

* **llama-swap** (``cmd`` split by llama-swap with POSIX shell rules after ``${...}`` macro
  substitution; a line whose first non-blank character is ``#`` is a comment): the argument list
  is written one option per line, each argument quoted with :func:`shlex.quote`, ``--port ${PORT}``
  last. Arguments holding ``${`` are refused (llama-swap would substitute them).

Values that cannot be expressed are refused with :class:`~llamacpp.errors.BadInput` naming the
profile, the models.conf key they came from (``field``) and the option; nothing is dropped silently.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from onboard.llamacpp.errors import BadInput
from onboard.llamacpp.tensor_rules import FFN_DENSE_REGEX, FFN_EXPS_REGEX

# models.conf key each flag of build_server_argv's own part comes from (the rest is EXTRA_ARGS)
_SOURCE_KEY = {"-m": "MODEL", "-c": "CTX_SIZE", "-ngl": "N_GPU_LAYERS", "-fit": "FIT"}
# options the router sets per model itself (tools/server/server-models.cpp: update_args, unset_reserved_args)
ROUTER_OWNED = {
    "host": "the router starts each model on its own local port",
    "port": "the router starts each model on its own local port",
    "api-key": "the router checks API keys: pass --api-key to the router",
    "api-key-file": "the router checks API keys: pass --api-key-file to the router",
    "ssl-key-file": "TLS is the router's: pass it on the router's command line",
    "ssl-cert-file": "TLS is the router's: pass it on the router's command line",
    "models-dir": "a router option", "models-preset": "a router option",
    "models-max": "a router option", "models-autoload": "a router option",
}
# options whose value is a comma-separated list that is appended to, so repeats join with ","
# (common/arg.cpp: parse_tensor_buffer_overrides, parse_csv_row)
COMMA_LISTS = frozenset({"override-tensor", "override-tensor-draft", "override-kv", "lora", "lora-scaled",
                         "control-vector", "control-vector-scaled"})
# options that append tensor placement rules (llamacpp.tensor_rules)
_FFN_EXPS = FFN_EXPS_REGEX
_FFN_DENSE = FFN_DENSE_REGEX
_PLACEMENT = ("cpu-moe", "n-cpu-moe", "n-cpu-ffn", "override-tensor")
_OPTION_RE = re.compile(r"-{1,2}[A-Za-z0-9][A-Za-z0-9_.-]*")
_LLAMA_SWAP_MACRO = "${"


@dataclass(frozen=True)
class ServerOption:
    """One option as ``llama-server --help`` lists it: every spelling, and how many values it takes.

    ``names`` is in the help's order (llama.cpp prints the option's spellings, then its negations);
    ``negative`` the spellings that switch a boolean option off (``--no-warmup``, ``-nkvo``).
    """

    names: tuple[str, ...]
    negative: tuple[str, ...] = ()
    n_values: int = 0
    value_hint: str = ""

    def key(self, spelling: str) -> str:
        """The preset key for ``spelling``: the last long name of the same polarity, without dashes
        (the spelling llama.cpp's own preset writer uses); a short name with no long one stays short."""
        group = self.negative if spelling in self.negative else \
            tuple(n for n in self.names if n not in self.negative)
        longs = [n for n in group if n.startswith("--")]
        return (longs[-1] if longs else spelling).lstrip("-")

    @property
    def order(self) -> str:
        """The router applies a model's options sorted by their first spelling (common/arg.h operator<)."""
        return self.names[0]


@dataclass
class ServerOptions:
    """The options one llama-server build accepts, by every spelling (dashes included)."""

    by_name: dict[str, ServerOption] = field(default_factory=dict)

    def lookup(self, spelling: str) -> ServerOption | None:
        return self.by_name.get(self.canonical(spelling))  # llama.cpp reads --ctx_size as --ctx-size

    def canonical(self, spelling: str) -> str:
        return spelling.replace("_", "-") if spelling.startswith("--") else spelling

    def long_names(self) -> set[str]:
        """Every long spelling without its dashes: the keys a preset may use."""
        return {n[2:] for n in self.by_name if n.startswith("--")}


def parse_help(text: str) -> ServerOptions:
    """Read ``llama-server --help``: each option line starts in the first column with its spellings
    (``-c,    --ctx-size N``), separated by ``,``; a value hint follows the last spelling after one
    space; the description starts after two or more spaces or on the next line."""
    options = ServerOptions()
    for line in text.splitlines():
        if not line.startswith("-") or line.startswith("---"):
            continue
        names: list[str] = []
        rest = line
        while True:
            m = _OPTION_RE.match(rest)
            if not m:
                break
            names.append(m[0])
            rest = rest[m.end():]
            sep = re.match(r",\s*", rest)
            if not sep:
                break
            rest = rest[sep.end():]
        if not names:
            continue
        m = re.match(r" (\S.*?)(?:\s{2,}|\s*$)", rest)  # one space, then the hint; the help is 2+ away
        hint = m[1] if m else ""
        option = ServerOption(tuple(names), _negatives(names), _count_values(hint), hint)
        for name in names:
            options.by_name.setdefault(name, option)
    return options


def _negatives(names: Sequence[str]) -> tuple[str, ...]:
    """The negation spellings: llama.cpp lists them last; the block starts at the first ``--no-``
    (or ``-no-``) spelling, taking in the short spellings just before it (``-nkvo, --no-kv-offload``).
    An option whose only spellings start with ``--no-`` (``--no-host``) has no negation."""
    first = next((i for i, n in enumerate(names) if n.startswith(("--no-", "-no-"))), None)
    if first is None or first == 0:
        return ()
    while first > 0 and not names[first - 1].startswith("--") and any(
            n.startswith("--") for n in names[:first - 1]):
        first -= 1
    return tuple(names[first:])


def _count_values(hint: str) -> int:
    """Values an option takes, from its hint: words outside <>, [] and {} (``START END`` is two)."""
    if not hint:
        return 0
    depth, words, in_word = 0, 0, False
    for ch in hint:
        if ch in "<[{":
            depth += 1
        elif ch in ">]}":
            depth = max(0, depth - 1)
        if ch == " " and depth == 0:
            in_word = False
        elif not in_word:
            words, in_word = words + 1, True
    return words


@dataclass(frozen=True)
class PresetSection:
    """One profile as a preset section: ``comments`` above it, ``keys`` in command-line order, and
    ``notes`` (``; ...`` lines inside it) for what was left out or rewritten, and why."""

    id: str
    keys: list[tuple[str, str]]
    comments: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def preset_section(profile_id: str, argv: Sequence[str], options: ServerOptions,
                   comments: Sequence[str] = ()) -> PresetSection:
    """A profile's llama-server argv (binary first, as build_server_argv returns it) -> its section.

    Raises BadInput (``field`` = the models.conf key the argument came from) when an argument is not
    an option of this llama-server, takes two values, is given twice with different values, or
    holds a value the preset reader cannot read back.
    """
    items = _walk(profile_id, list(argv[1:]), options)
    folded = _needs_folding([(opt, key) for opt, key, *_ in items if key in _PLACEMENT])
    keys: list[tuple[str, str]] = []
    notes: list[str] = []
    first: dict[str, tuple[int, str]] = {}  # option identity -> (index in keys, flag as written)
    for opt, key, value, flag, source in items:
        if key in ROUTER_OWNED:
            shown = f"{flag} {value}" if opt.n_values else flag
            notes.append(f"{shown} left out: {ROUTER_OWNED[key]}")
            continue
        identity = opt.order
        if folded and key in _PLACEMENT:
            key, value, identity = "override-tensor", ",".join(_rules(profile_id, flag, key, value)), "placement"
            if not value:
                continue  # --n-cpu-moe 0 adds no rule
        _check_value(profile_id, source, flag, key, value)
        if identity not in first:
            first[identity] = (len(keys), flag)
            keys.append((key, value))
            continue
        index, first_flag = first[identity]
        old_key, old_value = keys[index]
        if key in COMMA_LISTS and old_key == key:
            keys[index] = (key, f"{old_value},{value}")
        elif (old_key, old_value) != (key, value):
            raise BadInput(f"[{profile_id}] {first_flag} and {flag} both set llama-server's option {key!r} "
                           f"({old_key} = {old_value}, then {key} = {value}); a preset holds one value per option",
                           field=source, fix="keep one of them in the profile")
    if folded:
        notes.append("--cpu-moe/--n-cpu-moe written as override-tensor rules in the profile's order: the router "
                     "applies those options in another order, and the first matching rule wins")
    return PresetSection(profile_id, keys, list(comments), notes)


def _walk(profile_id: str, args: list[str], options: ServerOptions
          ) -> list[tuple[ServerOption, str, str, str, str]]:
    """(option, preset key, value, flag as written, models.conf key) for each option in ``args``."""
    out = []
    i = 0
    while i < len(args):
        flag = args[i]
        source = _SOURCE_KEY.get(flag, "EXTRA_ARGS")
        opt = options.lookup(flag) if flag.startswith("-") else None
        if opt is None:
            what = f"{flag!r} is not an option of this llama-server" if flag.startswith("-") else \
                f"{flag!r} is not an option (a value without its option?)"
            raise BadInput(f"[{profile_id}] {what}", field=source,
                           fix="check the spelling against `llama-server --help`, or remove it from the profile")
        if opt.n_values > 1:
            raise BadInput(f"[{profile_id}] {flag} takes {opt.n_values} values ({opt.value_hint}); llama-server's "
                           "preset files hold one value per option", field=source,
                           fix="serve this profile with start.sh or llama-swap, or drop the option from it")
        if opt.n_values == 1:
            if i + 1 >= len(args):
                raise BadInput(f"[{profile_id}] {flag} has no value", field=source,
                               fix=f"give {flag} its value ({opt.value_hint})")
            value = args[i + 1]
            i += 2
        else:
            value = "true"  # a flag; for a negation (no-warmup = true) llama.cpp writes the --no- flag
            i += 1
        out.append((opt, opt.key(options.canonical(flag)), value, flag, source))
    return out


def _needs_folding(placement: list[tuple[ServerOption, str]]) -> bool:
    """True when the router's order of the placement options (sorted by first spelling) differs from
    the profile's while -ot rules are among them, or when --cpu-moe/--n-cpu-moe/--n-cpu-ffn is repeated
    (on the command line each repeat appends rules; a preset keeps one value)."""
    keys = [key for _opt, key in placement]
    if any(keys.count(k) > 1 for k in set(keys) if k != "override-tensor"):
        return True
    orders = [opt.order for opt, _key in placement]
    return "override-tensor" in keys and orders != sorted(orders)


def _rules(profile_id: str, flag: str, key: str, value: str) -> list[str]:
    """The -ot rules a placement option stands for (common/common.h llm_ffn_exps_cpu_override and
    llm_add_n_cpu_ffn_overrides, build 11434)."""
    if key == "override-tensor":
        return [value]
    if key == "cpu-moe":
        return [f"{_FFN_EXPS}=CPU"]
    try:
        n = int(value)
    except ValueError:
        n = -1
    if n < 0:
        raise BadInput(f"[{profile_id}] {flag} {value!r} is not a number of layers", field="EXTRA_ARGS",
                       fix=f"write {flag} N with N >= 0")
    regex = _FFN_EXPS if key == "n-cpu-moe" else _FFN_DENSE
    return [rf"blk\.{i}{regex}=CPU" for i in range(n)]


def _check_value(profile_id: str, source: str, flag: str, key: str, value: str) -> None:
    """Refuse what llama-server's preset reader would read back differently (common/preset.cpp)."""
    problem = None
    if value == "":
        problem = "is empty"
    elif "\n" in value or "\r" in value:
        problem = "holds a line break"
    elif ";" in value or "#" in value:
        char = ";" if ";" in value else "#"
        problem = f"holds {char!r}, which starts a comment in a preset file, even inside a value"
    elif value != value.strip(" \t"):
        problem = "starts or ends with a blank, which a preset file drops"
    if problem:
        raise BadInput(f"[{profile_id}] {flag} (preset key {key!r}): the value {value!r} {problem}",
                       field=source, fix="serve this profile with start.sh or llama-swap, or change the value")


def name_clash(named: Sequence[tuple[str, Sequence[str]]]) -> tuple[str, str] | None:
    """Both servers route by model id *and* alias, and refuse to start when one name means two models:
    (profile, message) for the first alias that repeats a profile id or another alias; None if none."""
    owner: dict[str, str] = {pid: pid for pid, _aliases in named}
    for pid, aliases in named:
        for alias in aliases:
            other = owner.setdefault(alias, pid)
            if other != pid:
                what = f"the profile [{other}]" if alias == other else f"an alias of [{other}]"
                return pid, f"[{pid}] alias {alias!r} is also {what}"
    return None


def render_preset(sections: Iterable[PresetSection], header: Sequence[str] = ()) -> str:
    """The INI text: header comments, ``version = 1``, then each section with its comments and notes."""
    lines = [f"; {h}".rstrip() for h in header] + ["version = 1"]
    for section in sections:
        lines.append("")
        lines += [f"; {c}".rstrip() for c in section.comments]
        lines.append(f"[{section.id}]")
        width = max((len(k) for k, _ in section.keys), default=0)
        lines += [f"{k:<{width}} = {v}" for k, v in section.keys]
        lines += [f"; {n}" for n in section.notes]
    return "\n".join(lines) + "\n"


# -- llama-swap ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SwapModel:
    """One llama-swap model: its id, the argv (binary first, ``--port`` added by the renderer)."""

    id: str
    argv: list[str]
    name: str = ""
    description: str = ""
    aliases: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def swap_model(profile_id: str, argv: Sequence[str], values: Mapping[str, str]) -> SwapModel:
    """A profile's argv (built with no host or port) -> a llama-swap model. A ``--host``/``--port`` of
    the profile is left out with a note (llama-swap chooses the port and proxies to 127.0.0.1, where
    the server listens); the values of ``--alias`` become llama-swap aliases as well."""
    kept: list[str] = []
    notes: list[str] = []
    aliases: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("--host", "--port") and i + 1 < len(args):
            notes.append(f"{arg} {args[i + 1]} left out: llama-swap runs the server on 127.0.0.1, on a port it chooses")
            i += 2
            continue
        if arg in ("-a", "--alias") and i + 1 < len(args):
            aliases += [a.strip() for a in args[i + 1].split(",") if a.strip()]
        if _LLAMA_SWAP_MACRO in arg:
            raise BadInput(f"[{profile_id}] the argument {arg!r} holds '${{', which llama-swap reads as a macro",
                           field=_source_of(i, args), fix="change the value, or serve this profile with start.sh")
        if any(not _yaml_printable(ch) or ch in "\t\r\n\x85" for ch in arg):
            raise BadInput(f"[{profile_id}] the argument {arg!r} holds a control character",
                           field=_source_of(i, args), fix="remove it from the profile")
        kept.append(arg)
        i += 1
    return SwapModel(profile_id, kept + ["--host", "127.0.0.1"], values.get("NAME", ""),
                     values.get("DESCRIPTION", ""), tuple(dict.fromkeys(aliases)), tuple(notes))


def _source_of(index: int, argv: Sequence[str]) -> str:
    """The models.conf key argument ``index`` of a build_server_argv list came from."""
    if index == 0:
        return "MODEL"
    here, before = _SOURCE_KEY.get(argv[index]), _SOURCE_KEY.get(argv[index - 1])
    return here or before or "EXTRA_ARGS"


def render_llama_swap(models: Iterable[SwapModel], *, ttl: int = 0, header: Sequence[str] = ()) -> str:
    """llama-swap YAML: ``models: "<id>": cmd: |`` one option per line, ``--port ${PORT}`` last,
    ``proxy`` on 127.0.0.1, ``ttl`` and ``aliases``. Every string is written double-quoted (JSON-style
    escapes, which YAML reads the same) with ``$`` as ``\\x24`` so no llama-swap macro is formed."""
    lines = [f"# {h}".rstrip() for h in header]
    lines.append("models:")
    for model in models:
        lines.append(f"  {yaml_string(model.id)}:")
        if model.name:
            lines.append(f"    name: {yaml_string(model.name)}")
        if model.description:
            lines.append(f"    description: {yaml_string(model.description)}")
        lines += [f"    # {n}" for n in model.notes]
        lines.append("    cmd: |")
        lines += [f"      {line}" for line in _cmd_lines(model.argv)]
        lines.append("      --port ${PORT}")
        lines.append('    proxy: "http://127.0.0.1:${PORT}"')
        lines.append(f"    ttl: {int(ttl)}")
        if model.aliases:
            lines.append("    aliases:")
            lines += [f"      - {yaml_string(a)}" for a in model.aliases]
    return "\n".join(lines) + "\n"


def _cmd_lines(argv: Sequence[str]) -> list[str]:
    """One line per option with its values; every argument quoted for POSIX splitting. A line never
    starts with ``#`` (shlex.quote quotes it) nor ends with ``\\`` (quoted too)."""
    lines: list[list[str]] = [[shlex.quote(argv[0])]]
    for arg in argv[1:]:
        starts_option = arg.startswith("-") and not re.fullmatch(r"-\d[\d.eE+-]*", arg)
        if starts_option:
            lines.append([])
        lines[-1].append(shlex.quote(arg))
    return [" ".join(words) for words in lines]


def _yaml_printable(ch: str) -> bool:
    """YAML 1.2 c-printable, less the byte-order mark."""
    o = ord(ch)
    return (ch in "\t\n\r" or 0x20 <= o <= 0x7E or o == 0x85 or 0xA0 <= o <= 0xD7FF
            or 0xE000 <= o <= 0xFFFD and o != 0xFEFF or 0x10000 <= o <= 0x10FFFF)


def yaml_string(text: str) -> str:
    """``text`` as a YAML double-quoted scalar that YAML parsers read back exactly and in which
    llama-swap finds no ``${...}`` macro (``$`` is written ``\\x24``)."""
    out = []
    for ch in text:
        if ch in "\"\\":
            out.append("\\" + ch)
        elif ch == "$" or ch in "\t\n\r\x85" or not _yaml_printable(ch):
            out.append(f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'
