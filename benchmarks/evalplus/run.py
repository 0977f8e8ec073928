"""Benchmark every ``[bench-*]`` profile of a repository's models.conf with EvalPlus, the way the
benchmark phase does, and refresh ``results/REPORT.md`` and its chart.

    python benchmarks/evalplus/run.py [--root DIR] [--profile bench-ID]... [--quick N] [--dataset FILE] [--list]

Prints per profile pass@1 (base, plus), speed, and the ratio to the official reference score where
``models.json`` has one. Exit 0 when every profile ran, 8 when llama-server or EvalPlus failed,
6 on bad input.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[2]), help="the repository")
    parser.add_argument("--profile", action="append", default=[], help="only this bench profile (repeatable)")
    parser.add_argument("--quick", type=int, default=None, help="only the first N tasks (said so in the report)")
    parser.add_argument("--dataset", default=None, help="HumanEval+ .jsonl(.gz) (offline runs)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per profile (default: client.json)")
    parser.add_argument("--list", action="store_true", help="list the bench profiles found and stop")
    args = parser.parse_args(argv)

    from onboard.llamacpp.errors import BadInput, ExternalFailure
    from onboard.llamacpp.server_command import find_llama_server
    from onboard.phases import bench_pipeline as bp
    from onboard.store.atomic import inside_root, write_atomic
    from onboard.store.repo_lock import writing
    from onboard.workflow import generated_docs

    root = Path(args.root).resolve()
    try:
        found = [s.id for s in bp.bench_sections(root)]
        chosen = args.profile or found
        if args.list or not chosen:
            print("\n".join(found) if found else f"no [bench-*] profiles in {root / 'models.conf'}")
            return 0
        unknown = [p for p in chosen if p not in found]
        if unknown:
            raise BadInput(f"no such bench profile: {', '.join(unknown)}", path="models.conf",
                           fix=f"one of: {', '.join(found) or '(none)'}")
        dataset = bp.find_dataset(root, "humaneval", args.dataset) or bp.download_dataset(root, "humaneval")
        rig = root / "rig.toml"
        binary = find_llama_server(str(rig) if rig.is_file() else None)
        if binary is None:
            raise ExternalFailure("llama-server not found", fix="set LLAMA_SERVER or run scripts/install-llama-server.sh")
        models = bp.load_json(root, bp.MODELS_JSON)
        failed = 0
        for bench in chosen:
            print(f"== {bench}")
            try:
                summary, files = bp.run_bench(root, bench, binary=binary, dataset_path=dataset, quick=args.quick,
                                              timeout_s=args.timeout, work_dir=root / ".onboard" / "bench",
                                              progress=lambda s: print(f"  {s}", flush=True))
            except ExternalFailure as err:
                print(f"  FAILED: {err}", file=sys.stderr)
                failed += 1
                continue
            with writing(root):  # models.conf's neighbours: one writer at a time (store/repo_lock.py)
                for relpath, text in files.items():
                    path = inside_root(root, relpath)
                    path.parent.mkdir(parents=True, exist_ok=True)
                    write_atomic(path, text)
            ref = ((models.get(bench) or {}).get("reference") or {}).get("humaneval_plus")
            plus = summary.get("plus_pass1")
            ratio = f", {plus * 100 / ref:.2f}x the reference {ref}" if ref and plus is not None else ""
            print(f"  pass@1 base {summary['base_pass1']:.3f}, plus {plus if plus is None else f'{plus:.3f}'} "
                  f"({summary['n_tasks']} of {summary['total_tasks']} tasks), {summary.get('gen_tps') or 0:.1f} t/s{ratio}")
        with writing(root):
            report = generated_docs.complete(root).get(bp.REPORT)
            if report is not None:
                write_atomic(inside_root(root, bp.REPORT), report)
            generated_docs.fix(root)
        print(f"report: {root / bp.REPORT}")
        return 8 if failed else 0
    except BadInput as err:
        print(f"error: {err}", file=sys.stderr)
        return 6
    except ExternalFailure as err:
        print(f"error: {err}", file=sys.stderr)
        return 8


if __name__ == "__main__":
    sys.exit(main())
