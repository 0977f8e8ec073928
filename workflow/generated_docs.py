"""All generated blocks of the docs: the blocks about the models (``phases.docs_blocks``, which the docs
phase keeps current in any repository) plus the blocks about onboard itself, rendered from the
workflow's code and required in onboard's own checkout: the state machine diagram, the phase table,
the exit codes and the JSON output's schemas. ``onboard docs check|fix`` and the test that the docs are current use this module.

Run ``python -m onboard.workflow.generated_docs [--complete] [--fix]`` to check (and rewrite) this checkout.
"""
from __future__ import annotations

from pathlib import Path

from onboard.phases import docs_blocks
from onboard.phases.docs_blocks import Block


def _is_onboard_checkout(root: Path) -> bool:
    return (root / "workflow" / "generated_docs.py").is_file()


def _workflow_mermaid(_root: Path) -> str:
    from onboard.workflow.machine import mermaid

    return "```mermaid\n" + mermaid().strip() + "\n```"


def _phase_table(_root: Path) -> str:
    from onboard.phases import PHASES

    rows = ["| # | phase | handler does | guards to leave it | `advance` options |", "|---|---|---|---|---|"]
    for i, p in enumerate(PHASES, start=1):
        guards = "; ".join(g.name for g in p.guards)
        opts = [f"`--{o.name.replace('_', '-')}" + (f" {o.metavar}`" if o.metavar else "`") for o in p.options]
        if p.skippable:
            opts.append("`--skip-bench` skips it")
        rows.append(f"| {i} | {p.name} | {p.does} | {guards} | {', '.join(opts) or '-'} |")
    return "\n".join(rows)


def _json_output(_root: Path) -> str:
    from onboard.workflow.json_docs import render

    return render().rstrip("\n")


def _exit_codes(_root: Path) -> str:
    from onboard.workflow.exit_codes import MEANING

    return "\n".join(["| code | name | meaning |", "|---|---|---|"]
                     + [f"| {int(c)} | `{c.name}` | {m} |" for c, m in MEANING.items()])


ONBOARD_BLOCKS: tuple[Block, ...] = (
    Block("docs/workflow.md", "workflow-diagram", _workflow_mermaid, _is_onboard_checkout),
    Block("docs/workflow.md", "phase-table", _phase_table, _is_onboard_checkout),
    Block("README.md", "phase-table", _phase_table, _is_onboard_checkout),
    Block("README.md", "exit-codes", _exit_codes, _is_onboard_checkout),
    Block("docs/errors.md", "exit-codes", _exit_codes, _is_onboard_checkout),
    Block("docs/json-output.md", "json-output", _json_output, _is_onboard_checkout),
)
BLOCKS: tuple[Block, ...] = ONBOARD_BLOCKS + docs_blocks.REPOSITORY_BLOCKS


def check(root: Path) -> list[str]:
    return docs_blocks.check(root, BLOCKS)


def fix(root: Path) -> list[str]:
    return docs_blocks.fix(root, BLOCKS)


def complete(root: Path) -> dict[str, str]:
    return docs_blocks.complete(root, BLOCKS)


if __name__ == "__main__":
    import sys

    from onboard.store.atomic import inside_root, write_atomic

    repo = Path(__file__).resolve().parent.parent
    if "--complete" in sys.argv:  # what the docs phase writes: blocks re-rendered, missing ones appended
        for relpath, new_text in complete(repo).items():
            path = inside_root(repo, relpath)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(path, new_text)
            print(f"completed {relpath}")
    if "--fix" in sys.argv:
        print("\n".join(fix(repo)) or "nothing to change")
    problems = check(repo)
    print("\n".join(problems) or "generated docs are current")
    sys.exit(1 if problems else 0)
