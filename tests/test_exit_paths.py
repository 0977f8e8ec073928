"""Every exit code is documented, and every way a command can end reaches the documented code.

Documented: each :class:`Exit` member has its meaning in ``MEANING``, a row in the README's exit-code
table and in ``docs/errors.md`` (which also documents the ``--json`` error object).

Reached: through the real CLI, as separate processes on a real repository (``tests/workflow_repo.py``)
with the candidate's GGUF files on a local hub (``tests/hub_server.py``): unknown candidate 3, wrong
state 4, busy 5, bad input 6 (a bad models.conf line, a bad rig file), conflict 7 (a hand edit, then
rollback), external 8 (an unreachable hub), a guard 1 and click's usage error 2; and under ``--json``
the error is one JSON object on stderr. Interrupted (130) and terminated (143) are reached with real
signals in tests/test_signals.py.

Each of onboard's error classes, raised inside a command, is rendered in the one place
(``handle_errors``) with its own code: checked in-process with click's CliRunner.
"""
from __future__ import annotations

import errno
import json
import re
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from onboard.llamacpp.errors import MEANING, BadInput, Exit, ExternalFailure, OnboardError
from tests.hub_server import LocalHub
from tests.workflow_repo import REPO_ID, hub_files, make_repo

ROOT = Path(__file__).resolve().parent.parent
NAME = "tiny-llama"
UNREACHABLE = "http://127.0.0.1:1"  # nothing listens on port 1


# ---- documented --------------------------------------------------------------------------------------
def test_every_exit_code_has_its_meaning_in_the_readme_and_docs() -> None:
    assert set(MEANING) == set(Exit) and all(MEANING[c].strip() for c in Exit)
    readme = (ROOT / "README.md").read_text()
    doc = (ROOT / "docs" / "errors.md").read_text()
    for text in (readme, doc):  # one generated table in both (workflow/generated_docs.py keeps it current)
        for code in Exit:
            assert f"| {int(code)} | `{code.name}` | {MEANING[code]} |" in text, code
        listed = {int(m) for m in re.findall(r"^\| (\d+) \| `", text, flags=re.M)}
        assert listed == {int(c) for c in Exit}  # no row for a code that does not exist
    assert '"error": {' in doc and all(f'"{key}"' in doc for key in ("code", "name", "message", "fix", "path"))


# ---- rendered in one place ------------------------------------------------------------------------------
def _store_errors() -> list[tuple[str, OnboardError, Exit]]:
    from onboard.store.atomic import OutsideRepository
    from onboard.store.db import DatabaseProblem
    from onboard.store.journal import SectionNotOurs
    from onboard.store.lease import Busy, Holder
    from onboard.store.repo_lock import RepositoryBusy
    from onboard.workflow.errors import WorkflowError

    holder = Holder(pid=4242, host="rig", started=0.0, at="2026-01-01T00:00:00+00:00", command="onboard advance x")
    return [
        ("workflow", WorkflowError(Exit.WRONG_STATE, "x is in evaluate", fix="onboard status x"), Exit.WRONG_STATE),
        ("bad input", BadInput("expected a string", path="rig.toml", line=3, field="name", fix="quote it"),
         Exit.BAD_INPUT),
        ("external", ExternalFailure("llama-server exited", fix="read its log"), Exit.EXTERNAL),
        ("repository lock", RepositoryBusy("another onboard command has been writing this repository"), Exit.BUSY),
        ("lease", Busy(holder), Exit.BUSY),
        ("outside", OutsideRepository("../x.md", Path("/x.md"), Path("/repo")), Exit.BAD_INPUT),
        ("database", DatabaseProblem(Path("/repo/.onboard/onboard.db"), "is damaged", "onboard doctor"), Exit.BAD_INPUT),
        ("section", SectionNotOurs(Path("/repo/models.conf"), 7, "tiny"), Exit.BAD_INPUT),
    ]


def _command(err: BaseException) -> click.Command:
    from onboard.workflow.commands._common import handle_errors

    @click.command()
    @click.option("--json", "as_json", is_flag=True)
    @handle_errors
    def cmd(as_json: bool) -> None:
        raise err

    return cmd


@pytest.mark.parametrize(("label", "err", "code"), _store_errors(), ids=[e[0] for e in _store_errors()])
def test_each_error_class_exits_with_its_code_as_text_or_json(label, err, code) -> None:
    text = CliRunner().invoke(_command(err), [])
    assert text.exit_code == int(code) == int(err.code), (label, text.output)
    assert text.stderr.startswith("error: ") and text.stdout == ""
    assert text.stderr == f"error: {err}\n"  # the message as raised, and its fix on the next line

    as_json = CliRunner().invoke(_command(err), ["--json"])
    assert as_json.exit_code == int(code) and as_json.stdout == ""
    obj = json.loads(as_json.stderr)["error"]
    assert obj["code"] == int(code) and obj["name"] == code.name
    assert obj["message"] == err.message and obj["fix"] == err.fix


def test_json_error_names_the_place_when_known() -> None:
    err = BadInput("expected a string, got int 3", path="rig.toml", line=3, field="device[0].name", fix="quote it")
    obj = json.loads(CliRunner().invoke(_command(err), ["--json"]).stderr)["error"]
    assert obj == {"code": 6, "name": "BAD_INPUT", "message": "rig.toml:3: device[0].name: expected a string, got int 3",
                   "fix": "quote it", "path": "rig.toml", "line": 3, "field": "device[0].name"}


def test_a_full_disk_and_a_denied_write_keep_their_codes_and_a_bug_keeps_its_traceback() -> None:
    def wrapped(cause: OSError) -> ExternalFailure:
        try:
            raise cause
        except OSError:
            try:
                raise ExternalFailure("writing the download failed")
            except ExternalFailure as err:
                return err

    full = CliRunner().invoke(_command(wrapped(OSError(errno.ENOSPC, "No space left on device", "/m/x.gguf"))), [])
    assert full.exit_code == int(Exit.EXTERNAL) and "writing /m/x.gguf failed" in full.stderr
    assert "\n  fix: free disk space" in full.stderr
    denied = CliRunner().invoke(_command(PermissionError(errno.EACCES, "Permission denied", "/repo/models.conf")),
                                ["--json"])
    obj = json.loads(denied.stderr)["error"]
    assert denied.exit_code == int(Exit.BAD_INPUT) and obj["name"] == "BAD_INPUT"
    assert obj["message"].startswith("cannot write /repo/models.conf") and obj["fix"].startswith("make the repository")
    bug = CliRunner().invoke(_command(KeyError("oops")), [])
    assert isinstance(bug.exception, KeyError)  # not turned into a message: a bug must be seen


# ---- reached through the CLI ------------------------------------------------------------------------------
@pytest.fixture()
def repo(tmp_path):
    files = hub_files(tmp_path)
    with LocalHub({REPO_ID: files}) as hub:
        yield make_repo(tmp_path, hub.url, files)


def _wait_for(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def _error_json(proc) -> dict:
    assert proc.stdout == "", proc.stdout
    return json.loads(proc.stderr)["error"]


def test_candidate_exit_paths_through_the_cli(repo, tmp_path) -> None:
    assert repo.onboard("start", NAME).returncode == 0
    held = repo.onboard("advance", NAME)
    assert held.returncode == Exit.GUARD and "quant chosen" in held.stdout

    usage = repo.onboard("advance", NAME, "--no-such-option")
    assert usage.returncode == Exit.USAGE and "No such option" in usage.stderr

    unknown = repo.onboard("status", "tiny-lama")
    assert unknown.returncode == Exit.UNKNOWN and unknown.stderr.startswith("error: unknown candidate 'tiny-lama'")
    obj = _error_json(repo.onboard("status", "tiny-lama", "--json"))
    assert (obj["code"], obj["name"]) == (3, "UNKNOWN") and "did you mean tiny-llama" in obj["message"]
    assert "fix" in obj

    wrong = repo.onboard("advance", NAME, "--download")
    assert wrong.returncode == Exit.WRONG_STATE and wrong.stderr.startswith("error: --download applies to")

    hold = tmp_path / "hold"
    first = repo.start_onboard("advance", NAME, "--quant", "Q8_0",
                               env={"ONBOARD_TEST_HOLD_AT": "lease_taken", "ONBOARD_TEST_HOLD_FILE": str(hold)})
    try:
        _wait_for(Path(f"{hold}.reached"))
        busy = repo.onboard("advance", NAME, "--quant", "F16")
        assert busy.returncode == Exit.BUSY and busy.stderr.startswith(f"error: {NAME} is busy")
        assert f"pid {first.pid}" in busy.stderr
    finally:
        Path(f"{hold}.release").write_text("")
        first.communicate(timeout=120)
    assert first.returncode == 0

    assert repo.onboard("advance", NAME, "--download").returncode == 0  # -> profile: [tiny-llama] written
    conf = repo.root / "models.conf"
    head, profile = conf.read_text().split(f"[{NAME}]\n", 1)
    conf.write_text(head + f"[{NAME}]\n" + re.sub(r"^NAME=.*$", "NAME=mine now", profile, count=1, flags=re.M))
    conflict = repo.onboard("rollback", NAME)
    assert conflict.returncode == Exit.CONFLICT and conflict.stderr.startswith("error: ")
    assert "changed since onboard wrote it" in conflict.stderr


def test_bad_input_exits_6_naming_file_and_line(repo) -> None:
    conf = repo.root / "models.conf"
    line = len(conf.read_text().splitlines()) + 1
    conf.write_text(conf.read_text() + "this line is not KEY=value\n")
    bad_conf = repo.onboard("docs", "check")
    assert bad_conf.returncode == Exit.BAD_INPUT
    assert bad_conf.stderr.startswith(f"error: {conf}:{line}: not a [profile-id] header")
    obj = _error_json(repo.onboard("docs", "check", "--json"))
    assert (obj["code"], obj["path"], obj["line"]) == (6, str(conf), line)

    rig = repo.root / "bad-rig.toml"
    rig.write_text('name = "my rig"\n[[device]]\nname = 3\n')
    bad_rig = repo.onboard("hardware", "--rig", str(rig))
    assert bad_rig.returncode == Exit.BAD_INPUT
    assert bad_rig.stderr.startswith(f"error: {rig}:3: device[0].name: ") and "\n  fix: " in bad_rig.stderr
    obj = _error_json(repo.onboard("hardware", "--rig", str(rig), "--json"))
    assert (obj["name"], obj["line"], obj["field"]) == ("BAD_INPUT", 3, "device[0].name") and obj["fix"]


def test_an_unreachable_hub_exits_8(repo) -> None:
    proc = repo.onboard("inspect", f"{REPO_ID}:Tiny-Llama-Q8_0.gguf", env={"HF_ENDPOINT": UNREACHABLE})
    assert proc.returncode == Exit.EXTERNAL, proc.stderr
    assert f"{REPO_ID}/Tiny-Llama-Q8_0.gguf: cannot reach the hub" in proc.stderr and "HF_ENDPOINT" in proc.stderr


@pytest.mark.slow  # huggingface_hub retries with backoff (about 24 s) before it gives up
def test_a_download_from_an_unreachable_hub_exits_8(repo) -> None:
    repo.onboard("start", NAME, check=True)
    repo.onboard("advance", NAME, "--quant", "Q8_0", check=True)
    proc = repo.onboard("advance", NAME, "--download", env={"HF_ENDPOINT": UNREACHABLE})
    assert proc.returncode == Exit.EXTERNAL, proc.stderr
    last = proc.stderr[proc.stderr.rindex("error: "):]
    assert last.startswith(f"error: {REPO_ID}/Tiny-Llama-Q8_0.gguf: cannot reach the hub to download")
    assert "\n  fix: check the network (or HF_ENDPOINT)" in last
    assert repo.status(NAME)["phase"] == "download"
