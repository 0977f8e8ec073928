"""The installed package: one `onboard` namespace over the repository's own folders, every package
folder listed, the licence shipped, and public APIs only of the libraries we depend on."""
from __future__ import annotations

import configparser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("workflow", "phases", "store", "llamacpp")


def _options() -> configparser.SectionProxy:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    return cfg["options"]


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip() and not line.strip().startswith("#")]


def test_every_package_folder_is_installed_under_the_onboard_namespace():
    options = _options()
    mapping = dict(line.split(" = ") for line in _lines(options["package_dir"]))
    assert mapping == {f"onboard.{folder}": folder for folder in FOLDERS}
    listed = set(_lines(options["packages"]))
    found = {"onboard." + ".".join(init.parent.relative_to(ROOT).parts)
             for folder in FOLDERS for init in (ROOT / folder).rglob("__init__.py")
             if "template" not in init.parts}
    assert listed == found, f"setup.cfg [options] packages: add {sorted(found - listed)}, drop {sorted(listed - found)}"


def test_the_licence_ships_with_the_package():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    assert cfg["metadata"]["license_files"].strip() == "LICENSE"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def test_the_command_is_onboard_under_the_namespace():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    assert _lines(cfg["options.entry_points"]["console_scripts"]) == ["onboard = onboard.workflow.cli:main"]


def test_no_module_imports_a_folder_as_a_top_level_package():
    """Installed, only `onboard.workflow` (and its siblings) exist: an import of a bare `workflow`,
    `phases`, `store` or `llamacpp` works in a checkout (the folder is on sys.path) but fails for a
    person who installed the wheel."""
    import ast
    import subprocess

    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard", "*.py"],
                            capture_output=True, text=True, check=True).stdout.split()
    bare = []
    for rel in listed:
        path = ROOT / rel
        if not path.is_file():
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=rel)):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            bare += [f"{rel}:{node.lineno}: {n}" for n in names if n.split(".")[0] in FOLDERS]
    assert bare == [], "import them as onboard.<folder>...:\n" + "\n".join(bare)
