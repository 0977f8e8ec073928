"""Nothing is ever run through a shell: a static check of every module that runs programs.

Model cards, logs, repo ids and quant names are data that reach command lines (``hf download``,
``llama-server``, EvalPlus, pip). Through a shell, a quote or ``;`` in any of them would run code;
as an argument list they are only ever arguments. This test parses (``ast``) every ``.py`` under
the packages that launch programs and fails on each way Python offers to reach a shell:
``shell=True``, ``os.system``, ``os.popen``, ``subprocess.getoutput`` / ``getstatusoutput``,
``asyncio.create_subprocess_shell``, and any ``subprocess`` call whose command is a string (a
literal, an f-string, a ``+``/``%`` of strings or ``" ".join(...)``) rather than a list or tuple.
Aliases (``import subprocess as sp``, ``from subprocess import run``) are followed. The shell
scripts the person runs (``start.sh``, ``scripts/*.sh``) must not ``eval``.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from tests import reliability

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("workflow", "phases", "store", "llamacpp", "benchmarks", "scripts")
SUBPROCESS_CALLS = {"run", "call", "check_call", "check_output", "Popen"}
SHELL_FUNCS = {("os", "system"), ("os", "popen"), ("subprocess", "getoutput"), ("subprocess", "getstatusoutput"),
               ("asyncio", "create_subprocess_shell"), ("os", "popen2"), ("os", "popen3")}
SECTION = "files checked: nothing run through a shell"


def python_files() -> list[Path]:
    files = [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py")) if "__pycache__" not in p.parts]
    return files


def shell_scripts() -> list[Path]:
    return [ROOT / "start.sh", *sorted((ROOT / "scripts").glob("*.sh"))]


class _Finder(ast.NodeVisitor):
    """Collects ``(line, what)`` for each way to a shell in one module."""

    def __init__(self) -> None:
        self.found: list[tuple[int, str]] = []
        self.modules: dict[str, str] = {}  # local name -> module ("sp" -> "subprocess")
        self.functions: dict[str, tuple[str, str]] = {}  # local name -> (module, function)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.modules[alias.asname or alias.name] = alias.name
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            self.functions[alias.asname or alias.name] = (node.module or "", alias.name)
        self.generic_visit(node)

    def _target(self, func: ast.expr) -> tuple[str, str] | None:
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            return self.modules.get(func.value.id, func.value.id), func.attr
        if isinstance(func, ast.Name) and func.id in self.functions:
            return self.functions[func.id]
        return None

    def visit_Call(self, node: ast.Call) -> None:
        for kw in node.keywords:
            if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value in (False, None)):
                self.found.append((node.lineno, "shell= other than False"))
        target = self._target(node.func)
        if target in SHELL_FUNCS:
            self.found.append((node.lineno, ".".join(target)))
        elif target is not None and target[0] == "subprocess" and target[1] in SUBPROCESS_CALLS:
            command = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "args"), None)
            if command is not None and _is_string(command):
                self.found.append((node.lineno, f"subprocess.{target[1]} with a string command"))
        self.generic_visit(node)


def _is_string(node: ast.expr) -> bool:
    """A command given as text: a str literal, an f-string, str + str, str % x, or ``"...".join()``."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod)):
        return _is_string(node.left) or _is_string(node.right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("join", "format"):
        return isinstance(node.func.value, (ast.Constant, ast.JoinedStr))
    return False


def shell_uses(source: str, filename: str = "<src>") -> list[tuple[int, str]]:
    finder = _Finder()
    finder.visit(ast.parse(source, filename=filename))
    return finder.found


def test_the_checker_finds_every_way_to_a_shell() -> None:
    """The checker itself, on code that does reach a shell (so a passing scan means something)."""
    bad = {
        "import subprocess\nsubprocess.run('ls -l', shell=True)\n": 2,  # shell=True and a string command
        "import os\nos.system('ls')\n": 1,
        "import os\nos.popen('ls').read()\n": 1,
        "import subprocess as sp\nsp.getoutput('ls')\n": 1,
        "from subprocess import getstatusoutput\ngetstatusoutput('ls')\n": 1,
        "from subprocess import Popen as P\nP(f'llama-server -m {m}')\n": 1,
        "import subprocess\nsubprocess.check_output('hf ' + repo)\n": 1,
        "import subprocess\nsubprocess.call(' '.join(argv))\n": 1,
        "import subprocess\nsubprocess.run(args='ls')\n": 1,
        "import subprocess\nflag = True\nsubprocess.run(['ls'], shell=flag)\n": 1,
        "import asyncio\nasyncio.create_subprocess_shell('ls')\n": 1,
    }
    for source, n in bad.items():
        assert len(shell_uses(source)) == n, source
    good = ("import subprocess\nsubprocess.run(['ls', '-l'], check=True)\n"
            "subprocess.Popen([sys.executable, '-m', 'x'], shell=False)\nsubprocess.run(argv)\n"
            "import shlex\nshlex.join(['a', 'b'])\n")
    assert shell_uses(good) == []


def test_no_python_module_runs_anything_through_a_shell() -> None:
    files = python_files()
    assert len(files) > 50, f"expected the project's modules, found {len(files)}"
    problems = []
    for path in files:
        for line, what in shell_uses(path.read_text(encoding="utf-8"), str(path)):
            problems.append(f"{path.relative_to(ROOT)}:{line}: {what}")
    reliability.count(SECTION, "Python files parsed, no shell", len(files))
    assert problems == [], "\n".join(problems)


_EVAL = re.compile(r"(^|[;&|(`{]|\s)eval(\s|$)")


@pytest.mark.parametrize("script", shell_scripts(), ids=lambda p: p.name)
def test_shell_scripts_never_eval(script: Path) -> None:
    assert script.is_file(), script
    offending = []
    for no, line in enumerate(script.read_text(encoding="utf-8").splitlines(), 1):
        code = line.split("#", 1)[0] if not line.lstrip().startswith("#!") else ""
        if _EVAL.search(code):
            offending.append(f"{script.relative_to(ROOT)}:{no}: {line.strip()}")
    reliability.count(SECTION, "shell scripts checked, no eval")
    assert offending == []
