"""Names and paths that try to leave the repository are refused, through the real CLI.

Every test runs ``onboard`` as a separate process (``python -m onboard.workflow.cli``) on a scratch
repository (tests/workflow_repo.py), with the candidate's files served by a local hub
(tests/hub_server.py: a real HTTP server on 127.0.0.1 answering in the hub's documented shapes,
read by the REAL huggingface_hub client through ``HF_ENDPOINT``).

Symlink policy (what is tested on both sides, see ``store.atomic.inside_root``): onboard's writes of
REPOSITORY files (models.conf, docs/, the benchmark pipeline files) must land inside the resolved
repository, so ``models.conf -> /elsewhere`` or ``docs -> /elsewhere`` is refused with the path
and what to do, and nothing is written there. MODEL files are different: a ``models/`` folder (or
one model's folder) that is a symlink to a bigger disk is a common, legitimate setup; onboard reads
and downloads through it, while names from the card, the hub or the command line that would climb
out of ``models/<ModelName>/<Quant>/`` (``..``, absolute paths) are refused.
"""
from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests import reliability
from tests.hub_server import LocalHub
from tests.workflow_repo import PERSON_CONF, REPO_ID, hub_files, make_repo

NAME = "tiny-llama"
SECTION = "escapes refused"
MODEL_FILE = Path("models") / "Tiny-Llama" / "Q8_0" / "Tiny-Llama-Q8_0.gguf"


def snapshot(directory: Path) -> dict[str, bytes | str]:
    """Every file (bytes) and symlink (its target) under ``directory``, by relative path."""
    out: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(directory):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(directory))
            if path.is_symlink():
                out[rel] = "-> " + os.readlink(path)
            elif path.is_file():
                out[rel] = path.read_bytes()
    return out


def around(tmp_path: Path) -> tuple[dict[str, bytes | str], frozenset[str]]:
    """What a write escaping the repository could change: every file of the test's folder (the
    repository's parent), and the names beside that folder (other tests' folders are not read)."""
    return snapshot(tmp_path), frozenset(os.listdir(tmp_path.parent))


def no_traceback(proc: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr


def candidates_in_db(root: Path) -> list[str]:
    db = root / ".onboard" / "onboard.db"
    if not db.exists():
        return []
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return [row[0] for row in conn.execute("SELECT name FROM candidates")]


@pytest.fixture()
def hub_and_files(tmp_path):
    files = hub_files(tmp_path)
    with LocalHub({REPO_ID: files}) as hub:
        yield hub, files


@pytest.fixture()
def repo(tmp_path, hub_and_files):
    hub, files = hub_and_files
    return make_repo(tmp_path, hub.url, files)


# ---- candidate names and repo ids ---------------------------------------------------------------
BAD_NAMES = ["../x", "/abs", "a/b", "..", "x\n", "tiny-llama\n", "x\ny", "a\\..\\b", ".hidden", "x" * 101]


@pytest.mark.parametrize("bad", BAD_NAMES, ids=repr)
def test_start_refuses_a_name_that_is_a_path_and_creates_nothing(repo, tmp_path, bad):
    outside = around(tmp_path)
    before = snapshot(repo.root)
    proc = repo.onboard("start", bad, "--repo", REPO_ID)
    assert proc.returncode == 6, proc.stdout + proc.stderr
    assert "NAME" in proc.stderr and "not allowed as a candidate name" in proc.stderr
    assert "fix:" in proc.stderr
    no_traceback(proc)
    assert snapshot(repo.root) == before  # not even the database was created
    assert not (repo.root / ".onboard").exists() and candidates_in_db(repo.root) == []
    assert around(tmp_path) == outside
    reliability.count(SECTION, "candidate names (start NAME)")


def test_a_name_with_nul_never_reaches_onboard(repo):
    """The operating system refuses an argument containing NUL before any program starts."""
    with pytest.raises(ValueError, match="null byte"):
        repo.onboard("start", "x\0y")
    from onboard.llamacpp.candidate_card import check_name
    from onboard.llamacpp.errors import BadInput

    with pytest.raises(BadInput, match="NAME"):
        check_name("x\0y")  # and the name check refuses it too, for names read from elsewhere
    reliability.count(SECTION, "candidate names (start NAME)")


@pytest.mark.parametrize("bad", ["../../etc", "/etc/passwd", "org/x\n", "org/../x", "org/x/../../y", "x"])
def test_start_refuses_a_repo_id_that_is_not_owner_slash_name(repo, bad):
    before = snapshot(repo.root)
    proc = repo.onboard("start", NAME, "--repo", bad)
    assert proc.returncode == 6, proc.stdout + proc.stderr
    assert "--repo" in proc.stderr and "not a hub repo id" in proc.stderr
    no_traceback(proc)
    assert snapshot(repo.root) == before
    reliability.count(SECTION, "repo ids (start --repo)")


@pytest.mark.parametrize("line, field", [("gguf_repo: ../../../etc", "gguf_repo"), ("gguf_repo: /etc/x", "gguf_repo"),
                                         ("quant: ../../x", "quant"), ("quant: /etc", "quant")])
def test_a_card_field_that_is_a_path_is_refused_with_file_and_line(repo, tmp_path, line, field):
    card = repo.root / "models" / "documentation" / "CANDIDATES" / f"README_{NAME}.md"
    text = card.read_text()
    text = text.replace(f"gguf_repo: {REPO_ID}", line) if field == "gguf_repo" else \
        text.replace("license: apache-2.0", "license: apache-2.0\n" + line)
    card.write_text(text)
    outside = around(tmp_path)
    proc = repo.onboard("start", NAME)
    no_traceback(proc)
    assert proc.returncode == 6, proc.stdout + proc.stderr
    lineno = text.splitlines().index(line) + 1
    assert f"README_{NAME}.md:{lineno}: {field}: '{line.split(': ', 1)[1]}'" in proc.stderr
    assert "fix:" in proc.stderr
    assert repo.conf == PERSON_CONF and not (repo.root / "models" / "Tiny-Llama").exists()
    assert around(tmp_path)[1] == outside[1]
    assert {k: v for k, v in around(tmp_path)[0].items() if not k.startswith("repo/")} == \
        {k: v for k, v in outside[0].items() if not k.startswith("repo/")}
    reliability.count(SECTION, f"card fields ({field})")


def test_a_quant_name_that_is_a_path_is_refused(repo):
    repo.onboard("start", NAME, check=True)
    for bad in ("../../x", "/tmp/x", "Q8_0/../../../x"):
        proc = repo.onboard("advance", NAME, "--quant", bad)
        assert proc.returncode == 6, proc.stdout + proc.stderr
        assert "--quant" in proc.stderr
        no_traceback(proc)
        assert repo.status(NAME)["phase"] == "evaluate" and "quant" not in repo.status(NAME)["options"]
        reliability.count(SECTION, "quant names (--quant)")


# ---- hub listings with paths that leave the model folder ---------------------------------------------------
@pytest.mark.parametrize("evil", ["../evil-Q4_K_M.gguf", "Q4_K_M/../../../../evil-Q4_K_M.gguf"])
def test_a_hub_listing_with_a_path_out_of_the_model_folder_is_refused(tmp_path, evil):
    """A (compromised or fake) endpoint lists a file whose path climbs out: the listing is refused,
    the candidate says why, and nothing is downloaded anywhere."""
    files = hub_files(tmp_path)
    served = {**files, evil: files["Tiny-Llama-Q8_0.gguf"]}
    with LocalHub({REPO_ID: served}) as hub:
        repo = make_repo(tmp_path, hub.url, files)
        outside = snapshot(tmp_path)
        proc = repo.onboard("start", NAME)
        no_traceback(proc)
        assert repr(evil) in proc.stdout + proc.stderr and "refused" in proc.stdout + proc.stderr
        guard = {g["name"]: g for g in repo.status(NAME)["guards"]}["architecture known"]
        assert not guard["passed"] and evil in guard["reason"]
        held = repo.onboard("advance", NAME, "--quant", "Q4_K_M")
        assert held.returncode in (1, 6) and repo.status(NAME)["phase"] == "evaluate"
        assert not hub.file_requests(REPO_ID, evil)  # never fetched
    new = set(snapshot(tmp_path)) - set(outside)
    assert all(p.startswith("repo/.onboard/") or p.startswith("hf-cache") for p in new), new
    assert not any("evil" in p for p in [*snapshot(tmp_path), *os.listdir(tmp_path.parent)])
    reliability.count(SECTION, "hub file names (listing)")


def test_download_refuses_a_listed_path_out_of_the_target_even_if_the_hub_serves_it(tmp_path):
    """The download itself checks each path (a listing stored before, or built by hand), against
    a hub that would serve the file: nothing is requested, nothing is written."""
    from onboard.llamacpp.errors import BadInput
    from onboard.llamacpp.hub import Quant, QuantFile, download_quant
    from tests.hub_server import local_hub

    data = hub_files(tmp_path)["Tiny-Llama-Q8_0.gguf"]
    target = tmp_path / "repo" / "models" / "Tiny-Llama" / "Q8_0"
    for evil in ("../../../evil.gguf", "/tmp/evil.gguf", "a/../../evil.gguf"):
        with local_hub({REPO_ID: {evil.lstrip("/"): data}}, cache_dir=tmp_path / "hf-cache") as hub:
            quant = Quant("Q8_0", [QuantFile(evil, len(data))])
            with pytest.raises(BadInput, match="file path in the repository") as err:
                download_quant(REPO_ID, quant, target, progress=False)
            assert "outside" in str(err.value)
            assert hub.requests == []
        assert not target.exists()
        assert not any("evil" in p for p in snapshot(tmp_path))
        reliability.count(SECTION, "hub file names (download)")


@pytest.mark.parametrize("repo_id, quant, field", [
    (REPO_ID, "/etc", "quant"), (REPO_ID, "../../..", "quant"), (REPO_ID, "Q8_0/../../x", "quant"),
    (REPO_ID, "", "quant"), ("org/..", "Q8_0", "model folder"), ("org/.", "Q8_0", "model folder"),
])
def test_the_model_folder_is_never_built_from_a_path(tmp_path, repo_id, quant, field):
    """Where models/<ModelName>/<Quant>/ is computed (download target, guards, profile MODEL=), an
    absolute or climbing name is refused, naming the field, whatever the caller checked before."""
    from onboard.llamacpp.errors import BadInput
    from onboard.llamacpp.hub import default_target_dir

    with pytest.raises(BadInput, match=field) as err:
        default_target_dir(repo_id, quant, tmp_path)
    assert "outside models/<ModelName>/<Quant>/" in str(err.value) and "fix:" in str(err.value)
    assert list(tmp_path.iterdir()) == []
    reliability.count(SECTION, "model folder names (repo id, quant)")


# ---- symlinks: repository files -----------------------------------------------------------------------------
def _to_download_phase(repo) -> None:
    repo.onboard("start", NAME, check=True)
    repo.onboard("advance", NAME, "--quant", "Q8_0", check=True)


def test_models_conf_symlinked_out_of_the_repository_is_not_written(repo, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = elsewhere / "models.conf"
    target.write_text(PERSON_CONF)
    (repo.root / "models.conf").unlink()
    (repo.root / "models.conf").symlink_to(target)
    _to_download_phase(repo)
    proc = repo.onboard("advance", NAME, "--download")
    assert proc.returncode == 6, proc.stdout + proc.stderr
    no_traceback(proc)
    assert "refusing to write outside the repository: models.conf" in proc.stderr
    assert str(target) in proc.stderr and "fix:" in proc.stderr
    assert target.read_text() == PERSON_CONF and sorted(p.name for p in elsewhere.iterdir()) == ["models.conf"]
    assert repo.status(NAME)["phase"] == "download"
    # the person follows the advice: a real file in the repository; the same command then works
    (repo.root / "models.conf").unlink()
    (repo.root / "models.conf").write_text(PERSON_CONF)
    again = repo.onboard("advance", NAME)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "[tiny-llama]" in repo.conf and target.read_text() == PERSON_CONF
    reliability.count(SECTION, "symlinks out (models.conf)")


def test_docs_symlinked_out_of_the_repository_is_not_written(repo, tmp_path):
    site = tmp_path / "site-docs"
    site.mkdir()
    (site / "index.md").write_text("# my site\n")
    (repo.root / "docs").symlink_to(site, target_is_directory=True)
    _to_download_phase(repo)
    repo.onboard("advance", NAME, "--download", check=True)  # profile: models.conf only
    conf = repo.conf
    proc = repo.onboard("advance", NAME)  # samplers: EXTRA_ARGS and docs/client-settings.md
    assert proc.returncode == 6, proc.stdout + proc.stderr
    no_traceback(proc)
    assert "refusing to write outside the repository: docs/client-settings.md" in proc.stderr
    assert str(site / "client-settings.md") in proc.stderr
    assert sorted(p.name for p in site.iterdir()) == ["index.md"]
    assert repo.conf == conf  # the EXTRA_ARGS written before the refusal was undone
    assert repo.status(NAME)["phase"] == "profile"
    reliability.count(SECTION, "symlinks out (docs/)")


def test_a_symlinked_parent_inside_the_repository_is_followed_and_kept(repo, tmp_path):
    """A symlink that stays inside the repository is fine: its target is written, the link kept;
    and a repository reached through a symlink (``--root ~/llm`` -> /data/llm) works."""
    from dataclasses import replace

    link = tmp_path / "llm"
    link.symlink_to(repo.root, target_is_directory=True)
    repo = replace(repo, root=link)
    (repo.root / "conf").mkdir()
    (repo.root / "conf" / "models.conf").write_text(PERSON_CONF)
    (repo.root / "models.conf").unlink()
    (repo.root / "models.conf").symlink_to(Path("conf") / "models.conf")
    _to_download_phase(repo)
    repo.onboard("advance", NAME, "--download", check=True)
    assert (repo.root / "models.conf").is_symlink()
    assert "[tiny-llama]" in (repo.root / "conf" / "models.conf").read_text()
    reliability.count(SECTION, "symlinks inside, followed")


# ---- symlinks: model files on another disk (allowed) ------------------------------------------------------------
@pytest.mark.parametrize("link", ["models", "models/Tiny-Llama"])
def test_model_files_through_a_symlink_to_another_disk_are_downloaded_and_used(repo, tmp_path, link):
    big_disk = tmp_path / "big-disk"
    linked = repo.root / link
    if link == "models":
        os.rename(repo.root / "models", big_disk)  # the card moves with it, read through the link
    else:
        big_disk.mkdir()
    linked.symlink_to(big_disk, target_is_directory=True)
    _to_download_phase(repo)
    proc = repo.onboard("advance", NAME, "--download")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    stored = big_disk / Path(*MODEL_FILE.parts[len(Path(link).parts):])
    assert stored.read_bytes() == repo.hub_files["Tiny-Llama-Q8_0.gguf"]
    assert f"MODEL={MODEL_FILE.as_posix()}" in repo.conf  # the profile names the repository path
    assert not (repo.root / "models.conf").is_symlink()
    reliability.count(SECTION, "symlinked model folders allowed (reads and downloads)")


# ---- the hub token ------------------------------------------------------------------------------------------
def test_the_hub_token_is_sent_to_the_hub_and_nowhere_else(tmp_path):
    """HF_TOKEN is a unique sentinel; the candidate's repository is gated (its files answer 401
    without ``Authorization: Bearer <that token>``). Reading the remote header, downloading and a
    refused request (a wrong token on the gated repo, a repository that does not exist) all go
    through the CLI; the token must reach the hub, and appear in no output, no database (WAL
    included), no log, no file of the repository or the hub cache."""
    import uuid

    token = f"hf_sentinel{uuid.uuid4().hex}"
    wrong = f"hf_wrongsentinel{uuid.uuid4().hex}"
    files = hub_files(tmp_path)
    outputs: list[str] = []
    with LocalHub({REPO_ID: files}, gated={REPO_ID}, token=token) as hub:
        repo = make_repo(tmp_path, hub.url, files)
        cards = repo.root / "models" / "documentation" / "CANDIDATES"
        card = (cards / f"README_{NAME}.md").read_text()
        (cards / "README_missing.md").write_text(card.replace(REPO_ID, "test-org/Missing-GGUF"))
        (cards / "README_other.md").write_text(card)

        def run(*args: str, env_token: str = token) -> subprocess.CompletedProcess:
            proc = repo.onboard(*args, env={"HF_TOKEN": env_token})
            outputs.append(proc.stdout + proc.stderr)
            return proc

        assert run("start", NAME).returncode == 0  # evaluate: remote header of a gated file
        assert repo.status(NAME)["facts"]["evaluate"].get("architecture") == "llama"
        # refused requests: the same gated repo with a wrong token, and a repository that does not exist
        run("start", "other", env_token=wrong)
        assert "gated" in outputs[-1].lower()
        other = {g["name"]: g for g in repo.status("other")["guards"]}["architecture known"]
        assert not other["passed"] and "gated" in other["reason"].lower()
        run("advance", "other", "--refresh", env_token=wrong)
        run("start", "missing")
        assert "not found" in outputs[-1]
        assert run("advance", NAME, "--quant", "Q8_0").returncode == 0
        done = run("advance", NAME, "--download")
        assert done.returncode == 0, done.stdout + done.stderr
        assert (repo.root / MODEL_FILE).read_bytes() == files["Tiny-Llama-Q8_0.gguf"]
        assert run("advance", NAME).returncode == 0  # samplers: docs and models.conf
        assert run("advance", NAME).returncode == 0  # into test
        log = Path(__file__).parent / "fixtures" / "llama-server-logs" / "b11434-cpu-tiny-llama-default-verbosity.log"
        run("advance", NAME, "--log", str(log))  # a log kept under .onboard/logs/
        assert list((repo.root / ".onboard" / "logs").iterdir())
        for cmd in (("status", NAME, "--json"), ("history", NAME, "--json"), ("list", "--all", "--json"),
                    ("status", "other", "--json"), ("history", "other", "--json")):
            run(*cmd)
        sent = [a for a in hub.authorizations if a[2] == f"Bearer {token}"]
        assert any("/resolve/" in path for _, path, _ in sent), "the token was never sent for a file"
        assert any(a[2] == f"Bearer {wrong}" for a in hub.authorizations)
    for secret in (token, wrong):
        leaks = [i for i, out in enumerate(outputs) if secret in out]
        assert leaks == [], f"token printed by command(s) {leaks}"
        for path, content in snapshot(tmp_path).items():
            data = content if isinstance(content, bytes) else content.encode()
            assert secret.encode() not in data, f"token found in {path}"
    db = repo.root / ".onboard" / "onboard.db"
    assert db.is_file()
    with contextlib.closing(sqlite3.connect(db)) as conn:  # the database as SQL sees it, not only as bytes on disk
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                assert token not in json.dumps(row, default=str) and wrong not in json.dumps(row, default=str)
    scanned = len(snapshot(tmp_path))
    reliability.count("hub token leaks checked", "commands' output scanned", len(outputs))
    reliability.count("hub token leaks checked", "files scanned (repository, database, logs, hub cache)", scanned)
    reliability.count("hub token leaks checked", "database tables scanned", len(tables))
