"""One EvalPlus run against one llama-server: generate with our own client, score with EvalPlus.

Why our own client: EvalPlus's OpenAI backend fixes ``max_tokens`` at 768 and retries connection
errors forever. A thinking model spends thousands of tokens before the code, so its answers would be
cut off and scored as failures, and a dead server would hang the run. Our client sends the same
message EvalPlus's backend sends (its instruction prefix and the task prompt in a python code block),
greedy (temperature 0), with a token budget that fits the model, a timeout per request and an overall
deadline. A base model (no chat template) is asked as EvalPlus asks base models: the task's prompt
completed through ``/completion`` with EvalPlus's stop sequences (``ClientConfig.mode``). Scoring
stays EvalPlus's own: its ``sanitize`` extracts the code and ``evalplus.evaluate``
runs the tests in a subprocess; pass@1 is read from what ``evaluate`` prints, never computed here.

Offline: EvalPlus reads ``HUMANEVAL_OVERRIDE_PATH`` / ``MBPP_OVERRIDE_PATH`` at import, so they are set
in the child's environment. A quick run writes the first N tasks to a subset file and says so in the
result (EvalPlus insists that the samples cover every task of the file it loads).

EvalPlus itself is optional (``pip install -e .[bench]``); nothing here imports it.
"""
from __future__ import annotations

import dataclasses
import gzip
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from onboard.llamacpp.chat_template import completion_stops
from onboard.llamacpp.errors import BadInput, ExternalFailure
from onboard.llamacpp.progress import Progress as ProgressLine

# EvalPlus 0.3.1, evalplus/codegen.py: the instruction its chat backends send before the task
INSTRUCTION_PREFIX = ("Please provide a self-contained Python script that solves the following problem "
                      "in a markdown code block:")
DATASETS = {"humaneval": "HUMANEVAL_OVERRIDE_PATH", "mbpp": "MBPP_OVERRIDE_PATH"}
_THINK = re.compile(r"^\s*<think>.*?</think>", re.S)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_PASS_AT_1 = re.compile(r"^\s*(\w+\+?) \((base tests|base \+ extra tests)\)\s*\n\s*pass@1:\s*([0-9.]+)", re.M)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ClientConfig:
    """How our client asks: budget, timeouts, the model's system prompt (None = none).

    ``mode``: "chat" sends EvalPlus's chat message to ``/v1/chat/completions``; "completion" (a base
    model, which has no chat template) sends the task's prompt to ``/completion`` and the answer is
    the prompt plus what the model wrote, cut at ``stop`` (EvalPlus's stop sequences for direct
    completion of the dataset when empty), as EvalPlus does for base models.
    """

    max_tokens: int = 4096
    request_timeout_s: float = 600.0
    system_prompt: str | None = None
    instruction_prefix: str = INSTRUCTION_PREFIX
    mode: str = "chat"
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise BadInput(f"unknown client mode {self.mode!r}", field="mode", fix="chat or completion")


MODES = ("chat", "completion")


def client_mode(chat_kind: str | None) -> str:
    """The client mode for evaluate's verdict (``options["chat"]["kind"]``): a base model is asked
    for completions, anything else (or no verdict) for chat."""
    return "completion" if chat_kind == "base" else "chat"


@dataclass
class Generation:
    """The samples of one run (one per task, in dataset order) and the server's own speed figures."""

    samples: list[dict] = field(default_factory=list)  # {task_id, solution, finish_reason, tokens, error}
    predicted_tokens: int = 0
    predicted_ms: float = 0.0
    prompt_tokens: int = 0
    prompt_ms: float = 0.0
    errors: int = 0

    @property
    def gen_tps(self) -> float | None:
        return round(self.predicted_tokens / self.predicted_ms * 1000, 2) if self.predicted_ms else None

    @property
    def prompt_tps(self) -> float | None:
        return round(self.prompt_tokens / self.prompt_ms * 1000, 2) if self.prompt_ms else None


@dataclass
class Score:
    """What ``evalplus.evaluate`` printed, and where its per-task results are."""

    base_pass1: float
    plus_pass1: float | None
    results_path: Path
    output: str


@dataclass
class RunResult:
    dataset: str
    n_tasks: int
    total_tasks: int
    quick: bool
    base_pass1: float
    plus_pass1: float | None
    gen_tps: float | None
    prompt_tps: float | None
    server_gen_tps: float | None  # the launcher's fixed-prompt measurement (same as the test phase)
    request_errors: int
    truncated: int  # answers that hit max_tokens
    max_tokens: int
    seconds: float
    evalplus_version: str | None
    samples_path: str
    results_path: str
    log_path: str
    mode: str = "chat"  # how the client asked: "chat" or "completion" (a base model)

    def to_json(self) -> dict:
        return asdict(self)


# -- the dataset ------------------------------------------------------------------------------------
def load_tasks(path: str | Path) -> list[dict]:
    """The tasks of a HumanEval+ / MBPP+ ``.jsonl`` or ``.jsonl.gz`` file, in file order."""
    path = Path(path)
    if not path.is_file():
        raise BadInput("no such dataset file", path=str(path),
                       fix="give a HumanEval+ / MBPP+ .jsonl(.gz) file (e.g. EvalPlus's HumanEvalPlus.jsonl.gz)")
    opener = gzip.open if path.name.endswith(".gz") else open
    tasks = []
    with opener(path, "rt", encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                task = json.loads(line)
            except json.JSONDecodeError as err:
                raise BadInput(f"not a JSON line: {err.msg}", path=str(path), line=number) from None
            missing = [k for k in ("task_id", "prompt", "entry_point") if k not in task]
            if missing:
                raise BadInput(f"task lacks {', '.join(missing)}", path=str(path), line=number,
                               fix="use a dataset in EvalPlus's format")
            tasks.append(task)
    if not tasks:
        raise BadInput("the dataset has no tasks", path=str(path))
    return tasks


def write_subset(tasks: Sequence[dict], n: int, out: Path) -> Path:
    """The first ``n`` tasks as a dataset file of their own (a quick run scores exactly these)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(t) + "\n" for t in tasks[:n]), encoding="utf-8")
    return out


# -- generation with our own client ------------------------------------------------------------------
def chat_message(task: dict, config: ClientConfig) -> list[dict]:
    """The messages EvalPlus's OpenAI backend would send, plus the model's system prompt if any."""
    user = config.instruction_prefix + f"\n```python\n{task['prompt'].strip()}\n```"
    messages = [{"role": "system", "content": config.system_prompt}] if config.system_prompt else []
    return messages + [{"role": "user", "content": user}]


def without_thinking(content: str) -> str:
    """The answer after a leading ``<think>...</think>`` (``--reasoning-format none`` keeps it in the
    content); code drafted while thinking must not be mistaken for the answer."""
    return _THINK.sub("", content, count=1).lstrip("\n")


def generate(base_url: str, tasks: Sequence[dict], config: ClientConfig, *, deadline: float | None = None,
             progress: Progress = lambda _s: None, model: str = "bench",
             reporter: ProgressLine | None = None) -> Generation:
    """Ask the server for one greedy answer per task. A failed request scores as an empty answer
    (and is counted); passing ``deadline`` (time.monotonic()) aborts the run with ExternalFailure.

    ``progress`` gets one line per task (its answer); ``reporter`` the run as a whole (tasks done of
    the total, generated tokens/s, ETA: see llamacpp.progress), finished when the last task is."""
    out = Generation()
    generated = 0  # tokens the model wrote, as the answers count them (timings may be absent)
    for i, task in enumerate(tasks, start=1):
        if deadline is not None and time.monotonic() > deadline:
            raise ExternalFailure(f"the benchmark ran out of time after {i - 1} of {len(tasks)} tasks",
                                  fix="raise --bench-timeout, or use --quick N")
        started = time.monotonic()
        sample = {"task_id": task["task_id"], "solution": "", "finish_reason": None, "tokens": 0, "error": None}
        try:
            if config.mode == "completion":
                body = {"prompt": task["prompt"], "n_predict": config.max_tokens, "temperature": 0,
                        "stop": list(config.stop or completion_stops("humaneval")), "stream": False}
                data = _post_json(f"{base_url}/completion", body, config.request_timeout_s)
                content = data.get("content") or ""
                finish = "length" if data.get("stop_type") == "limit" else "stop"
                sample.update(raw=content, solution=task["prompt"] + content, finish_reason=finish,
                              tokens=data.get("tokens_predicted") or 0)
            else:
                body = {"model": model, "messages": chat_message(task, config), "temperature": 0,
                        "max_tokens": config.max_tokens, "stream": False}
                data = _post_json(f"{base_url}/v1/chat/completions", body, config.request_timeout_s)
                choice = (data.get("choices") or [{}])[0]
                content = (choice.get("message") or {}).get("content") or ""
                sample.update(raw=content, solution=without_thinking(content),
                              finish_reason=choice.get("finish_reason"),
                              tokens=(data.get("usage") or {}).get("completion_tokens") or 0)
            timings = data.get("timings") or {}
            out.predicted_tokens += int(timings.get("predicted_n") or 0)
            out.predicted_ms += float(timings.get("predicted_ms") or 0.0)
            out.prompt_tokens += int(timings.get("prompt_n") or 0)
            out.prompt_ms += float(timings.get("prompt_ms") or 0.0)
        except ExternalFailure as err:
            sample["error"] = str(err)
            out.errors += 1
        out.samples.append(sample)
        generated += int(sample["tokens"] or 0)
        state = sample["error"] or f"{sample['tokens']} tokens, {sample['finish_reason']}"
        progress(f"[{i}/{len(tasks)}] {task['task_id']}: {state} ({time.monotonic() - started:.1f} s)")
        if reporter is not None:
            reporter.update(i, total=len(tasks), tokens=generated, note=task["task_id"])
    if reporter is not None:
        reporter.finish(f"{out.errors} failed requests" if out.errors else "all tasks answered")
    return out


def _post_json(url: str, body: dict, timeout: float) -> dict:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.load(resp)
    except urllib.error.HTTPError as err:
        raise ExternalFailure(f"{url} answered HTTP {err.code}: {err.read(300).decode('utf-8', 'replace')}") from None
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError, ValueError) as err:
        raise ExternalFailure(f"{url} failed: {getattr(err, 'reason', err)}") from None


# -- scoring with EvalPlus ----------------------------------------------------------------------------
def evalplus_env(dataset: str, dataset_path: Path, cache_dir: Path) -> dict[str, str]:
    """The child's environment: the dataset override, its own cache (ground truth), no colours."""
    return {**os.environ, DATASETS[dataset]: str(dataset_path.resolve()), "XDG_CACHE_HOME": str(cache_dir.resolve()),
            "NO_COLOR": "1", "TOKENIZERS_PARALLELISM": "false"}


def evalplus_version(python: str = sys.executable) -> str | None:
    """The installed EvalPlus version, or None when the bench extra is not installed."""
    proc = subprocess.run([python, "-c", "import importlib.metadata as m; print(m.version('evalplus'))"],
                          capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


def score(samples_path: Path, dataset: str, dataset_path: Path, *, cache_dir: Path, python: str = sys.executable,
          timeout_s: float = 1800.0, parallel: int | None = None, progress: Progress = lambda _s: None) -> Score:
    """Sanitize with EvalPlus's ``sanitize`` and score with EvalPlus's ``evaluate`` (through
    ``llamacpp.evalplus_child evaluate``, which only makes the process end when scoring does)."""
    if dataset not in DATASETS:
        raise BadInput(f"unknown dataset {dataset!r}", field="dataset", fix="humaneval or mbpp")
    env = evalplus_env(dataset, dataset_path, cache_dir)
    sanitized = samples_path.with_name(samples_path.stem + "-sanitized.jsonl")
    results = sanitized.with_name(sanitized.stem + "_eval_results.json")
    results.unlink(missing_ok=True)  # evaluate would reuse an old result file
    progress("sanitizing the answers with EvalPlus's sanitize")
    _child([python, "-m", "onboard.llamacpp.evalplus_child", "sanitize", str(dataset_path), str(samples_path), str(sanitized)],
           env, timeout_s, "EvalPlus sanitize")
    progress("scoring with evalplus.evaluate (its own test runner)")
    argv = [python, "-m", "onboard.llamacpp.evalplus_child", "evaluate", "--dataset", dataset, "--samples", str(sanitized),
            "--parallel", str(parallel or max(1, (os.cpu_count() or 2) // 2))]
    output = _child(argv, env, timeout_s, "evalplus.evaluate")
    found = {kind: float(v) for _name, kind, v in _PASS_AT_1.findall(_ANSI.sub("", output))}
    if "base tests" not in found:
        raise ExternalFailure("evalplus.evaluate printed no pass@1", fix="read its output:\n" + output[-1500:])
    return Score(found["base tests"], found.get("base + extra tests"), results, output)


def _child(argv: list[str], env: dict[str, str], timeout_s: float, what: str) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout_s,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ExternalFailure(f"{what} did not finish in {timeout_s:.0f} s") from None
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        hint = "install the bench extra: pip install -e .[bench]" if "No module named" in output else None
        raise ExternalFailure(f"{what} failed (exit {proc.returncode}): {output.strip()[-800:]}", fix=hint)
    return output


# -- the whole run ------------------------------------------------------------------------------------
def run(argv: Sequence[str], *, dataset: str, dataset_path: Path, out_dir: Path, config: ClientConfig,
        quick: int | None = None, timeout_s: float = 7200.0, health_timeout: float = 600.0,
        progress: Progress = lambda _s: None, python: str = sys.executable,
        cwd: str | Path | None = None, show_progress: bool | None = None) -> RunResult:
    """Start the server (``argv``, from build_server_argv) with the shared launcher, generate, score.

    ``cwd``: the server's working directory (the repository, where a profile's relative template
    file is); ``config.mode`` says chat or completion (see ClientConfig).

    Writes into ``out_dir``: ``server.log``, ``samples.jsonl`` (raw answers), EvalPlus's sanitized
    samples and its ``_eval_results.json``. Raises ExternalFailure when the server or EvalPlus fails.
    ``show_progress``: the server start and the tasks as progress lines on stderr (llamacpp.progress;
    None = on unless ONBOARD_QUIET is set); ``progress`` still gets the per-task lines.
    """
    from onboard.llamacpp.launcher import free_port, launch

    started = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    tasks = load_tasks(dataset_path)
    total = len(tasks)
    scored_path = dataset_path
    if quick and quick < total:
        tasks = tasks[:quick]
        scored_path = write_subset(tasks, quick, out_dir / f"{dataset}-first{quick}.jsonl")
    if config.mode == "completion" and not config.stop:
        config = dataclasses.replace(config, stop=completion_stops(dataset))
    port = free_port()
    argv = [*argv, "--port", str(port)]
    base_url = f"http://127.0.0.1:{port}"
    deadline = started + timeout_s
    produced: dict[str, Any] = {}

    def on_progress(elapsed: float, state: str) -> None:
        # The launcher calls this with "ready" once /health is ok and stops the server after its own
        # fixed-prompt measurement; the generation runs here, while the server is up.
        # (the wait before it is shown by the launcher's own progress line)
        if state == "ready" and "gen" not in produced:
            progress(f"llama-server ready after {elapsed:.1f} s; {len(tasks)} tasks, max_tokens {config.max_tokens}, "
                     f"{config.mode} mode")
            reporter = ProgressLine("benchmark", total=len(tasks), unit="tasks", enabled=show_progress)
            produced["gen"] = generate(base_url, tasks, config, deadline=deadline, progress=progress,
                                       reporter=reporter)

    log_path = out_dir / "server.log"
    launched = launch(argv, log_path=log_path, progress=on_progress, health_timeout=health_timeout,
                      n_predict=128, cwd=cwd, show_progress=show_progress)
    gen = produced.get("gen")
    if gen is None:
        raise ExternalFailure(f"llama-server did not come up: {launched.error or 'no reason given'}",
                              fix=f"read {log_path}")
    samples_path = out_dir / "samples.jsonl"
    samples_path.write_text("".join(json.dumps(s) + "\n" for s in gen.samples), encoding="utf-8")
    result = score(samples_path, dataset, scored_path, cache_dir=out_dir.parent / ".evalplus-cache", python=python,
                   timeout_s=max(60.0, deadline - time.monotonic()), progress=progress)
    return RunResult(
        dataset=dataset, n_tasks=len(tasks), total_tasks=total, quick=len(tasks) < total,
        base_pass1=result.base_pass1, plus_pass1=result.plus_pass1, gen_tps=gen.gen_tps, prompt_tps=gen.prompt_tps,
        server_gen_tps=launched.gen_tps, request_errors=gen.errors,
        truncated=sum(1 for s in gen.samples if s["finish_reason"] == "length"), max_tokens=config.max_tokens,
        seconds=round(time.monotonic() - started, 1), evalplus_version=evalplus_version(python),
        samples_path=str(samples_path), results_path=str(result.results_path), log_path=str(log_path),
        mode=config.mode)
