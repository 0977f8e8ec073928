"""One models.conf profile -> one llama-server argument list, and where llama-server is.

Why one builder: ``start.sh`` (through ``onboard serve``), the test phase and the bench phase must
start the *same* server for the same profile, otherwise a measured speed or memory figure belongs
to a command nobody runs. The result is an argument list for ``exec``/``subprocess`` (never a
shell string): EXTRA_ARGS is split with POSIX shell rules (shlex) and nothing is expanded.

Order of the list: the profile's own flags, then EXTRA_ARGS, then host/port/verbosity, then
``extra``. llama.cpp keeps the last value of a repeated flag, so what the caller adds (a free port
for the test phase, ``--no-warmup``) wins over the profile.
"""
from __future__ import annotations

import os
import shlex
import shutil
import tomllib
from pathlib import Path
from typing import Mapping, Sequence

from onboard.llamacpp.errors import BadInput

# llama.cpp's own spellings (common/arg.cpp: is_truthy / is_falsey)
_TRUTHY = ("on", "enabled", "true", "1")
_FALSEY = ("off", "disabled", "false", "0")
# flags the profile's own keys set; repeating them in EXTRA_ARGS would silently override MODEL etc.
_OWNED_FLAGS = {
    "-m": "MODEL", "--model": "MODEL",
    "-c": "CTX_SIZE", "--ctx-size": "CTX_SIZE",
    "-ngl": "N_GPU_LAYERS", "--gpu-layers": "N_GPU_LAYERS", "--n-gpu-layers": "N_GPU_LAYERS",
    "-fit": "FIT", "--fit": "FIT",
}


def cache_dir() -> Path:
    """Where ``scripts/install-llama-server.sh`` puts its build (``$ONBOARD_CACHE`` or ~/.cache/onboard)."""
    return Path(os.environ.get("ONBOARD_CACHE") or Path.home() / ".cache" / "onboard")


def build_server_argv(
    profile: Mapping[str, str],
    *,
    binary: str,
    host: str | None = "127.0.0.1",
    port: int | None = None,
    extra: Sequence[str] = (),
    verbosity: int | None = None,
    root: Path | None = None,
) -> list[str]:
    """The llama-server argv for a profile (a mapping of models.conf keys to their values).

    ``MODEL`` is required; a relative MODEL is taken relative to ``root`` (the repository) when
    given. ``CTX_SIZE`` -> ``-c``, ``N_GPU_LAYERS`` -> ``-ngl`` (a number, ``auto`` or ``all``),
    ``FIT`` -> ``-fit on|off``, ``EXTRA_ARGS`` split with shell rules. ``host=None`` leaves the
    host to llama-server (or to EXTRA_ARGS). ``verbosity`` -> ``-lv N`` (the test phase uses 4:
    below it llama.cpp prints no buffer sizes). Raises BadInput naming the field on a bad value.
    """
    model = (profile.get("MODEL") or "").strip()
    if not model:
        raise BadInput("the profile has no MODEL", field="MODEL",
                       fix="add MODEL=models/<ModelName>/<Quant>/<file>.gguf to the profile")
    model_path = Path(model)
    if root is not None and not model_path.is_absolute():
        model_path = Path(root) / model_path
    argv = [str(binary), "-m", str(model_path)]

    ctx = (profile.get("CTX_SIZE") or "").strip()
    if ctx:
        argv += ["-c", str(_non_negative_int(ctx, "CTX_SIZE", "a number of tokens such as 16384 (0 = the model's)"))]

    ngl = (profile.get("N_GPU_LAYERS") or "").strip()
    if ngl:
        if ngl not in ("auto", "all"):
            ngl = str(_non_negative_int(ngl, "N_GPU_LAYERS", "a number of layers, 'auto' or 'all'"))
        argv += ["-ngl", ngl]

    fit = (profile.get("FIT") or "").strip().lower()
    if fit:
        if fit in _TRUTHY:
            argv += ["-fit", "on"]
        elif fit in _FALSEY:
            argv += ["-fit", "off"]
        else:
            raise BadInput(f"{profile['FIT']!r} is neither on nor off", field="FIT", fix="write FIT=on or FIT=off")

    argv += _repository_paths(_extra_args(profile.get("EXTRA_ARGS") or ""), root)
    if host is not None:
        argv += ["--host", host]
    if port is not None:
        if not 0 < int(port) < 65536:
            raise BadInput(f"port {port} is outside 1-65535", field="port")
        argv += ["--port", str(int(port))]
    if verbosity is not None:
        argv += ["-lv", str(int(verbosity))]
    argv += [str(a) for a in extra]
    return argv


# flags whose value is a file of the repository (a chat template kept beside the model): taken relative
# to the repository like MODEL, so start.sh, serve and an exported preset work from any directory
_FILE_FLAGS = ("--chat-template-file", "--mmproj", "--lora", "--grammar-file", "--json-schema-file")


def _repository_paths(args: list[str], root: Path | None) -> list[str]:
    if root is None:
        return args
    out = list(args)
    for i, arg in enumerate(out):
        flag, eq, value = arg.partition("=")
        if eq and flag in _FILE_FLAGS and value and not Path(value).is_absolute():
            out[i] = f"{flag}={Path(root) / value}"
        elif arg in _FILE_FLAGS and i + 1 < len(out) and not Path(out[i + 1]).is_absolute():
            out[i + 1] = str(Path(root) / out[i + 1])
    return out


def flag_value(args: Sequence[str], flag: str) -> str | None:
    """The value llama.cpp takes for ``flag`` in an argument list: the last ``flag V`` or ``flag=V``."""
    value = None
    for i, arg in enumerate(args):
        if arg == flag and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith(flag + "="):
            value = arg.split("=", 1)[1]
    return value


def _non_negative_int(value: str, field: str, what: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise BadInput(f"{value!r} is not {what}", field=field)
    return number


def _extra_args(value: str) -> list[str]:
    """EXTRA_ARGS with POSIX shell rules, refusing flags that belong to another profile key."""
    try:
        args = shlex.split(value, comments=False, posix=True)
    except ValueError as err:
        raise BadInput(f"cannot split with shell rules: {err}", field="EXTRA_ARGS",
                       fix="balance the quotes ('...' or \"...\") or escape the character with \\") from None
    for arg in args:
        flag = arg.split("=", 1)[0]
        if flag in _OWNED_FLAGS:
            key = _OWNED_FLAGS[flag]
            raise BadInput(f"{flag} belongs in {key}, not in EXTRA_ARGS", field="EXTRA_ARGS",
                           fix=f"move the value to {key}=...")
    return args


def find_llama_server(rig_path: str | None = None) -> str | None:
    """The llama-server to use: ``$LLAMA_SERVER``, the rig file's ``llama_server``, PATH, the build cache.

    An explicit choice (the environment variable or the rig file) is returned even when the file is
    missing, so that the caller can say which setting points nowhere; PATH and the cache only count
    when an executable is there. None: nothing found (run ``scripts/install-llama-server.sh``).
    """
    explicit = os.environ.get("LLAMA_SERVER")
    if explicit:
        return explicit
    if rig_path:
        from_rig = _rig_llama_server(Path(rig_path))
        if from_rig:
            return from_rig
    on_path = shutil.which("llama-server")
    if on_path:
        return on_path
    cached = cache_dir() / "llama.cpp" / "bin" / "llama-server"
    if cached.is_file() and os.access(cached, os.X_OK):
        return str(cached)
    return None


def _rig_llama_server(path: Path) -> str | None:
    """``llama_server`` from a rig file (top level, or in a ``[llama_server]``/``[llama]`` table as ``path``).

    Read with tomllib directly rather than the full rig loader: finding a binary must not fail on
    an unrelated mistake in the devices table. A relative path is relative to the rig file.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise BadInput(f"cannot read the rig file: {err}", path=str(path)) from None
    value = data.get("llama_server")
    if isinstance(value, dict):
        value = value.get("path")
    if value is None and isinstance(data.get("llama"), dict):
        value = data["llama"].get("server") or data["llama"].get("llama_server")
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise BadInput(f"{value!r} is not a path", path=str(path), field="llama_server")
    binary = Path(value).expanduser()
    return str(binary if binary.is_absolute() else path.parent / binary)
