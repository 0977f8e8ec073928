"""The progress reporter (llamacpp.progress) and the server-start stages (llamacpp.server_progress):
the lines a person reads in a log or on a terminal, their rate limit and the ETA arithmetic, with an
injected clock so that every figure is exact."""
from __future__ import annotations

import io
from pathlib import Path

import pytest

from onboard.llamacpp.progress import MIB, Progress, duration, quiet_requested
from onboard.llamacpp.server_progress import StartProgress, loading_stage

FIXTURES = Path(__file__).parent / "fixtures" / "llama-server-logs"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def reporter(**kwargs) -> tuple[Progress, io.StringIO, Clock]:
    out, clock = io.StringIO(), Clock()
    kwargs.setdefault("enabled", True)
    return Progress(stream=out, clock=clock, tty=kwargs.pop("tty", False), **kwargs), out, clock


def test_a_log_line_has_done_total_rate_tokens_elapsed_and_eta() -> None:
    p, out, clock = reporter(label="benchmark", total=164, unit="tasks")
    clock.now += 40.0
    p.update(10, tokens=2000, note="HumanEval/9")
    # 10 tasks in 40 s = 0.25 tasks/s; 154 left / 0.25 = 616 s; 2000 tokens / 40 s = 50 tokens/s
    assert out.getvalue() == ("benchmark: 10/164 tasks (6%), 0.25 tasks/s, 50.0 tokens/s, elapsed 40s, "
                              "ETA 10m16s: HumanEval/9\n")


def test_log_lines_are_rate_limited_but_the_first_forced_and_last_are_written() -> None:
    p, out, clock = reporter(label="benchmark", total=100, log_interval=10.0)
    for i in range(1, 101):  # one task a second
        clock.now += 1.0
        p.update(i)
    p.finish()
    lines = out.getvalue().splitlines()
    # the first (1 s), then every 10 s (11, 21, ..., 91), then the last one at 100 s
    assert [line.split(":")[1].split("/")[0].strip() for line in lines] == \
        ["1", "11", "21", "31", "41", "51", "61", "71", "81", "91", "100"]
    assert lines[-1] == "benchmark: 100/100 tasks (100%), 1.00 tasks/s, elapsed 1m40s, ETA 0s"
    clock.now += 1.0
    p.update(100, note="a new stage", force=True)
    assert out.getvalue().splitlines()[-1].endswith(": a new stage")


def test_eta_follows_the_average_rate_and_is_unknown_without_a_total_or_progress() -> None:
    p, _, clock = reporter(label="x", total=50)
    assert p.eta() is None and p.rate() is None  # nothing done yet
    clock.now += 20.0
    p.update(10)
    assert p.rate() == pytest.approx(0.5) and p.eta() == pytest.approx(80.0)
    clock.now += 20.0
    p.update(30)  # faster lately: the average is 0.75/s, 20 left
    assert p.eta() == pytest.approx(20 / 0.75)
    unknown, _, clock2 = reporter(label="y")
    clock2.now += 5.0
    unknown.update(3)
    assert unknown.eta() is None and "ETA" not in unknown.line() and "(" not in unknown.line()


def test_bytes_are_shown_in_mib_with_mib_per_second_through_a_done_total_callback() -> None:
    out, clock = io.StringIO(), Clock()
    p = Progress.for_bytes("download", total_bytes=None, stream=out, clock=clock, tty=False, enabled=True)
    callback = p.bytes_callback()
    clock.now += 10.0
    callback(100 * MIB, 400 * MIB)  # the total learned from the callback itself
    clock.now += 10.0
    callback(200 * MIB, 0)  # 0: the total is not repeated, the known one stays
    p.finish()
    lines = out.getvalue().splitlines()
    assert lines[0] == "download: 100.0/400.0 MiB (25%), 10.00 MiB/s, elapsed 10s, ETA 30s"
    assert lines[-1] == "download: 200.0/400.0 MiB (50%), 10.00 MiB/s, elapsed 20s, ETA 20s"


def test_a_terminal_gets_one_line_redrawn_in_place_and_a_newline_at_the_end() -> None:
    p, out, clock = reporter(label="download", total=4, unit="files", tty=True, tty_interval=0.2)
    for i in range(1, 5):
        clock.now += 0.5
        p.update(i)
    p.finish()
    text = out.getvalue()
    assert text.count("\r") == 5 and text.count("\n") == 1 and text.endswith("\n")
    assert "\r" + "download: 4/4 files (100%)" in text


def test_quiet_turns_every_line_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONBOARD_QUIET", "1")
    assert quiet_requested()
    out = io.StringIO()
    p = Progress("benchmark", total=3, stream=out, tty=False)  # enabled=None: the environment decides
    p.update(1)
    p.finish()
    assert out.getvalue() == ""
    monkeypatch.setenv("ONBOARD_QUIET", "0")
    assert not quiet_requested()
    off, out2, _ = reporter(label="x", enabled=False)
    off.update(1)
    assert out2.getvalue() == ""


def test_a_bounded_wait_shows_elapsed_of_its_bound() -> None:
    p, out, clock = reporter(label="llama-server start", bound_s=600)
    clock.now += 4.0
    p.update(note="loading model tensors")
    assert out.getvalue() == "llama-server start: elapsed 4s of at most 10m00s: loading model tensors\n"
    assert [duration(s) for s in (0, 59.4, 61, 3599, 3720)] == ["0s", "59s", "1m01s", "59m59s", "1h02m"]


def test_a_broken_stream_stops_the_lines_not_the_work() -> None:
    class Broken(io.StringIO):
        def write(self, _s: str) -> int:
            raise BrokenPipeError

    p = Progress("x", total=2, stream=Broken(), tty=False, enabled=True)
    p.update(1)
    p.update(2, force=True)
    assert p.enabled is False


# ---- the server start -------------------------------------------------------------------------------
def test_the_loading_stage_is_the_latest_the_log_shows() -> None:
    text = (FIXTURES / "b11434-cpu-gemma-lv4.log").read_text(errors="replace")
    lines = text.splitlines(keepends=True)

    def upto(marker: str) -> str:
        return "".join(lines[: next(i for i, l in enumerate(lines) if marker in l) + 1])

    assert loading_stage(upto("load_model: loading model")) == "opening gemma-3-270m-q4_k_m.gguf"
    assert loading_stage(upto("loaded meta data")) == "reading gemma-3-270m-q4_k_m.gguf's metadata"
    assert loading_stage(upto("loading model tensors")) == "loading model tensors (235.16 MiB)"
    assert loading_stage(upto("constructing llama_context")).startswith("building the context")
    assert loading_stage(upto("warming up")) == "warming up"
    assert loading_stage("nothing known yet\n") is None


def test_start_progress_reads_the_growing_log_and_writes_one_line_per_stage(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    lines = (FIXTURES / "b11434-cpu-gemma-lv4.log").read_text(errors="replace").splitlines(keepends=True)
    out, clock = io.StringIO(), Clock()
    start = StartProgress(log, bound_s=600, enabled=True, stream=out, clock=clock, tty=False)
    log.write_text("")
    start.poll("starting")  # an empty log: /health's word
    with open(log, "a") as f:
        for line in lines[:150]:  # up to the context being built; a poll every 0.25 s
            f.write(line)
            f.flush()
            clock.now += 0.25
            start.poll("loading")
    start.done("ready after 37.5s")
    shown = out.getvalue().splitlines()
    assert shown[0] == "llama-server start: elapsed 0s of at most 10m00s: starting"
    stages = [l.split(": ", 2)[2] for l in shown[1:-1]]
    assert list(dict.fromkeys(stages)) == [
        "opening gemma-3-270m-q4_k_m.gguf", "reading gemma-3-270m-q4_k_m.gguf's metadata",
        "loading model tensors (235.16 MiB)", "building the context (KV cache, compute buffers)"]
    assert shown[-1] == "llama-server start: elapsed 38s of at most 10m00s: ready after 37.5s"
    assert len(shown) <= 2 + 4 + 3  # a line per stage, and one every 10 s of a stage that lasts
