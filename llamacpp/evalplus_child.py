"""Runs in a child process only, where EvalPlus is imported:

- ``python -m onboard.llamacpp.evalplus_child sanitize DATASET IN OUT``: EvalPlus's own ``sanitize`` applied
  to our raw answers, with the entry points of the dataset file;
- ``python -m onboard.llamacpp.evalplus_child export humaneval|mbpp OUT``: EvalPlus's dataset (downloaded by
  EvalPlus on first use, needs the internet) written as a ``.jsonl`` file our client reads;
- ``python -m onboard.llamacpp.evalplus_child evaluate ARGS...``: ``python -m evalplus.evaluate ARGS...``,
  unchanged, except that the process ends when scoring ends. EvalPlus starts a watchdog thread that
  sleeps 20 s between checks and is not a daemon, so every run of its evaluate lasted at least 20 s
  after the last answer was scored; here the threads it starts are daemons, which changes nothing else.

Why not ``python -m evalplus.sanitize``: that script loads HumanEval+ *and* MBPP+ to find entry points,
and MBPP+ is a download; offline runs would fail. The code extraction itself is EvalPlus's.
"""
from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "export":
        return export(argv[1], argv[2])
    if argv and argv[0] == "evaluate":
        return evaluate(argv[1:])
    if len(argv) != 4 or argv[0] != "sanitize":
        print("usage: python -m onboard.llamacpp.evalplus_child sanitize DATASET.jsonl[.gz] RAW.jsonl OUT.jsonl\n"
              "       python -m onboard.llamacpp.evalplus_child export humaneval|mbpp OUT.jsonl", file=sys.stderr)
        return 2
    from evalplus.sanitize import sanitize

    from onboard.llamacpp.evalplus_run import load_tasks

    _verb, dataset, raw, out = argv
    entry = {t["task_id"]: t["entry_point"] for t in load_tasks(dataset)}
    changed = 0
    with open(raw, encoding="utf-8") as src, open(out, "w", encoding="utf-8") as dst:
        for line in src:
            sample = json.loads(line)
            code = sanitize(sample["solution"], entrypoint=entry.get(sample["task_id"]))
            changed += code != sample["solution"]
            dst.write(json.dumps({"task_id": sample["task_id"], "solution": code}) + "\n")
    print(f"sanitized {changed} answers")
    return 0


def evaluate(args: list[str]) -> int:
    import runpy
    import threading

    class _Daemon(threading.Thread):
        def __init__(self, *a, **kw) -> None:  # noqa: ANN002, ANN003
            super().__init__(*a, **kw)
            self.daemon = True

    threading.Thread = _Daemon  # only this child process, which exists to run EvalPlus's evaluate
    sys.argv = ["evalplus.evaluate", *args]
    runpy.run_module("evalplus.evaluate", run_name="__main__", alter_sys=True)
    return 0


def export(dataset: str, out: str) -> int:
    from evalplus.data import get_human_eval_plus, get_mbpp_plus

    tasks = get_human_eval_plus() if dataset == "humaneval" else get_mbpp_plus()
    with open(out, "w", encoding="utf-8") as dst:
        for task in tasks.values():
            dst.write(json.dumps(task) + "\n")
    print(f"{len(tasks)} tasks written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
