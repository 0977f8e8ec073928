"""Round-trip, comment-preserving reader and writer of the owner's ``models.conf``.

Why byte-exact: ``models.conf`` is the person's own file, edited by hand between runs. The workflow
must be able to add, replace and remove *its* profile sections while every other byte (their
comments, blank lines, CRLF endings, a missing final newline) stays exactly as it was, so that an
undo can be checked and a diff shows only what the workflow meant to change.

Grammar and decisions (documented for people in ``docs/models-conf.md``):

* a line is blank, a ``# comment`` (only at the start of a line: a ``#`` inside a value is part of
  the value, because ``-ot`` regexes and descriptions may hold one), a ``[profile-id]`` header, or
  ``KEY=value`` with a key of :data:`PROFILE_KEYS`;
* the value is everything after the first ``=``, without surrounding spaces/tabs; a value written
  as one double-quoted string (``KEY="..."``, like a shell assignment) is unwrapped, ``\\"`` and
  ``\\\\`` being its only escapes;
* a section's comment block is the run of ``#`` lines directly above its header (a blank line
  ends it); its body runs to its last key line, plus ``#`` lines directly after that one.

The module only turns text into text; the store does the atomic writes and undo records.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from onboard.llamacpp.errors import BadInput
from onboard.store.suggest import did_you_mean

PROFILE_KEYS = ("NAME", "DESCRIPTION", "SPEED", "MODEL", "CTX_SIZE", "N_GPU_LAYERS", "FIT", "EXTRA_ARGS")

_ALIASES = {"NGL": "N_GPU_LAYERS", "CTX": "CTX_SIZE", "C": "CTX_SIZE", "ARGS": "EXTRA_ARGS", "M": "MODEL"}
_WS = " \t"
_BOM = "\ufeff"
_ID_RE = re.compile(r"[a-z0-9][a-z0-9._-]*")
_HEADER_RE = re.compile(r"\[([^\]]*)\]")
_KEY_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)[ \t]*=(.*)", re.S)
_SPACED_KEY_RE = re.compile(r"(%s)[ \t]+([^=]*)" % "|".join(PROFILE_KEYS), re.S)
_DQUOTED_RE = re.compile(r'"((?:[^"\\]|\\.)*)"', re.S)
_ESCAPE_RE = re.compile(r"\\(.)", re.S)
_FORMS = "a [profile-id] header, KEY=value, a # comment or a blank line"


@dataclass(frozen=True)
class Section:
    """One ``[id]`` section as parsed: logical values in file order and its comment block."""

    id: str
    values: dict[str, str]
    comments: list[str]  # the comment block above the header, each line as written (no line ending)
    line: int  # 1-based line of the [id] header
    text: str  # exact text: comment block + header + body
    value_lines: dict[str, int] = field(default_factory=dict)  # key -> 1-based line, for error messages
    start: int = 0  # character offsets of ``text`` in the file
    end: int = 0


def split_extra_args(value: str) -> list[str]:
    """EXTRA_ARGS -> argv tokens with POSIX shell rules (shlex); nothing is expanded or executed.

    An unquoted word starting with ``#`` is refused: a shell would drop it as a comment, this
    reader would pass it on, and guessing which the person meant would be wrong half the time.
    """
    try:
        return _split(value)
    except _SplitError as err:
        raise BadInput(err.args[0], field="EXTRA_ARGS", fix=err.args[1]) from None


class _SplitError(ValueError):
    """(message, fix) of an EXTRA_ARGS value that cannot be split."""


def _split(value: str) -> list[str]:
    try:
        args = shlex.split(value, comments=False, posix=True)
    except ValueError as err:  # "No closing quotation", "No escaped character"
        if value.rstrip(_WS).endswith("\\"):
            raise _SplitError("ends with a backslash", "a value is one line: join the next line to it") from None
        raise _SplitError(f"cannot split with shell rules: {err}",
                          "balance the quotes ('...' or \"...\") or escape the character with \\") from None
    if _unquoted_hash(value):
        raise _SplitError("an unquoted word starts with '#'",
                          "put comments on their own line; quote the argument if '#' belongs to it")
    return args


def join_extra_args(args: Sequence[str]) -> str:
    """argv tokens -> EXTRA_ARGS text that :func:`split_extra_args` turns back into the same list.

    shlex.quote single-quotes any argument that needs it, so ``-ot 'blk\\.1\\.ffn_.*=CPU'`` keeps
    its backslashes exactly as a person would write it in a shell.
    """
    for arg in args:
        if "\n" in arg or "\r" in arg:
            raise BadInput(f"argument {arg!r} holds a line break", field="EXTRA_ARGS",
                           fix="a models.conf value is one line")
    return " ".join(shlex.quote(arg) for arg in args)


def render_section(section_id: str, values: Mapping[str, str], comments: Sequence[str] = (),
                   newline: str = "\n") -> str:
    """The canonical text of a new section: comment block, ``[id]``, keys in PROFILE_KEYS order."""
    _check_id(section_id)
    lines = [_comment_line(c) for c in comments] + [f"[{section_id}]"]
    lines += [_value_line(k, v) for k, v in _checked_values(values).items()]
    return "".join(line + newline for line in lines)


@dataclass(frozen=True)
class ModelsConf:
    """Immutable view of one models.conf text; edits return a new view, the text is never re-flowed."""

    path: str
    text: str
    sections: list[Section]
    _lines: tuple[str, ...] = field(repr=False)  # raw lines, line endings included
    _contents: tuple[str, ...] = field(repr=False)  # the same without endings (and BOM)
    _keys: tuple[str | None, ...] = field(repr=False)  # per line: its key, or None
    _regions: dict[str, tuple[int, int, int]] = field(repr=False)  # id -> (start, header, end) line indices

    @classmethod
    def load(cls, path: str | Path, *, args_checked: bool = True) -> ModelsConf:
        """Read and parse a file; a missing file is an empty conf (the first profile creates it).

        ``args_checked=False`` leaves each section's EXTRA_ARGS unsplit (``serve`` splits only the
        profile it starts, so one person's unbalanced quote elsewhere does not stop every profile)."""
        from onboard.llamacpp.input_files import read_bytes_limited

        data = read_bytes_limited(path, "models.conf")  # never a FIFO, a device or a huge file
        if data is None:
            return cls.parse("", str(path))
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            raise BadInput(f"not valid UTF-8 (byte 0x{data[err.start]:02x})", path=str(path),
                           line=data.count(b"\n", 0, err.start) + 1, fix="save the file as UTF-8") from None
        return cls.parse(text, str(path), args_checked=args_checked)

    @classmethod
    def parse(cls, text: str, path: str = "models.conf", *, args_checked: bool = True) -> ModelsConf:
        """Parse ``text``; the first malformed line raises BadInput naming path:line and the fix."""
        lines = _split_lines(text)
        contents = [_content(raw) for raw in lines]
        if contents:
            contents[0] = contents[0].removeprefix(_BOM)  # a byte-order mark some editors add
        keys: list[str | None] = []
        headers: list[int] = []
        found: dict[str, tuple[int, dict[str, str], dict[str, int]]] = {}
        current: tuple[str, dict[str, str], dict[str, int]] | None = None
        for i, content in enumerate(contents):
            line, stripped = i + 1, content.strip(_WS)
            bad = _reporter(path, line)
            keys.append(None)
            if not stripped or stripped.startswith("#"):
                continue
            if stripped.startswith("["):
                m = _HEADER_RE.fullmatch(stripped)
                if not m:
                    raise bad(f"bad section header {stripped!r}",
                              "write [profile-id] alone on its line (comments go on their own line)")
                sid = m[1]
                if not _ID_RE.fullmatch(sid):
                    raise bad(f"bad section id {sid!r}", "use lowercase letters, digits, '.', '_' and '-', "
                                                         "starting with a letter or digit")
                if sid in found:
                    raise bad(f"duplicate section [{sid}] (first at line {found[sid][0]})",
                              "rename or remove one of them")
                current = found[sid] = (line, {}, {})
                headers.append(i)
                continue
            m = _KEY_RE.fullmatch(stripped)
            if not m:
                cont = i > 0 and contents[i - 1].rstrip(_WS).endswith("\\")
                spaced = _SPACED_KEY_RE.fullmatch(stripped)  # "FIT off": the = was forgotten
                raise bad(f"not {_FORMS}: {stripped[:60]!r}",
                          "a value is one line: join it to the line above" if cont else
                          f"write it as {spaced[1]}={spaced[2]}" if spaced else None)
            key, raw = m[1], m[2]
            if current is None:
                raise bad(f"{key}={raw[:40]} is outside any section", "put it under a [profile-id] header")
            if key not in PROFILE_KEYS:
                hint = f"did you mean {_ALIASES[key.upper()]}?" if key.upper() in _ALIASES else \
                    did_you_mean(key.upper(), PROFILE_KEYS, n=1)
                raise bad(f"unknown key {key!r} (known: {', '.join(PROFILE_KEYS)})", hint)
            if key in current[1]:
                raise bad(f"duplicate key {key!r} in this section (first at line {current[2][key]})",
                          "keep one of them")
            current[1][key] = value = _logical(raw)
            current[2][key] = line
            keys[i] = key
            if key == "EXTRA_ARGS" and args_checked:
                try:
                    _split(value)
                except _SplitError as err:
                    raise BadInput(err.args[0], path=path, line=line, field=key, fix=err.args[1]) from None
        return cls._build(path, text, lines, contents, keys, headers, found)

    @classmethod
    def _build(cls, path, text, lines, contents, keys, headers, found) -> ModelsConf:
        """Attach comment blocks and bodies to the headers and compute each section's extent."""
        starts = []
        for h in headers:
            s = h
            while s > 0 and contents[s - 1].lstrip(_WS).startswith("#"):
                s -= 1
            starts.append(s)
        offsets = [0]
        for raw in lines:
            offsets.append(offsets[-1] + len(raw))
        sections, regions = [], {}
        for n, (s, h) in enumerate(zip(starts, headers)):
            limit = starts[n + 1] if n + 1 < len(headers) else len(lines)
            e = max([i + 1 for i in range(h + 1, limit) if keys[i]], default=h + 1)
            while e < limit and contents[e].lstrip(_WS).startswith("#"):
                e += 1
            sid = _HEADER_RE.fullmatch(contents[h].strip(_WS))[1]
            line, values, value_lines = found[sid]
            regions[sid] = (s, h, e)
            start = offsets[s] or len(_BOM) * text.startswith(_BOM)  # the BOM is the file's, not the section's
            sections.append(Section(sid, values, contents[s:h], line, text[start:offsets[e]],
                                    value_lines, start, offsets[e]))
        return cls(path, text, sections, tuple(lines), tuple(contents), tuple(keys), regions)

    def section(self, section_id: str) -> Section | None:
        return next((s for s in self.sections if s.id == section_id), None)

    def section_text(self, section_id: str) -> str | None:
        found = self.section(section_id)
        return None if found is None else found.text

    @property
    def newline(self) -> str:
        """The line ending new lines get: that of the file's last ended line ("\\n" by default)."""
        ended = [raw for raw in self._lines if raw.endswith("\n")]
        return "\r\n" if ended and ended[-1].endswith("\r\n") else "\n"

    def with_section(self, section_id: str, values: Mapping[str, str],
                     comments: Sequence[str] = ()) -> ModelsConf:
        """Set a section: replace it in place, or append it after one blank line.

        In place means: the comment block becomes ``comments``; a key line whose value is unchanged
        keeps its bytes, a changed one is rewritten, a key not in ``values`` is dropped, a new key
        goes after the nearest key that precedes it in PROFILE_KEYS order; the header and the
        comments and blank lines among the keys stay. Every byte outside the section is unchanged.
        """
        _check_id(section_id)
        values, comments, nl = _checked_values(values), [_comment_line(c) for c in comments], self.newline
        if section_id not in self._regions:
            block, text = render_section(section_id, values, comments, nl), self.text
            if not text:
                return self.parse(block, self.path)
            if text.endswith("\n"):
                return self.parse(text + nl + block, self.path)
            return self.parse(text + nl + nl + block[: -len(nl)], self.path)  # keep "no final newline"
        s, h, e = self._regions[section_id]
        # compare with the file itself, not with Section objects a caller may have modified
        head = list(self._lines[s:h]) if comments == list(self._contents[s:h]) else [c + nl for c in comments]
        body, body_keys = [self._lines[h]], [None]
        for i in range(h + 1, e):
            key = self._keys[i]
            if key is not None and key not in values:
                continue
            keep = key is None or values[key] == _logical(_KEY_RE.fullmatch(self._contents[i].strip(_WS))[2])
            body.append(self._lines[i] if keep else _value_line(key, values[key]) + _eol(self._lines[i]))
            body_keys.append(key)
        for key in values:
            if key in body_keys:
                continue
            before = [j for j, k in enumerate(body_keys) if k and PROFILE_KEYS.index(k) < PROFILE_KEYS.index(key)]
            keyed = [j for j, k in enumerate(body_keys) if k]
            pos = before[-1] + 1 if before else (keyed[0] if keyed else 1)
            body.insert(pos, _value_line(key, values[key]))
            body_keys.insert(pos, key)
        region = head + body
        region = [raw if _eol(raw) else raw + nl for raw in region[:-1]] + [region[-1]]
        last_eol = _eol(self._lines[e - 1])  # "" only at the end of a file without a final newline
        if not last_eol or not _eol(region[-1]):
            region[-1] = _content(region[-1]) + last_eol
        if s == 0 and self.text.startswith(_BOM):  # the BOM stays first, whatever line is now first
            region = [_BOM + region[0].removeprefix(_BOM)] + [raw.removeprefix(_BOM) for raw in region[1:]]
        glued = e < len(self._lines) and _content(self._lines[e]).strip(_WS)
        if glued and region[-1].lstrip(_WS).startswith("#"):
            region.append(nl)  # else the next header would adopt this section's last comment
        before, after = "".join(self._lines[:s]), "".join(self._lines[e:])
        return self.parse(before + "".join(region) + after, self.path)

    def without_section(self, section_id: str) -> ModelsConf:
        """Remove a section with its comment block and one separating blank line; absent id: no-op.

        The blank line removed is the one after the section, else (at the end of the file) the one
        before, unless that would move a comment into another section (then none is removed); a
        section appended by :meth:`with_section` is thus removed without a trace.
        """
        if section_id not in self._regions:
            return self
        lines, (s, _, e) = self._lines, self._regions[section_id]
        blank = lambda i: 0 <= i < len(lines) and not _content(lines[i]).strip(_WS)  # noqa: E731
        cuts = [(s, e + 1)] if blank(e) else [(s - 1, e)] if e == len(lines) and blank(s - 1) else []
        others = [(x.id, x.text.rstrip("\r\n")) for x in self.sections if x.id != section_id]
        for a, b in cuts + [(s, e)]:
            text = "".join(lines[:a] + lines[b:])
            if e == len(lines) and text and not _eol(lines[-1]):  # no final newline before: none after
                text = _content(text)
            if a == 0 and self.text.startswith(_BOM):
                text = _BOM + text
            conf = self.parse(text, self.path)
            if [(x.id, x.text.rstrip("\r\n")) for x in conf.sections] == others:
                break
        return conf


def _reporter(path: str, line: int):
    """A BadInput factory bound to one file line."""
    return lambda message, fix=None: BadInput(message, path=path, line=line, fix=fix)


def _split_lines(text: str) -> list[str]:
    """Lines with their endings; only "\\n" ends a line (a "\\r" before it belongs to the ending)."""
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _content(raw: str) -> str:
    return raw[:-2] if raw.endswith("\r\n") else raw[:-1] if raw.endswith("\n") else raw


def _eol(raw: str) -> str:
    return raw[len(_content(raw)):]


def _logical(raw: str) -> str:
    """The value a raw ``KEY=`` text stands for: stripped, one double-quoted string unwrapped."""
    value = raw.strip(_WS)
    m = _DQUOTED_RE.fullmatch(value)
    if not m:
        return value
    return _ESCAPE_RE.sub(lambda e: e[1] if e[1] in '"\\' else e[0], m[1])


def _quote_value(value: str) -> str:
    """Double-quote a value so that :func:`_logical` gives it back (only ``"`` and ``\\`` escaped)."""
    out = []
    for i, ch in enumerate(value):
        if ch == '"' or (ch == "\\" and (i + 1 == len(value) or value[i + 1] in '"\\')):
            out.append("\\")
        out.append(ch)
    return '"' + "".join(out) + '"'


def _value_line(key: str, value: str) -> str:
    return f"{key}={value if _logical(value) == value else _quote_value(value)}"


def _comment_line(comment: str) -> str:
    if "\n" in comment or "\r" in comment:
        raise BadInput(f"comment {comment!r} holds a line break", fix="pass one list item per line")
    return comment if comment.lstrip(_WS).startswith("#") else ("# " + comment).rstrip(_WS)


def _check_id(section_id: str) -> None:
    if not isinstance(section_id, str) or not _ID_RE.fullmatch(section_id):
        raise BadInput(f"bad section id {section_id!r}", field="section",
                       fix="use lowercase letters, digits, '.', '_' and '-', starting with a letter or digit")


def _checked_values(values: Mapping[str, str]) -> dict[str, str]:
    """Known keys, one-line string values, EXTRA_ARGS splittable; returned in PROFILE_KEYS order."""
    for key, value in values.items():
        if key not in PROFILE_KEYS:
            raise BadInput(f"unknown key {key!r} (known: {', '.join(PROFILE_KEYS)})", field=key)
        if not isinstance(value, str):
            raise BadInput(f"value {value!r} is not text", field=key)
        if "\n" in value or "\r" in value:
            raise BadInput("the value holds a line break", field=key, fix="a models.conf value is one line")
    if "EXTRA_ARGS" in values:
        split_extra_args(values["EXTRA_ARGS"])
    return {key: values[key] for key in PROFILE_KEYS if key in values}


def _unquoted_hash(value: str) -> bool:
    """True when a word starts with an unquoted, unescaped ``#`` (where a POSIX shell sees a comment)."""
    quote, word_start, i = None, True, 0
    while i < len(value):
        ch = value[i]
        if quote == "'":
            quote = None if ch == "'" else quote
        elif quote == '"':
            i += ch == "\\"
            quote = None if ch == '"' else quote
        elif ch in _WS:
            word_start, i = True, i + 1
            continue
        elif ch == "#" and word_start:
            return True
        elif ch == "\\":
            i += 1
        elif ch in "'\"":
            quote = ch
        word_start = False
        i += 1
    return False
