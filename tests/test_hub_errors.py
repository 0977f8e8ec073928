"""The one adapter from huggingface_hub's errors: each failure the hub or the network can give becomes
ExternalFailure (exit 8) naming the repository and file, with what to do; onboard's own errors pass.

The hub's HTTP errors are made the way huggingface_hub makes them: its own ``hf_raise_for_status`` on a
real HTTP response of that status (the hub's documented error headers included), so the adapter sees
exactly the classes and attributes a real hub answer produces. Whole paths through the local hub
(gated, missing repository, missing file, unreachable) are in test_hub.py and test_remote_gguf.py.
"""
from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from onboard.llamacpp.errors import BadInput, Exit, ExternalFailure
from onboard.llamacpp.hub_errors import hub_errors, hub_failure

REPO = "unsloth/Qwen3-30B-A3B-GGUF"
FILE = "Qwen3-30B-A3B-Q4_K_M.gguf"
ROOT = Path(__file__).resolve().parent.parent


RESOLVE = f"https://huggingface.co/{REPO}/resolve/main/{FILE}"
API = "https://huggingface.co/api/whoami-v2"  # not a repository's URL


def _http_error(status: int, headers: dict[str, str] | None = None, url: str = RESOLVE) -> Exception:
    """The exception huggingface_hub raises for a hub answer of ``status``."""
    from huggingface_hub.utils import get_session, hf_raise_for_status

    http = importlib.import_module(type(get_session()).__module__.split(".")[0])  # httpx2 or httpx
    response = http.Response(status, headers=headers or {}, request=http.Request("GET", url), content=b"{}")
    with pytest.raises(Exception) as caught:
        hf_raise_for_status(response)
    return caught.value


@pytest.mark.parametrize(("status", "headers", "url", "says", "fix"), [
    (401, {}, API, "HTTP 401", "HF_TOKEN"),
    (401, {}, RESOLVE, "repository not found on the hub", "a private repo also needs HF_TOKEN"),  # the hub's way
    (403, {}, RESOLVE, "HTTP 403", "token with read access"),
    (404, {}, API, "HTTP 404", "check the repo id"),
    (429, {}, RESOLVE, "rate-limiting", "wait a few minutes"),
    (503, {}, RESOLVE, "answered an error", "retry later"),
    (500, {}, RESOLVE, "answered an error", "status.huggingface.co"),
    (404, {"X-Error-Code": "RepoNotFound"}, RESOLVE, "repository not found on the hub", "OWNER/NAME"),
    (403, {"X-Error-Code": "GatedRepo"}, RESOLVE, "gated", "accept the license"),
    (404, {"X-Error-Code": "RevisionNotFound"}, RESOLVE, "revision 'main' not found", "branch, tag or commit"),
    (404, {"X-Error-Code": "EntryNotFound"}, RESOLVE, "file not found on the hub", "list the quants again"),
])
def test_hub_answers_become_external_failures_naming_repo_and_file(status, headers, url, says, fix) -> None:
    err = _http_error(status, headers, url)
    with pytest.raises(ExternalFailure) as failure:
        with hub_errors(REPO, FILE):
            raise err
    assert failure.value.code == Exit.EXTERNAL
    assert failure.value.message.startswith(f"{REPO}/{FILE}: ") and says in failure.value.message
    assert fix in (failure.value.fix or "")
    assert failure.value.__cause__ is err  # the hub's own error stays attached for a debugger


def test_network_failures_and_offline_mode_are_external() -> None:
    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

    from onboard.llamacpp.hub_errors import network_errors

    connect = next(c for c in network_errors() if c.__name__ == "TransportError")("connection refused")
    cases = [(connect, "cannot reach the hub", "HF_ENDPOINT"),
             (ConnectionRefusedError(111, "Connection refused"), "cannot reach the hub", "HF_ENDPOINT"),
             (LocalEntryNotFoundError("no local copy"), "cannot reach the hub to download", "run the download again"),
             (OfflineModeIsEnabled("offline"), "HF_HUB_OFFLINE is set", "unset HF_HUB_OFFLINE")]
    for err, says, fix in cases:
        failure = hub_failure(err, REPO, FILE, revision="v2")
        assert isinstance(failure, ExternalFailure), err
        assert failure.message.startswith(f"{REPO}/{FILE}@v2: ") and says in failure.message, failure.message
        assert fix in (failure.fix or "")


def test_onboard_errors_and_bugs_pass_through_unchanged() -> None:
    bad = BadInput("invalid magic", path="hf://x/y.gguf")
    with pytest.raises(BadInput) as kept:
        with hub_errors(REPO):
            raise bad
    assert kept.value is bad
    with pytest.raises(KeyError):  # a bug is not dressed up as a hub failure
        with hub_errors(REPO):
            raise KeyError("x")
    assert hub_failure(PermissionError(13, "Permission denied", "/models/x.gguf"), REPO) is None


def _imports_from_huggingface_hub(path: Path) -> list[tuple[str, str, int]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "huggingface_hub":
            found += [(node.module, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(a.name, "", node.lineno) for a in node.names if a.name.split(".")[0] == "huggingface_hub"]
    return found


def test_only_public_huggingface_hub_api_is_used() -> None:
    """No private function (``file_download.http_get`` was one): only names huggingface_hub exports at
    its top level, and its documented ``utils``, ``errors`` and ``constants`` modules."""
    import huggingface_hub

    public_modules = {"huggingface_hub.utils", "huggingface_hub.errors", "huggingface_hub.constants"}
    problems = []
    for folder in ("llamacpp", "phases", "workflow", "store"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for module, name, line in _imports_from_huggingface_hub(path):
                where = f"{path.relative_to(ROOT)}:{line}: {module} {name}"
                if module == "huggingface_hub":
                    ok = name in huggingface_hub.__all__ or f"huggingface_hub.{name}" in public_modules
                else:
                    ok = module in public_modules and not name.startswith("_") \
                        and hasattr(importlib.import_module(module), name)
                if not ok:
                    problems.append(where)
    assert problems == []
