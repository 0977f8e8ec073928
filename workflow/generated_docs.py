"""Generated blocks in the docs: text between ``<!-- BEGIN GENERATED: id -->`` and
``<!-- END GENERATED: id -->`` comes from code; everything around it is hand-written and never touched.

``BLOCKS`` lists every block (file, id, renderer). ``check`` reports each stale or missing block as
``file:line: what``; ``fix`` rewrites the stale ones (atomically) and nothing else.
A test runs ``check`` on the repository, so docs cannot drift from the code.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Block:
    file: str  # relative to the repository root
    id: str
    render: Callable[[], str]


def _workflow_mermaid() -> str:
    from workflow.machine import mermaid

    return "```mermaid\n" + mermaid().strip() + "\n```"


def _phase_table() -> str:
    from phases import PHASES

    rows = ["| # | phase | handler does | guards to leave it | `advance` options |", "|---|---|---|---|---|"]
    for i, p in enumerate(PHASES, start=1):
        guards = "; ".join(g.name for g in p.guards) if p.built else "(not built yet)"
        opts = [f"`--{o.name.replace('_', '-')}" + (f" {o.metavar}`" if o.metavar else "`") for o in p.options]
        if p.skippable:
            opts.append("`--skip-bench` skips it")
        opts = ", ".join(opts) or "-"
        rows.append(f"| {i} | {p.name} | {p.does} | {guards} | {opts} |")
    return "\n".join(rows)


def _exit_codes() -> str:
    from workflow.exit_codes import MEANING

    return "\n".join(["| code | meaning |", "|---|---|"] + [f"| {int(c)} | {m} |" for c, m in MEANING.items()])


BLOCKS: tuple[Block, ...] = (
    Block("docs/workflow.md", "workflow-diagram", _workflow_mermaid),
    Block("docs/workflow.md", "phase-table", _phase_table),
    Block("README.md", "phase-table", _phase_table),
    Block("README.md", "exit-codes", _exit_codes),
)


def _pattern(block_id: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- BEGIN GENERATED: {re.escape(block_id)} -->\n)(.*?)(<!-- END GENERATED: "
                      rf"{re.escape(block_id)} -->)", re.S)


def check(root: Path) -> list[str]:
    problems = []
    for block in BLOCKS:
        path = root / block.file
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        match = _pattern(block.id).search(text)
        if match is None:
            problems.append(f"{block.file}:1: generated block '{block.id}' is missing (add its BEGIN/END markers)")
            continue
        if match.group(2) != block.render() + "\n":
            line = text.count("\n", 0, match.start()) + 1
            problems.append(f"{block.file}:{line}: generated block '{block.id}' is out of date "
                            "(run: python -m workflow.generated_docs --fix)")
    return problems


def fix(root: Path) -> list[str]:
    from store.atomic import write_atomic

    changed = []
    for file in sorted({b.file for b in BLOCKS}):
        path = root / file
        text = path.read_text(encoding="utf-8")
        new = text
        for block in (b for b in BLOCKS if b.file == file):
            new = _pattern(block.id).sub(lambda m, b=block: m.group(1) + b.render() + "\n" + m.group(3), new)
        if new != text:
            write_atomic(path, new)
            changed.append(file)
    return changed


if __name__ == "__main__":
    import sys

    repo = Path(__file__).resolve().parent.parent
    if "--fix" in sys.argv:
        print("\n".join(fix(repo)) or "nothing to change")
    problems = check(repo)
    print("\n".join(problems) or "generated docs are current")
    sys.exit(1 if problems else 0)
