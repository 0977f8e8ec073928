"""models.conf reader/writer: what the owner relies on.

* their hand-written file survives byte for byte (comments, CRLF, tabs, trailing spaces, UTF-8,
  no final newline) unless the workflow changes a section, and then only that section changes;
* `-ot` regexes with `\\`, `|`, `(`, `=` come out of EXTRA_ARGS as the exact argv tokens;
* a malformed file is reported as file:line with what to do, and never written.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onboard.llamacpp.errors import BadInput
from onboard.store.models_conf import (
    PROFILE_KEYS,
    ModelsConf,
    join_extra_args,
    render_section,
    split_extra_args,
)

DOC = Path(__file__).resolve().parent.parent / "docs" / "models-conf.md"

OWNER = """\
# models.conf: llama-server profiles for this rig (4090 24 GB + 5070 Ti 16 GB + 64 GB RAM)
# start one with: ./start.sh <profile-id>

# Tested 2025-06-02: 38 t/s generation, 31 GB RAM
[qwen3-coder-30b]
NAME=Qwen3-Coder 30B-A3B (Q4_K_M)
DESCRIPTION=Coding model, experts 20-47 on CPU
SPEED=38 t/s
MODEL=models/Qwen3-Coder-30B-A3B-Instruct/Q4_K_M/Qwen3-Coder-30B-A3B-Instruct-Q4_K_M.gguf
CTX_SIZE=65536
N_GPU_LAYERS=99
FIT=off
EXTRA_ARGS=-fa on -ts 24,16 -ot 'blk\\.(2[0-9]|3[0-9]|4[0-7])\\.ffn_.*_exps\\.=CPU' --temp 0.7 --top-p 0.8
# keep -ub at 512: 1024 OOMs on the 5070 Ti

# NOT YET TESTED
# architecture: glm4moe (from the GGUF header), 47 layers, 160 experts
# strategy C: attention on GPU, experts 0-12 on GPU, the rest on CPU
[glm-4.5-air]
NAME=GLM-4.5-Air (UD-Q4_K_XL)
SPEED=~12 t/s (estimated)
MODEL=models/GLM-4.5-Air/UD-Q4_K_XL/GLM-4.5-Air-UD-Q4_K_XL-00001-of-00002.gguf
CTX_SIZE=32768
N_GPU_LAYERS=99
FIT=off
EXTRA_ARGS="-fa on -ot 'blk\\.([0-9]|1[0-2])\\.ffn_.*=CUDA0' -ot 'exps=CPU' --jinja"

# bench profile: EvalPlus, no sampler args
[bench-qwen3-coder-30b]
NAME=Qwen3-Coder 30B-A3B bench
MODEL=models/Qwen3-Coder-30B-A3B-Instruct/Q4_K_M/Qwen3-Coder-30B-A3B-Instruct-Q4_K_M.gguf
CTX_SIZE=10240
N_GPU_LAYERS=99
EXTRA_ARGS=-fa on -b 512 -ub 512 -ot 'blk\\.(3[0-9]|4[0-7])\\.ffn_.*_exps\\.=CPU'
"""


def _variants(text: str) -> dict[str, str]:
    """The same file as people save it: CRLF, no final newline, trailing blanks, tabs, UTF-8, BOM."""
    return {
        "lf": text,
        "crlf": text.replace("\n", "\r\n"),
        "no-final-newline": text.rstrip("\n"),
        "crlf-no-final-newline": text.rstrip("\n").replace("\n", "\r\n"),
        "trailing-spaces-tabs": text.replace("\n", " \t\n").replace("NAME=", "NAME =\t"),
        "utf8": text.replace("Coding model", "Modèle de code — «rapide» ✓"),
        "bom": "\ufeff" + text,
    }


# --- reading the owner's file ------------------------------------------------------------------

def test_owner_file_values_and_argv() -> None:
    conf = ModelsConf.parse(OWNER)
    assert [s.id for s in conf.sections] == ["qwen3-coder-30b", "glm-4.5-air", "bench-qwen3-coder-30b"]
    glm = conf.section("glm-4.5-air")
    assert glm.comments == [
        "# NOT YET TESTED",
        "# architecture: glm4moe (from the GGUF header), 47 layers, 160 experts",
        "# strategy C: attention on GPU, experts 0-12 on GPU, the rest on CPU",
    ]
    assert glm.values["SPEED"] == "~12 t/s (estimated)"
    lines = OWNER.split("\n")
    assert lines[glm.line - 1] == "[glm-4.5-air]" and lines[glm.value_lines["EXTRA_ARGS"] - 1].startswith("EXTRA_ARGS=")
    # the double-quoted shell-style assignment is unwrapped, then split with shell rules
    assert split_extra_args(glm.values["EXTRA_ARGS"]) == [
        "-fa", "on", "-ot", r"blk\.([0-9]|1[0-2])\.ffn_.*=CUDA0", "-ot", "exps=CPU", "--jinja"]
    coder = conf.section("qwen3-coder-30b")
    assert coder.comments == ["# Tested 2025-06-02: 38 t/s generation, 31 GB RAM"]
    assert split_extra_args(coder.values["EXTRA_ARGS"])[5] == r"blk\.(2[0-9]|3[0-9]|4[0-7])\.ffn_.*_exps\.=CPU"
    # the comment after the last key (no blank line between) belongs to the section
    assert coder.text.endswith("# keep -ub at 512: 1024 OOMs on the 5070 Ti\n")
    # the file's header comment is separated by a blank line: nobody's comment block
    assert not any("start one with" in c for s in conf.sections for c in s.comments)
    assert conf.section("bench-qwen3-coder-30b").comments == ["# bench profile: EvalPlus, no sampler args"]
    assert conf.section("nope") is None and conf.section_text("nope") is None


@pytest.mark.parametrize("variant", list(_variants(OWNER)))
def test_round_trip_is_byte_exact(variant: str) -> None:
    text = _variants(OWNER)[variant]
    conf = ModelsConf.parse(text)
    assert conf.text == text
    assert [s.id for s in conf.sections] == ["qwen3-coder-30b", "glm-4.5-air", "bench-qwen3-coder-30b"]
    for s in conf.sections:
        assert text[s.start:s.end] == s.text == conf.section_text(s.id)
        # re-rendering a section with what was read from it changes nothing
        assert conf.with_section(s.id, s.values, s.comments).text == text
    assert conf.section("glm-4.5-air").values["NAME"] == "GLM-4.5-Air (UD-Q4_K_XL)"  # spaces/tabs stripped


def test_load_reads_bytes_exactly_and_missing_file_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "models.conf"
    data = _variants(OWNER)["crlf-no-final-newline"].encode()
    path.write_bytes(data)
    assert ModelsConf.load(path).text.encode() == data
    empty = ModelsConf.load(tmp_path / "absent.conf")
    assert empty.text == "" and empty.sections == []


# --- writing ----------------------------------------------------------------------------------

def test_with_section_marks_tested_and_leaves_every_other_byte(tmp_path: Path) -> None:
    for name, text in _variants(OWNER).items():
        conf = ModelsConf.parse(text)
        old = conf.section("glm-4.5-air")
        values = dict(old.values, SPEED="14.2 t/s", DESCRIPTION="Tested: 14.2 t/s, 21.9 GB on CUDA0")
        new = conf.with_section("glm-4.5-air", values, old.comments[1:])  # NOT YET TESTED removed
        sec = new.section("glm-4.5-air")
        assert new.text[:old.start] == text[:old.start], name
        assert new.text[sec.end:] == text[old.end:], name
        assert sec.values == values and sec.comments == old.comments[1:]
        assert "NOT YET TESTED" not in new.text
        # unchanged key lines keep their bytes (the double-quoted EXTRA_ARGS stays as written) ...
        assert "EXTRA_ARGS=\"-fa on -ot 'blk\\.([0-9]|1[0-2])\\.ffn_.*=CUDA0' -ot 'exps=CPU' --jinja\"" in sec.text
        # ... and a new key goes after the nearest key before it in PROFILE_KEYS order
        nl = "\r\n" if "crlf" in name else "\n"
        if name != "trailing-spaces-tabs":
            assert (f"NAME=GLM-4.5-Air (UD-Q4_K_XL){nl}DESCRIPTION=Tested: 14.2 t/s, 21.9 GB on CUDA0{nl}"
                    f"SPEED=14.2 t/s{nl}") in sec.text


def test_with_section_writes_values_edited_in_place_on_the_section() -> None:
    conf = ModelsConf.parse(OWNER)
    sec = conf.section("glm-4.5-air")
    sec.values["SPEED"] = "14 t/s"  # a caller editing the dict it was given, then writing it
    sec.comments.remove("# NOT YET TESTED")
    new = conf.with_section(sec.id, sec.values, sec.comments)
    assert "SPEED=14 t/s\n" in new.section_text(sec.id) and "NOT YET TESTED" not in new.text


def test_byte_order_mark_stays_first() -> None:
    text = "\ufeff[a]\nNAME=A\n\n[b]\nNAME=B\n"
    conf = ModelsConf.parse(text)
    new = conf.with_section("a", {"NAME": "A2"}, ["NOT YET TESTED"])
    assert new.text == "\ufeff# NOT YET TESTED\n[a]\nNAME=A2\n\n[b]\nNAME=B\n"
    assert conf.without_section("a").text == "\ufeff[b]\nNAME=B\n"
    assert new.section("a").comments == ["# NOT YET TESTED"]


def test_with_section_keeps_comments_among_keys_and_drops_removed_keys() -> None:
    text = "[a]\nNAME=A\n# person's note: -ub 1024 OOMs\nCTX_SIZE=4096\n\nFIT=off\n"
    conf = ModelsConf.parse(text)
    new = conf.with_section("a", {"NAME": "A", "CTX_SIZE": "8192", "EXTRA_ARGS": "-fa on"})
    # the new key goes after CTX_SIZE (its nearest predecessor in PROFILE_KEYS); FIT's line is gone
    assert new.text == "[a]\nNAME=A\n# person's note: -ub 1024 OOMs\nCTX_SIZE=8192\nEXTRA_ARGS=-fa on\n\n"


def test_with_section_appends_new_profile_after_one_blank_line() -> None:
    text = _variants(OWNER)["crlf-no-final-newline"]
    conf = ModelsConf.parse(text)
    new = conf.with_section("bench-glm-4.5-air", {"EXTRA_ARGS": "-b 512 -ub 512", "CTX_SIZE": "10240"},
                            ["bench profile for EvalPlus"])
    assert new.text == text + "\r\n\r\n# bench profile for EvalPlus\r\n[bench-glm-4.5-air]\r\n" \
                              "CTX_SIZE=10240\r\nEXTRA_ARGS=-b 512 -ub 512"
    assert new.without_section("bench-glm-4.5-air").text == text
    assert ModelsConf.parse("").with_section("x", {"NAME": "X"}).text == "[x]\nNAME=X\n"


def test_without_section_removes_section_comment_block_and_one_blank_line() -> None:
    conf = ModelsConf.parse(OWNER)
    new = conf.without_section("glm-4.5-air")
    glm = conf.section("glm-4.5-air")
    assert new.text == OWNER[:glm.start] + OWNER[glm.end + 1:]  # +1: the blank line after it
    assert [s.id for s in new.sections] == ["qwen3-coder-30b", "bench-qwen3-coder-30b"]
    assert new.section("bench-qwen3-coder-30b").text == conf.section("bench-qwen3-coder-30b").text
    first = conf.without_section("qwen3-coder-30b")  # the file's header comment stays, still detached
    assert first.text.startswith("# models.conf: llama-server profiles")
    assert first.section("glm-4.5-air").comments == glm.comments
    last = conf.without_section("bench-qwen3-coder-30b")
    bench = conf.section("bench-qwen3-coder-30b")
    assert last.text == OWNER[:bench.start - 1]  # and the blank line before it
    assert conf.without_section("absent") is conf


def test_rendering_quotes_only_what_needs_it() -> None:
    values = {"NAME": " padded ", "DESCRIPTION": '"quoted"', "SPEED": r'"x\\"', "MODEL": r'"half \"',
              "EXTRA_ARGS": join_extra_args(["-ot", r"blk\.1\.ffn_.*=CPU"])}
    assert render_section("x", values).split("\n") == [
        "[x]",
        'NAME=" padded "',  # surrounding blanks would be stripped: quoted
        r'DESCRIPTION="\"quoted\""',  # a whole double-quoted string would be unwrapped: quoted
        r'SPEED="\"x\\\\\""',
        r'MODEL="half \"',  # not one double-quoted string: written as it is
        r"EXTRA_ARGS=-ot 'blk\.1\.ffn_.*=CPU'",
        "",
    ]
    assert ModelsConf.parse(render_section("x", values)).section("x").values == values


@pytest.mark.parametrize("call, field", [
    (lambda c: c.with_section("a", {"NAME": "two\nlines"}), "NAME"),
    (lambda c: c.with_section("a", {"EXTRA_ARGS": "-x\r-y"}), "EXTRA_ARGS"),
    (lambda c: c.with_section("a", {"NGL": "99"}), "NGL"),
    (lambda c: c.with_section("a", {"EXTRA_ARGS": "-ot 'unbalanced"}), "EXTRA_ARGS"),
    (lambda c: c.with_section("A b", {"NAME": "x"}), "section"),
    (lambda c: join_extra_args(["ok", "not\nok"]), "EXTRA_ARGS"),
])
def test_bad_values_are_refused_naming_the_key(call, field: str) -> None:
    with pytest.raises(BadInput) as err:
        call(ModelsConf.parse(OWNER))
    assert err.value.field == field and f"{field}:" in str(err.value)


# --- malformed files ----------------------------------------------------------------------------

MALFORMED = [
    ("# header\nNAME=orphan\n[a]\n", 2, "NAME=orphan is outside any section"),
    ("[a]\nNAME=A\nNGL=99\n", 3, "unknown key 'NGL' (known: NAME, DESCRIPTION, SPEED, MODEL, CTX_SIZE, "
                                 "N_GPU_LAYERS, FIT, EXTRA_ARGS)"),
    ("[a]\nNAME=A\n\n[b]\n\n[a]\n", 6, "duplicate section [a] (first at line 1)"),
    ("[a]\nNAME=A\nCTX_SIZE=1\nNAME=B\n", 4, "duplicate key 'NAME' in this section (first at line 2)"),
    ("[a]\nNAME=A\n-ot 'x=CPU'\n", 3, "not a [profile-id] header, KEY=value, a # comment or a blank line"),
    ("[a]\nexport NAME=A\n", 2, "not a [profile-id] header"),
    ("[Qwen3]\n", 1, "bad section id 'Qwen3'"),
    ("[-x]\n", 1, "bad section id '-x'"),
    ("[a b]\n", 1, "bad section id 'a b'"),
    ("[a\n", 1, "bad section header '[a'"),
    ("[a]\nEXTRA_ARGS=-ot 'blk\\.1\\.ffn_.*=CPU\n", 2, "EXTRA_ARGS: cannot split with shell rules: No closing"),
    ("[a]\nEXTRA_ARGS=-fa on \\\n  -ot x=CPU\n", 2, "EXTRA_ARGS: ends with a backslash"),
    ("[a]\nEXTRA_ARGS=-fa on # flash attention\n", 2, "EXTRA_ARGS: an unquoted word starts with '#'"),
    ("[a]\r\nNAME=A\r\nN_GPU_LAYER=99\r\n", 3, "unknown key 'N_GPU_LAYER'"),
]


@pytest.mark.parametrize("text, line, message", MALFORMED)
def test_malformed_file_names_file_line_and_is_left_alone(tmp_path: Path, text: str, line: int,
                                                           message: str) -> None:
    path = tmp_path / "models.conf"
    path.write_bytes(text.encode())
    before = path.stat()
    with pytest.raises(BadInput) as err:
        ModelsConf.load(path)
    assert err.value.line == line and err.value.path == str(path)
    assert str(err.value).startswith(f"{path}:{line}: ") and message in str(err.value)
    assert path.read_bytes() == text.encode() and path.stat().st_mtime_ns == before.st_mtime_ns
    with pytest.raises(BadInput) as err:
        ModelsConf.parse(text)
    assert str(err.value).startswith(f"models.conf:{line}: ")


def test_unknown_key_suggests_the_known_one() -> None:
    with pytest.raises(BadInput) as err:
        ModelsConf.parse("[a]\nNGL=99\n")
    assert err.value.fix == "did you mean N_GPU_LAYERS?"


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "models.conf"
    data = "[a]\nNAME=ok\nDESCRIPTION=caf".encode() + b"\xe9 latin-1\n"
    path.write_bytes(data)
    with pytest.raises(BadInput) as err:
        ModelsConf.load(path)
    assert err.value.line == 3 and "not valid UTF-8 (byte 0xe9)" in str(err.value)
    assert path.read_bytes() == data


# --- EXTRA_ARGS ----------------------------------------------------------------------------------

def test_ot_regex_round_trips_exactly() -> None:
    args = ["-fa", "on", "-ot", r"blk\.1\.ffn_.*=CPU", "-ot", r"blk\.(1[0-9]|2[0-3])\.ffn_.*=CPU",
            "--chat-template-kwargs", '{"enable_thinking": false}', "--system-prompt", "it's #1", ""]
    text = join_extra_args(args)
    assert text.startswith(r"-fa on -ot 'blk\.1\.ffn_.*=CPU' -ot 'blk\.(1[0-9]|2[0-3])\.ffn_.*=CPU' ")
    assert split_extra_args(text) == args
    # POSIX rules, as a shell would: '#' inside a word is text; unquoted backslashes escape
    assert split_extra_args(r"-ot blk\.1=CPU x#y") == ["-ot", "blk.1=CPU", "x#y"]
    assert split_extra_args("--stop '#' \\#x") == ["--stop", "#", "#x"]


ARG = st.text(st.characters(blacklist_characters="\x00\n\r", blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.lists(ARG | st.sampled_from([r"blk\.1\.ffn_.*=CPU", "#", "'", '"', "\\", " ", "a b", "$HOME"]),
                max_size=8))
def test_property_join_split_round_trip(args: list[str]) -> None:
    text = join_extra_args(args)
    assert split_extra_args(text) == args
    assert shlex.split(text) == args  # the same text in a real POSIX-rules splitter


# --- generated files -----------------------------------------------------------------------------

LINE_TEXT = st.text(st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)), max_size=20)
WS = st.sampled_from(["", " ", "\t", "  \t"])
IDS = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,12}", fullmatch=True)


@st.composite
def logical_values(draw, key: str) -> str:
    if key == "EXTRA_ARGS":
        return join_extra_args(draw(st.lists(ARG, max_size=5)))
    return draw(LINE_TEXT).strip(" \t")


@st.composite
def raw_value(draw, value: str) -> str:
    """How a person may write `value`: as it is (when unambiguous) or double-quoted, escaping all."""
    if not value.startswith('"') and draw(st.booleans()):
        return draw(WS) + value + draw(WS)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"' + draw(WS)


@st.composite
def comment_lines(draw, max_size: int = 3) -> list[str]:
    return [draw(WS) + "#" + draw(LINE_TEXT) for _ in range(draw(st.integers(0, max_size)))]


@st.composite
def conf_files(draw):
    """(text, expected {id: (values, comments)}) in the owner's grammar with people's variations."""
    eol = draw(st.sampled_from(["\n", "\r\n", "mixed"]))
    lines: list[str] = []
    expected: dict[str, tuple[dict[str, str], list[str]]] = {}
    for _ in range(draw(st.integers(0, 2))):  # preamble: comments, then a blank line
        lines += draw(comment_lines()) + [draw(WS)]
    for sid in draw(st.lists(IDS, unique=True, max_size=4)):
        comments = draw(comment_lines())
        lines += comments + [draw(WS) + f"[{sid}]" + draw(WS)]
        values = {}
        for key in draw(st.lists(st.sampled_from(PROFILE_KEYS), unique=True)):
            values[key] = draw(logical_values(key))
            lines += draw(comment_lines(1)) + [draw(WS) + key + draw(WS) + "=" + draw(raw_value(values[key]))]
        lines += [draw(WS)] * draw(st.integers(0 if values else 1, 2))
        expected[sid] = (values, comments)
    ends = [draw(st.sampled_from(["\n", "\r\n"])) if eol == "mixed" else eol for _ in lines]
    text = "".join(line + end for line, end in zip(lines, ends))
    if text and draw(st.booleans()):
        text = text[: -len(ends[-1])]
    return ("\ufeff" if draw(st.booleans()) else "") + text, expected


PROPS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(conf_files())
def test_property_parse_and_rerender_are_identity(generated) -> None:
    text, expected = generated
    conf = ModelsConf.parse(text)
    assert conf.text == text
    assert {s.id: (s.values, s.comments) for s in conf.sections} == expected
    for s in conf.sections:
        assert text[s.start:s.end] == s.text
        assert conf.with_section(s.id, s.values, s.comments).text == text


@PROPS
@given(conf_files(), IDS, st.data())
def test_property_new_section_then_removed_gives_original(generated, sid: str, data) -> None:
    text, expected = generated
    conf = ModelsConf.parse(text)
    keys = data.draw(st.lists(st.sampled_from(PROFILE_KEYS), unique=True))
    values = {k: data.draw(LINE_TEXT if k != "EXTRA_ARGS" else logical_values(k)) for k in keys}
    comments = data.draw(st.lists(LINE_TEXT, max_size=3))
    if sid in expected:
        return
    new = conf.with_section(sid, values, comments)
    assert new.section(sid).values == values
    assert new.text.startswith(text) and [s.id for s in new.sections][-1] == sid
    assert new.without_section(sid).text == text


@PROPS
@given(conf_files(), st.data())
def test_property_replacing_a_section_touches_only_it(generated, data) -> None:
    text, expected = generated
    if not expected:
        return
    conf = ModelsConf.parse(text)
    old = conf.section(data.draw(st.sampled_from(sorted(expected))))
    keys = data.draw(st.lists(st.sampled_from(PROFILE_KEYS), unique=True))
    values = {k: data.draw(LINE_TEXT if k != "EXTRA_ARGS" else logical_values(k)) for k in keys}
    comments = data.draw(comment_lines())
    new = conf.with_section(old.id, values, comments)
    sec = new.section(old.id)
    assert (sec.values, sec.comments) == (values, comments)
    assert new.text[:old.start] == text[:old.start]
    rest = new.text[sec.end:]
    if rest != text[old.end:]:  # a comment left last is kept from the next header by a blank line
        assert sec.text.rstrip("\r\n").split("\n")[-1].lstrip(" \t").startswith("#")
        assert rest in ("\n" + text[old.end:], "\r\n" + text[old.end:])
    assert [(s.id, s.text) for s in new.sections if s.id != old.id] == \
        [(s.id, s.text) for s in conf.sections if s.id != old.id]
    assert [s.id for s in new.sections] == [s.id for s in conf.sections]
    gone = new.without_section(old.id)
    # (the section before a removed last one loses its final newline when the file had none)
    assert {s.id: s.text.rstrip("\r\n") for s in gone.sections} == \
        {s.id: s.text.rstrip("\r\n") for s in conf.sections if s.id != old.id}


@settings(max_examples=300, deadline=None)
@given(LINE_TEXT)
def test_property_any_one_line_value_survives_render_and_parse(value: str) -> None:
    assert ModelsConf.parse(render_section("p", {"DESCRIPTION": value})).section("p").values == {
        "DESCRIPTION": value}


# --- the documentation's examples ------------------------------------------------------------------

def _doc_blocks() -> list[tuple[str, str | None]]:
    """Each ```ini block of the doc, with the ```text block right after it when that shows an error."""
    found = re.findall(r"```ini\n(.*?)```\n(?:\s*```text\n(models\.conf:.*?)```)?", DOC.read_text(), re.S)
    return [(ini, err or None) for ini, err in found]


def test_doc_examples_parse_and_show_the_real_errors() -> None:
    blocks = _doc_blocks()
    assert len([b for b in blocks if b[1] is None]) >= 2 and len([b for b in blocks if b[1]]) >= 9
    for ini, error in blocks:
        if error is None:
            conf = ModelsConf.parse(ini)
            for s in conf.sections:
                split_extra_args(s.values.get("EXTRA_ARGS", ""))
        else:
            with pytest.raises(BadInput) as err:
                ModelsConf.parse(ini)
            assert str(err.value) == error.rstrip("\n")


def test_doc_quoting_example_means_what_the_doc_says() -> None:
    ini = next(ini for ini, err in _doc_blocks() if ini.startswith("[quoting]"))
    values = ModelsConf.parse(ini).section("quoting").values
    assert values["NAME"] == "Qwen3 30B, spaces around the value are dropped"
    assert values["DESCRIPTION"] == 'a "quoted" word and a \\ backslash'
    assert split_extra_args(values["EXTRA_ARGS"]) == ["-fa", "on", "-ot", r"blk\.1\.ffn_.*=CPU"]


def test_doc_example_has_two_profiles_and_a_bench_profile() -> None:
    ids = [s.id for ini, err in _doc_blocks() if err is None for s in ModelsConf.parse(ini).sections]
    assert any(i.startswith("bench-") for i in ids) and len([i for i in ids if not i.startswith("bench-")]) >= 2
