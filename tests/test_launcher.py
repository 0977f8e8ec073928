"""The launcher's process handling, driven by small real processes on 127.0.0.1.

Why not llama-server here: the paths below (a server that never gets healthy, one that ignores
SIGTERM, one that dies of SIGILL, a binary that is not there) cannot be provoked on demand with a
real llama-server; a real Python process listening on a real socket can. Everything the launcher
does with llama-server itself is in test_launcher_real.py.
"""
from __future__ import annotations

import signal
import sys
import textwrap
from pathlib import Path

from onboard.llamacpp.launcher import explain_exit, launch

# A real HTTP server that stays "loading" (503 on /health), optionally ignoring SIGTERM.
_LOADING_SERVER = textwrap.dedent(
    """
    import signal, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer
    if sys.argv[1] == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(503); self.end_headers(); self.wfile.write(b'{"error":"loading"}')
        def log_message(self, *a):
            print("request", self.path, flush=True)
    port = int(sys.argv[sys.argv.index("--port") + 1])
    print("listening on", port, flush=True)
    HTTPServer(("127.0.0.1", port), H).serve_forever()
    """
)


def test_never_healthy_server_times_out_and_is_stopped(tmp_path: Path) -> None:
    states: list[str] = []
    result = launch([sys.executable, "-c", _LOADING_SERVER, "normal"], log_path=tmp_path / "logs" / "s.log",
                    health_timeout=2.0, progress=lambda t, s: states.append(s))
    assert not result.ready and not result.early_exit
    assert result.error == "llama-server was not healthy after 2 s (last state: loading)"
    assert result.stopped_by == "SIGTERM" and result.exit_status == -signal.SIGTERM
    assert "loading" in states and states[-1] == "stopped"
    log = result.log_path.read_text()
    assert f"listening on {result.port}" in log and "request /health" in log  # the port it chose was used


def test_server_ignoring_sigterm_is_killed_after_the_stop_timeout(tmp_path: Path) -> None:
    result = launch([sys.executable, "-c", _LOADING_SERVER, "ignore-term"], log_path=tmp_path / "s.log",
                    health_timeout=1.5, stop_timeout=1.0)
    assert result.stopped_by == "SIGKILL" and result.exit_status == -signal.SIGKILL


def test_death_by_sigill_says_to_build_from_source(tmp_path: Path) -> None:
    """What a prebuilt AVX-512 llama-server does on an AVX2-only CPU, by a real signal."""
    code = "import os, signal; print('load_backend: loaded CPU backend', flush=True); os.kill(os.getpid(), signal.SIGILL)"
    result = launch([sys.executable, "-c", code], log_path=tmp_path / "s.log", health_timeout=30)
    assert result.early_exit and not result.ready and result.stopped_by is None
    assert result.exit_status == -signal.SIGILL
    assert "SIGILL" in result.error and "install-llama-server.sh" in result.error


def test_exit_explanation_quotes_the_log_error_lines(tmp_path: Path) -> None:
    log = tmp_path / "s.log"
    log.write_text("main: loading model\nllama_model_load: error loading model: invalid magic characters: "
                   "'NOTA', expected 'GGUF'\nsrv    load_model: failed to load model, 'x.gguf'\nmain: exiting\n")
    text = explain_exit(1, log)
    assert text.splitlines()[0] == "llama-server exited with status 1:"
    assert "invalid magic characters: 'NOTA'" in text and "failed to load model" in text
    assert "main: exiting" not in text


def test_missing_binary_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    result = launch([str(tmp_path / "no-llama-server"), "-m", "x.gguf"], log_path=tmp_path / "s.log")
    assert not result.ready and result.error.startswith(f"cannot start {tmp_path / 'no-llama-server'}: ")


def test_memory_sampling_without_nvml_is_a_note_not_a_failure(tmp_path: Path) -> None:
    result = launch([sys.executable, "-c", _LOADING_SERVER, "normal"], log_path=tmp_path / "s.log",
                    health_timeout=1.0, sample_interval=0.1)
    # either NVML works here (samples of real GPUs) or it does not (a note saying why): never both, never neither
    assert bool(result.memory_samples) != bool(result.memory_note)
    for s in result.memory_samples:
        assert 0 < s.used_mib <= s.total_mib
