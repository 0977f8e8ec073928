"""The one adapter from huggingface_hub's (and its HTTP library's) errors to :class:`ExternalFailure`.

Why one: listing quants, downloading them and reading a header by range requests all talk to the hub
and fail the same ways (a gated or missing repository, a bad token, rate limits, an unreachable
endpoint). Each failure becomes exit 8 with a message naming the repository (and the file when there
is one) and what to do; the token itself is never shown.
"""
from __future__ import annotations

import contextlib
import importlib
from typing import Iterator

from onboard.llamacpp.errors import ExternalFailure, OnboardError

_STATUS_TEXT = {
    401: ("the hub refused the request as unauthenticated (HTTP 401): the token is missing, wrong or expired",
          "set HF_TOKEN to a valid read token (or run `hf auth login`)"),
    403: ("the hub denied access (HTTP 403)",
          "accept the repository's terms on the hub, or use a token with read access to it (HF_TOKEN)"),
    404: ("not found on the hub (HTTP 404)", "check the repo id (OWNER/NAME) and the file name"),
    429: ("the hub is rate-limiting requests (HTTP 429)",
          "wait a few minutes and run the command again; requests with a token (HF_TOKEN) get higher limits"),
}


@contextlib.contextmanager
def hub_errors(repo_id: str, filename: str | None = None, *, revision: str = "main",
               what: str = "the hub") -> Iterator[None]:
    """Turn a hub or network failure inside the block into :class:`ExternalFailure` (exit 8).

    onboard's own errors (a malformed GGUF, a refused path) and anything that is not a hub failure
    pass through unchanged."""
    try:
        yield
    except OnboardError:
        raise
    except Exception as err:
        failure = hub_failure(err, repo_id, filename, revision=revision, what=what)
        if failure is None:
            raise
        raise failure from err


def hub_failure(err: BaseException, repo_id: str, filename: str | None = None, *, revision: str = "main",
                what: str = "the hub") -> ExternalFailure | None:
    """The :class:`ExternalFailure` explaining ``err``, or None when ``err`` is no hub or network failure."""
    from huggingface_hub import errors as hf

    where = repo_id + (f"/{filename}" if filename else "") + (f"@{revision}" if revision != "main" else "")
    if isinstance(err, hf.GatedRepoError):
        return ExternalFailure(
            f"{where}: the repository is gated: access needs an accepted license and a token",
            fix=f"accept the license on https://huggingface.co/{repo_id}, then set HF_TOKEN to a read token "
                "(or run `hf auth login`)")
    if isinstance(err, hf.RepositoryNotFoundError):
        return ExternalFailure(
            f"{where}: repository not found on the hub",
            fix="check the repo id (OWNER/NAME as in the hub's URL); a private repo also needs HF_TOKEN")
    if isinstance(err, hf.RevisionNotFoundError):
        return ExternalFailure(f"{where}: revision {revision!r} not found",
                               fix="check the revision (branch, tag or commit)")
    if isinstance(err, hf.LocalEntryNotFoundError):  # hf_hub_download: hub unreachable and no local copy
        return ExternalFailure(f"{where}: cannot reach the hub to download ({_short(err)})",
                               fix="check the network (or HF_ENDPOINT), then run the download again")
    if isinstance(err, hf.EntryNotFoundError):
        return ExternalFailure(f"{where}: file not found on the hub",
                               fix="the repository changed since it was listed: list the quants again")
    if isinstance(err, hf.OfflineModeIsEnabled):
        return ExternalFailure(f"{where}: HF_HUB_OFFLINE is set, the hub cannot be asked",
                               fix="unset HF_HUB_OFFLINE, or use files already on disk")
    if isinstance(err, hf.HfHubHTTPError):
        status = getattr(getattr(err, "response", None), "status_code", None)
        if status in _STATUS_TEXT:
            text, fix = _STATUS_TEXT[status]
            return ExternalFailure(f"{where}: {text}", fix=fix)
        return ExternalFailure(f"{where}: {what} answered an error: {_short(err)}",
                               fix="retry later; check https://status.huggingface.co")
    if isinstance(err, network_errors()):
        return ExternalFailure(f"{where}: cannot reach {what} ({type(err).__name__}: {err})",
                               fix="check the network (or HF_ENDPOINT); files already on disk work offline")
    return None


def network_errors() -> tuple[type[BaseException], ...]:
    """Connection and timeout errors of the HTTP libraries huggingface_hub may use (httpx2 in 2.x,
    httpx in 1.x, requests in older ones), and Python's own."""
    found: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for name, attrs in (("httpx2", ("TransportError",)), ("httpx", ("TransportError",)),
                        ("requests", ("ConnectionError", "Timeout"))):
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        found += [c for c in (getattr(mod, a, None) for a in attrs) if isinstance(c, type)]
    return tuple(found)


def _short(err: BaseException) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
