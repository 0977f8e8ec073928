"""The command line a person meets: commands in workflow order, a mistyped command answered with the
close ones, and shell completion of candidate names and cards from the repository's own data."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from onboard.workflow.cli import COMMANDS

REPO = Path(__file__).resolve().parent.parent


def _run(*args: str, env: dict[str, str] | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "onboard.workflow.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})}, timeout=120)


def test_help_lists_the_workflow_before_the_tools():
    out = _run("--help").stdout
    listed = [line.split()[0] for line in out.split("Commands:")[1].splitlines() if line.strip()]
    assert listed == list(COMMANDS)
    assert listed.index("start") < listed.index("advance") < listed.index("rollback") < listed.index("plan")


def test_a_mistyped_command_gets_the_close_ones():
    proc = _run("stauts")
    assert proc.returncode == 2 and "Did you mean 'status'" in proc.stderr


def test_candidate_names_and_cards_complete(tmp_path):
    root = tmp_path / "repo"
    (root / "models" / "documentation" / "CANDIDATES").mkdir(parents=True)
    (root / "models.conf").write_text("[qwen-7b]\nNAME=Qwen\nMODEL=m.gguf\n\n[qwen-32b]\nNAME=Q\nMODEL=n.gguf\n")
    (root / "models" / "documentation" / "CANDIDATES" / "README_gemma-3.md").write_text("# Gemma\n")
    assert _run("--root", str(root), "adopt").returncode == 0
    from click.shell_completion import BashComplete  # completion is click's own, fed by our functions

    from onboard.workflow.cli import cli

    def complete(args: list[str], incomplete: str) -> list[str]:
        return [item.value for item in BashComplete(cli, {}, "onboard", "_ONBOARD_COMPLETE").get_completions(
            ["--root", str(root), *args], incomplete)]

    assert complete(["rollback"], "qwen") == ["qwen-32b", "qwen-7b"]
    assert complete(["status"], "qwen-7") == ["qwen-7b"]
    assert complete(["start"], "ge") == ["gemma-3"]
