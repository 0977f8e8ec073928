"""Malformed files a person feeds the workflow, through the real CLI on a real scratch repository.

One row per malformation: the file it breaks (the repository's models.conf, the candidate card,
rig.toml, or a file given on the command line: a log, a --rig / ONBOARD_RIG file), how, and the
command that meets it in the phase where it matters. What every refusal must hold:

- exit 6 (BAD_INPUT) and ONE message on stderr naming ``file:line`` (just ``file`` where the
  file has no line to name, e.g. an empty log), the field where there is one, and a ``fix:``;
  never a Python traceback;
- nothing touched: every file of the repository byte-identical (``.onboard/`` aside: the database
  and logs are the workflow's own), a file given from outside too, the candidate's phase and
  options unchanged in ``status --json``, no ``*.onboard-tmp`` left anywhere;
- once the person puts the file right, the same command goes through.

Some malformations are not refusals, by decision (see ``Row.outcome``): a guard that checks
models.conf holds the candidate back (exit 1, the guard's reason names file:line); ``status
--check`` shows that guard (exit 0); a log cut before the load finished is read and reported
"incomplete"; a log with a few bytes that are not UTF-8 is read (they become U+FFFD) with a note.

The repository is built once per module at each phase the rows need (the candidate taken there by
the real CLI against a local hub: tests/hub_server.py) and copied per row.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field as dc_field
from pathlib import Path

import pytest

from tests import reliability
from tests.hub_server import LocalHub
from tests.workflow_repo import CPU_RIG, REPO_ID, WorkflowRepo, hub_files, make_repo

NAME = "tiny-llama"
SECTION = "malformed inputs refused"
LOGS = Path(__file__).parent / "fixtures" / "llama-server-logs"
GOOD_LOG = LOGS / "b11434-cpu-gemma-lv4.log"  # a real, complete llama-server -lv 4 log
CARD = f"models/documentation/CANDIDATES/README_{NAME}.md"
OUTSIDE = "given/"  # prefix of a file that lives outside the repository (given on the command line)
MODEL = "models/Tiny-Llama/Q8_0/Tiny-Llama-Q8_0.gguf"


# --- the repository at each phase, built once ------------------------------------------------------
@pytest.fixture(scope="module")
def states(tmp_path_factory):
    """{state: repository root} at each phase the rows start from; the hub stays up for the module."""
    tmp = tmp_path_factory.mktemp("malformed")
    files = hub_files(tmp)
    saved = tmp / "states"
    with LocalHub({REPO_ID: files}) as hub:
        repo = make_repo(tmp, hub.url, files)

        def keep(state: str) -> None:
            shutil.copytree(repo.root, saved / state, symlinks=True)

        keep("fresh")  # no candidate yet: `start` reads the card
        repo.onboard("start", NAME, check=True)
        keep("evaluate")
        repo.onboard("advance", NAME, "--quant", "Q8_0", check=True)
        # the person ran the printed `hf download` themselves: the next advance enters the profile
        # phase, which plans (reads the rig) and writes the profile into models.conf
        (repo.root / MODEL).parent.mkdir(parents=True)
        (repo.root / MODEL).write_bytes(files["Tiny-Llama-Q8_0.gguf"])
        keep("download")
        repo.onboard("advance", NAME, check=True)
        keep("profile")
        repo.onboard("advance", NAME, check=True)  # -> samplers (settings from the card)
        repo.onboard("advance", NAME, check=True)  # -> test
        assert repo.status(NAME)["phase"] == "test"
        keep("test")
        yield saved, repo.env, {}


# --- the table -------------------------------------------------------------------------------------
Edit = Callable[[bytes], bytes]


def replace(old: str, new: str | bytes) -> Edit:
    """Replace the first ``old`` by ``new`` (bytes: written as they are, e.g. not UTF-8)."""
    def edit(data: bytes) -> bytes:
        assert old.encode() in data, old
        return data.replace(old.encode(), new if isinstance(new, bytes) else new.encode(), 1)
    return edit


def append(extra: bytes) -> Edit:
    return lambda data: data + extra


def becomes(content: bytes) -> Edit:
    return lambda data: content


@dataclass(frozen=True)
class Row:
    kind: str  # models.conf, model card, log, rig file
    case: str  # the malformation, in words
    state: str  # where the candidate is: fresh, evaluate, download, profile, test
    file: str  # repository path, or OUTSIDE + name for a file given on the command line
    edit: Edit  # good bytes -> malformed bytes
    argv: tuple[str, ...]  # {file} = the absolute path of ``file``
    line: str | None  # the line the message must name: a text the malformed line holds; None: no line
    field: str | None = None
    outcome: str = "refused"  # refused (exit 6) | guard (exit 1) | shown (status --check) | report
    says: str | None = None  # what the output must say besides file:line (guard / report rows)
    fixed_rc: tuple[int, ...] = (0,)  # exit of the same command once the file is put right
    fixed_says: str | None = None  # and what it then says
    env: dict[str, str] = dc_field(default_factory=dict)  # {file} expanded too
    start_sh: bool = False  # run the person's launcher ./start.sh with argv instead of onboard

    @property
    def id(self) -> str:
        how = " ".join({"{file}": "FILE", str(GOOD_LOG): GOOD_LOG.name}.get(a, a) for a in self.argv)
        given = ("ONBOARD_RIG=FILE " if self.env else "") + ("./start.sh " if self.start_sh else "")
        return f"{self.kind}: {self.case} ({Path(self.file).name}) @ {self.state}: {given}{how}"


def conf(case: str, edit: Edit, line: str, field_: str | None = None, *, everywhere: bool = False,
         serve: str = NAME) -> list[Row]:
    """A models.conf malformation, met where the workflow first writes the profile (entering the
    profile phase) and by ``serve`` (of profile ``serve``: a value error in one section stops only that
    profile); ``everywhere``: also by the re-plan (``--ctx``), the test phase's ``--log``, the profile
    guard (``advance``) and ``status --check`` (the same reader everywhere: one syntax error and one
    value error go through all of them, to keep the run short)."""
    f = "models.conf"
    rows = [Row("models.conf", case, "profile", f, edit, ("serve", serve, "--dry-run"), line, field_)]
    if field_ != "CTX_SIZE":  # the candidate's own section does not exist before the profile phase
        rows.append(Row("models.conf", case, "download", f, edit, ("advance", NAME), line, field_))
    if everywhere:
        rows += [
            Row("models.conf", case, "profile", f, edit, ("advance", NAME, "--ctx", "2048"), line, field_),
            Row("models.conf", case, "test", f, edit, ("advance", NAME, "--log", str(GOOD_LOG)), line, field_,
                fixed_rc=(0, 1)),  # the log is then read: its guards decide (it is a gemma log)
            Row("models.conf", case, "profile", f, edit, ("status", NAME, "--check"), line, field_,
                outcome="shown", says="[FAIL] profile parses", fixed_says="[ok  ] profile parses"),
            Row("models.conf", case, "profile", f, edit, ("advance", NAME), line, field_, outcome="guard",
                says="[FAIL] profile parses"),
        ]
    return rows


def card(case: str, edit: Edit, line: str, field_: str | None = None) -> list[Row]:
    return [
        Row("model card", case, "fresh", CARD, edit, ("start", NAME), line, field_),
        Row("model card", case, "evaluate", CARD, edit, ("advance", NAME, "--refresh", "--quant", "Q8_0"),
            line, field_),
    ]


def log(case: str, content: bytes, line: str | None, outcome: str = "refused", says: str | None = None) -> list[Row]:
    f = OUTSIDE + "server.log"
    return [
        Row("log", case, "test", f, becomes(content), ("logs", "analyze", "{file}"), line, outcome=outcome,
            says=says, fixed_rc=(0,)),
        Row("log", case, "test", f, becomes(content), ("advance", NAME, "--log", "{file}"), line,
            outcome="guard" if outcome == "report" else outcome, says=says, fixed_rc=(0, 1)),
    ]


def rig(case: str, text: str, line: str, field_: str | None = None, *, replan: bool = False) -> list[Row]:
    """A rig file given with ``hardware --rig``, with ONBOARD_RIG when the profile phase plans, and
    as the repository's rig.toml when the profile phase plans (entering it; ``replan``: re-planning)."""
    given, edit = OUTSIDE + "my-rig.toml", becomes(text.encode())
    rows = [
        Row("rig file", case, "test", given, edit, ("hardware", "--rig", "{file}"), line, field_),
        Row("rig file", case, "download", given, edit, ("advance", NAME), line, field_, env={"ONBOARD_RIG": "{file}"}),
        Row("rig file", case, "download", "rig.toml", edit, ("advance", NAME), line, field_),
    ]
    if replan:
        rows.append(Row("rig file", case, "profile", "rig.toml", edit, ("advance", NAME, "--ctx", "2048"), line, field_))
    return rows


_log_lines = GOOD_LOG.read_bytes().split(b"\n")
CUT_LOG = b"\n".join(_log_lines[:150]) + b"\n"  # ends after the KV cache lines: no "model loaded"
assert b"model loaded" not in CUT_LOG and b"model loaded" in GOOD_LOG.read_bytes()
NOT_UTF8_LOG = b"\n".join(_log_lines[:4] + [_log_lines[4] + b" caf\xe9"] + _log_lines[5:])

ROWS: list[Row] = [
    *conf("a line without =", replace("FIT=off\n", "FIT off\n"), "FIT off", everywhere=True),
    *conf("a duplicate section", append(b"\n[qwen-7b]\nNAME=again\n"), "[qwen-7b]\nNAME=again"),
    *conf("a duplicate key", replace("FIT=off\n", "FIT=off\nFIT=on\n"), "FIT=on"),
    *conf("an unterminated quote in EXTRA_ARGS", replace("--temp 0.7", "--temp '0.7"), "--temp '0.7", "EXTRA_ARGS",
          serve="qwen-7b"),  # the person's profile holds the quote: serving it is refused, serving others is not
    Row("models.conf", "an unterminated quote in EXTRA_ARGS", "test", "models.conf",
        replace("--temp 0.7", "--temp '0.7"), ("advance", NAME, "--log", str(GOOD_LOG)), "--temp '0.7", "EXTRA_ARGS",
        fixed_rc=(0, 1)),
    *conf("a section header typo", replace("[qwen-7b]", "[qwen"), "[qwen\n"),
    *conf("invalid UTF-8 (a Latin-1 comment)", append("# café\n".encode("latin-1")), "# caf"),
    *conf("binary garbage (a PNG pasted in)", append(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\n"), "\x89PNG"),
    *conf("onboard's own section edited to CTX_SIZE=abc", replace("CTX_SIZE=4096", "CTX_SIZE=abc"),
          "CTX_SIZE=abc", "CTX_SIZE", everywhere=True),
    *card("bad YAML front matter", replace("base_model: test-org/Tiny-Llama", "base_model: test-org/Tiny: Llama"),
          "base_model: test-org/Tiny: Llama"),
    *card("unclosed front matter", replace("---\n# Tiny", "# Tiny"), "---\ngguf_repo"),
    *card('wrong type (context_length: "lots")', replace("license: apache-2.0", 'license: apache-2.0\ncontext_length: "lots"'),
          'context_length: "lots"', "context_length"),
    *card("unknown quant", replace("license: apache-2.0", "license: apache-2.0\nquant: Q3_K_ZZ"), "quant: Q3_K_ZZ", "quant"),
    *card("missing gguf_repo", replace(f"gguf_repo: {REPO_ID}\n", ""), "---\nbase_model", "gguf_repo"),
    *card("invalid UTF-8 (a Latin-1 letter)", replace("# Tiny Llama", b"# Tiny Ll\xe9ma"), "# Tiny Ll"),
    *log("an empty file", b"", None),
    *log("binary garbage", bytes(range(256)) * 16, "\x00"),
    *log("a log cut before the load finished", CUT_LOG, None, outcome="report", says="incomplete: it ends while allocating the KV cache"),
    *log("invalid UTF-8 in a real log", NOT_UTF8_LOG, None, outcome="report", says="not UTF-8"),
    *rig("bad TOML", CPU_RIG.replace("ram_mib = 16384", "ram_mib = = 16384"), "ram_mib = = 16384", replan=True),
    *rig("a device missing usable_mib", CPU_RIG + '[[device]]\nname = "CUDA0"\nbackend = "CUDA"\n', "[[device]]",
         "device[0].usable_mib"),
    *rig("a negative size", CPU_RIG + '[[device]]\nname = "CUDA0"\nbackend = "CUDA"\nusable_mib = -2048\n',
         "usable_mib = -2048", "device[0].usable_mib"),
    *rig("a wrong type", CPU_RIG.replace("ram_mib = 16384", 'ram_mib = "lots"'), 'ram_mib = "lots"', "host.ram_mib"),
]
# serve needs only the llama-server path from rig.toml: a file that is no TOML is refused there too
ROWS.append(Row("rig file", "bad TOML", "profile", "rig.toml",
                becomes(CPU_RIG.replace("ram_mib = 16384", "ram_mib = = 16384").encode()),
                ("serve", NAME, "--dry-run"), "ram_mib = = 16384"))
# the person's launcher, ./start.sh PROFILE --dry-run (it runs `onboard serve`)
ROWS += [
    Row("models.conf", "a line without =", "profile", "models.conf", replace("FIT=off\n", "FIT off\n"),
        (NAME, "--dry-run"), "FIT off", start_sh=True),
    Row("models.conf", "onboard's own section edited to CTX_SIZE=abc", "profile", "models.conf",
        replace("CTX_SIZE=4096", "CTX_SIZE=abc"), (NAME, "--dry-run"), "CTX_SIZE=abc", "CTX_SIZE", start_sh=True),
]


# --- checks ----------------------------------------------------------------------------------------
def snapshot(root: Path) -> dict[str, str]:
    """path -> sha256 of every file of the repository, the workflow's own .onboard/ aside."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.relative_to(root).parts[0] != ".onboard"}


def line_of(data: bytes, text: str) -> int:
    """1-based line where ``text`` starts in the file (``text`` as Latin-1 bytes, so that a byte
    that is not UTF-8, such as PNG's 0x89, can be named)."""
    at = data.find(text.encode("latin-1"))
    assert at >= 0, f"{text!r} not in the malformed file"
    return data.count(b"\n", 0, at) + 1


def candidate(repo: WorkflowRepo) -> dict | None:
    proc = repo.onboard("status", NAME, "--json")
    if proc.returncode == 3:
        return None
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    return {"phase": data["phase"], "options": data["options"], "facts": data["facts"]}


def start_sh(root: Path, argv: tuple[str, ...], env: dict[str, str]) -> subprocess.CompletedProcess:
    """``./start.sh ARGS`` in the repository, finding ``onboard`` where this Python's scripts are."""
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "onboard").is_file(), f"no onboard script beside {sys.executable}: pip install -e ."
    return subprocess.run(["bash", str(root / "start.sh"), *argv], capture_output=True, text=True, timeout=120,
                          env={**env, "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"})


def no_traceback(proc) -> None:
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr


@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_malformed_input(row: Row, states, tmp_path):
    saved, env, statuses = states
    root = tmp_path / "repo"
    shutil.copytree(saved / row.state, root, symlinks=True)
    repo = WorkflowRepo(root, {}, env)
    outside = row.file.startswith(OUTSIDE)
    path = (tmp_path / row.file[len(OUTSIDE):]) if outside else root / row.file
    good = (GOOD_LOG.read_bytes() if row.kind == "log" else CPU_RIG.encode()) if outside else path.read_bytes()
    bad = row.edit(good)
    path.write_bytes(bad)
    argv = tuple(a.replace("{file}", str(path)) for a in row.argv)
    extra_env = {k: v.replace("{file}", str(path)) for k, v in row.env.items()}
    run = (lambda: start_sh(root, argv, {**env, **extra_env})) if row.start_sh else \
        (lambda: repo.onboard(*argv, env=extra_env))
    if row.start_sh:
        shutil.copyfile(Path(__file__).resolve().parent.parent / "start.sh", root / "start.sh")
    before = snapshot(root)
    if row.state not in statuses:  # every row of a state starts from the same copy: ask once
        statuses[row.state] = candidate(repo)
    cand_before = statuses[row.state]

    proc = run()
    out = proc.stdout + proc.stderr
    no_traceback(proc)
    where = f"{path}:{line_of(bad, row.line)}: " if row.line is not None else f"{path}: "
    if row.outcome == "refused":
        assert proc.returncode == 6, out
        assert proc.stderr.count(where) == 1, f"{where!r} not named once in: {proc.stderr}"
        assert "fix:" in proc.stderr, proc.stderr
        messages = [line for line in proc.stderr.splitlines() if line.startswith(("error: ", "onboard serve: "))]
        assert len(messages) == 1 and proc.stderr.startswith(messages[0]), proc.stderr
    else:
        assert proc.returncode == {"guard": 1, "shown": 0, "report": 0}[row.outcome], out
        assert row.says in out, out
        if row.line is not None:
            assert where in out, f"{where!r} not in: {out}"
    if row.field:
        assert f"{row.field}: " in out, out

    # nothing touched
    assert snapshot(root) == before
    assert path.read_bytes() == bad
    assert not list(root.rglob("*.onboard-tmp")) and not list(tmp_path.rglob("*.onboard-tmp"))
    ingested = row.outcome == "guard" and row.kind == "log"  # a log that was read is recorded in the test's facts
    if cand_before is not None:
        after = candidate(repo)
        kept = ("options", "facts") if not ingested else ()
        assert (after["phase"], [after[k] for k in kept]) == (cand_before["phase"], [cand_before[k] for k in kept])

    # the person puts the file right: the same command goes through
    path.write_bytes(good)
    again = run()
    no_traceback(again)
    assert again.returncode in row.fixed_rc, again.stdout + again.stderr
    assert "error:" not in again.stderr, again.stderr
    assert row.fixed_says is None or row.fixed_says in again.stdout, again.stdout
    if row.argv[0] == "start":  # a refused start is no start: once the card is right it evaluates
        assert candidate(repo) is not None and candidate(repo)["facts"]["evaluate"]["architecture"] == "llama"
    reliability.count(SECTION, f"{row.kind}: {row.case}")


# --- the decisions behind the log rows, on every real log kept here ---------------------------------
def test_a_complete_real_log_is_never_called_incomplete():
    """"incomplete" is said only of a log that stops inside a load: every real log here that gets
    to "model loaded" / "listening" (or stops on an OOM or a fatal error) is not."""
    from onboard.llamacpp.log_analysis import analyze_file, diagnose

    checked = 0
    for path in sorted(LOGS.glob("*.log")):
        text = path.read_text(errors="replace")
        report = analyze_file(path)
        if "model loaded" in text or "listening" in text or report.oom or report.fatal_error:
            assert report.unfinished is None, path.name
            assert not any(s.startswith("the log is incomplete") for s in diagnose(report)), path.name
            checked += 1
    assert checked >= 5
    cut = analyze_file_bytes(CUT_LOG)
    assert cut.unfinished == "kv_cache" and diagnose(cut)[0].startswith("the log is incomplete")


def analyze_file_bytes(data: bytes):
    import tempfile

    from onboard.llamacpp.log_analysis import analyze_file

    with tempfile.NamedTemporaryFile(suffix=".log") as f:
        f.write(data)
        f.flush()
        return analyze_file(f.name)


@pytest.mark.parametrize("data, says, line", [
    ("load_tensors: CUDA0 model buffer size = 1.00 MiB\n".encode("utf-16"), "binary data", 1),  # PowerShell's >
    (b"\n\n  \n", "only blank lines", None),
    (b"main: build = 1\n" * 3 + b"\x7fELF\x02\x01\x01\x00" + bytes(range(1, 200)), "binary data", 4),  # a binary
])
def test_what_is_no_log_at_all_is_refused_naming_the_line(data, says, line):
    from onboard.llamacpp.errors import BadInput
    from onboard.llamacpp.log_analysis import require_text_log

    report = analyze_file_bytes(data)
    with pytest.raises(BadInput) as err:
        require_text_log(report, "x.log")
    assert says in err.value.message and err.value.line == line and err.value.fix
    assert json.dumps(report.to_json())  # the analyser itself still reads it without failing
