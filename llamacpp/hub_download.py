"""Download a quant from the Hugging Face hub and check that its files are all there, whole and GGUF.

Files land where ``hf download --local-dir`` puts them: ``<target_dir>/<path in repo>``, so the
printed command (:func:`download_command`) and :func:`download_quant` give the same layout and the
same check (:func:`check_files_present`) applies to both. Tokens are never printed or stored:
huggingface_hub reads ``HF_TOKEN`` / the saved login itself.

Only huggingface_hub's public API is used (``hf_hub_download`` with its ``tqdm_class``, ``hf_hub_url``,
and the HTTP session helpers of ``huggingface_hub.utils``), so an upgrade of huggingface_hub cannot
silently break it. Progress is onboard's one progress line (``llamacpp.progress``) for the whole quant:
MiB done of what is still missing, rate and ETA, fed by huggingface_hub's byte counts.
"""
from __future__ import annotations

import inspect
from pathlib import Path, PurePosixPath
from typing import Any, Callable

from onboard.llamacpp.errors import ExternalFailure
from onboard.llamacpp.gguf_header import GGUFFormatError, read_metadata
from onboard.llamacpp.hub_errors import hub_errors, hub_failure
from onboard.llamacpp.hub_quants import _SHARD_RE, Quant, QuantFile, safe_relpath
from onboard.llamacpp.progress import Progress

GGUF_MAGIC = b"GGUF"
_SPLIT_KEYS = ("split.no", "split.count", "split.tensors.count")


def download_command(repo_id: str, quant: Quant, target_dir: str | Path, *, revision: str = "main") -> list[str]:
    """The exact ``hf download`` argv fetching this quant's files (and nothing else) into ``target_dir``."""
    argv = ["hf", "download", repo_id]
    for pattern in quant.include_patterns():
        argv += ["--include", pattern]
    if revision != "main":
        argv += ["--revision", revision]
    argv += ["--local-dir", str(target_dir).rstrip("/") + "/"]
    return argv


def local_paths(quant: Quant, target_dir: str | Path) -> list[Path]:
    """Where the quant's files are (or will be) once downloaded into ``target_dir``.

    Every path in the repository is checked first: none may leave ``target_dir``."""
    return [Path(target_dir) / safe_relpath(f.path_in_repo, "file path in the repository") for f in quant.files]


def download_quant(repo_id: str, quant: Quant, target_dir: str | Path, *, progress: bool = True,
                   revision: str = "main", token: str | bool | None = None) -> list[Path]:
    """Download the quant's files into ``target_dir`` through huggingface_hub; returns their paths.

    Resume: huggingface_hub resumes a transfer interrupted by the network within one call (HTTP
    Range). A partial file left at the destination by an earlier, killed run (or another tool)
    is continued from its last byte by one ranged GET (:func:`_continue_partial`);
    ``hf_hub_download`` then checks it against the hub's sha256 (re-downloading it whole if it does
    not match). Files already complete are only checked (one HEAD request each).

    ``progress``: onboard's progress line on stderr (``ONBOARD_QUIET=1`` silences it); huggingface_hub
    draws no bars of its own either way.
    """
    from huggingface_hub import hf_hub_download
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    target = Path(target_dir)
    local_paths(quant, target)  # refuses a path in the repository that would leave target_dir
    target.mkdir(parents=True, exist_ok=True)
    report = _DownloadProgress(quant, target) if progress else None
    extra: dict[str, Any] = {}
    if report is not None and "tqdm_class" in inspect.signature(hf_hub_download).parameters:
        extra["tqdm_class"] = report.tqdm_class()
    was_disabled = are_progress_bars_disabled()
    if not progress:
        disable_progress_bars()
    paths: list[Path] = []
    try:
        for f in quant.files:
            dest = target / f.path_in_repo
            with hub_errors(repo_id, f.path_in_repo, revision=revision):
                _continue_partial(repo_id, f, dest, target, revision=revision, token=token,
                                  on_bytes=report.add if report is not None else None)
                try:
                    path = hf_hub_download(repo_id, f.path_in_repo, revision=revision, local_dir=target, token=token,
                                           **extra)
                except OSError as err:
                    if hub_failure(err, repo_id) is not None:
                        raise  # the hub's own answer (or an unreachable hub): hub_errors explains it
                    if "Consistency check failed" in str(err):
                        raise ExternalFailure(f"{repo_id}: {f.path_in_repo}: the transfer ended early",
                                              fix="run the download again: it continues where it stopped") from None
                    raise ExternalFailure(f"{dest}: cannot write the download ({err.strerror or err})",
                                          fix="check free disk space and permissions") from None
            paths.append(Path(path))
    finally:
        if report is not None:
            report.finish()  # also before an error's message: a terminal's progress line ends first
        if not progress and not was_disabled:
            enable_progress_bars()
    return paths


class _DownloadProgress:
    """One progress line for a quant's download: bytes fetched of the bytes still missing.

    Why of what is missing, not of the whole quant: a download that continues a partial file would
    otherwise count the bytes already on disk as fetched at once, and show a rate and an ETA that are
    far too good. The line appears with the first byte fetched (files already whole need none)."""

    def __init__(self, quant: Quant, target: Path) -> None:
        missing = 0
        for f, path in zip(quant.files, local_paths(quant, target)):
            have = path.stat().st_size if path.is_file() else 0
            missing += (f.size - have if have <= f.size else f.size) if f.size is not None else 0
        # a size the listing did not give: no total, so no percentage or ETA rather than a wrong one
        self.total: int | None = None if any(f.size is None for f in quant.files) else missing
        self.done = 0
        self.line: Progress | None = None

    def add(self, n: int) -> None:
        if self.line is None:
            self.line = Progress.for_bytes("download", total_bytes=self.total)
        self.done += n
        if self.line.total is not None and self.done > self.line.total:  # a stale file fetched again whole
            self.line.total = self.done
        self.line.update(self.done)

    def finish(self) -> None:
        if self.line is not None:
            self.line.finish()

    def tqdm_class(self) -> type:
        """A class for ``hf_hub_download(tqdm_class=...)``: draws nothing itself, reports every update here."""
        from huggingface_hub.utils import tqdm

        report = self

        class _Bytes(tqdm):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                kwargs["disable"] = True  # onboard's line reports; no second bar
                super().__init__(*args, **kwargs)

            def update(self, n: float | None = 1) -> bool | None:
                report.add(int(n or 0))
                return None

        return _Bytes


def _continue_partial(repo_id: str, f: QuantFile, dest: Path, local_dir: Path, *, revision: str,
                      token: str | bool | None, on_bytes: Callable[[int], None] | None = None) -> None:
    """Append the missing tail of a partial file that huggingface_hub has no record of.

    Why: ``hf_hub_download`` downloads into a fresh temporary file each call, so a partial file at
    the destination (a killed ``hf download``, a copy cut short) would be fetched again whole. One
    GET with ``Range: bytes=<have>-`` appends what is missing, written as it arrives so that a
    second interruption keeps the progress; a server that ignores the Range leaves the file to
    ``hf_hub_download``. The files huggingface_hub itself tracks (its ``.metadata`` record) are its own.
    """
    if f.size is None or not dest.is_file():
        return
    have = dest.stat().st_size
    meta = local_dir / ".cache" / "huggingface" / "download" / (f.path_in_repo + ".metadata")
    if not 0 < have < f.size or meta.exists():
        return
    from huggingface_hub import hf_hub_url
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    headers = build_hf_headers(token=token)
    headers["Range"] = f"bytes={have}-"
    headers["Accept-Encoding"] = "identity"
    url = hf_hub_url(repo_id, f.path_in_repo, revision=revision)
    with get_session().stream("GET", url, headers=headers) as response:
        if response.status_code >= 400:
            response.read()  # error bodies are small; hf_raise_for_status reads them
            hf_raise_for_status(response)
        if response.status_code != 206:
            return
        with open(dest, "ab") as out:
            for chunk in response.iter_bytes():
                out.write(chunk)
                if on_bytes is not None:
                    on_bytes(len(chunk))


# ---- completeness check --------------------------------------------------------------------------------
def read_split_keys(path: Path) -> dict[str, int]:
    """``split.no``/``split.count``/``split.tensors.count`` of one GGUF file, reading only its metadata
    (up to the last of the three) with the header reader's own limits; a malformed header raises
    :class:`~llamacpp.gguf_header.GGUFFormatError`."""
    found = read_metadata(path, _SPLIT_KEYS)
    return {k: v for k, v in found.items() if isinstance(v, int) and not isinstance(v, bool)}


def check_files_present(quant: Quant, target_dir: str | Path) -> list[str]:
    """Problems with the quant's files in ``target_dir``; ``[]`` means complete.

    Each problem names the file: missing, partial (smaller than the listing), wrong size, corrupt
    (no GGUF magic, unreadable metadata), and split metadata that disagrees with the shard names
    (``split.count``, ``split.no``).
    """
    problems: list[str] = []
    for f, path in zip(quant.files, local_paths(quant, target_dir)):
        if not path.is_file():
            problems.append(f"missing: {path}" + (f" (expected {f.size} bytes)" if f.size is not None else ""))
            continue
        size = path.stat().st_size
        if f.size is not None and size < f.size:
            problems.append(f"partial: {path} has {size} of {f.size} bytes ({100 * size / f.size:.0f}%); "
                            "run the download again, it continues")
            continue
        if f.size is not None and size > f.size:
            problems.append(f"wrong size: {path} is {size} bytes, the listing says {f.size}")
            continue
        with open(path, "rb") as fh:
            magic = fh.read(4)
        if magic != GGUF_MAGIC:
            problems.append(f"corrupt: {path} does not start with the GGUF magic (found {magic!r})")
            continue
        m = _SHARD_RE.match(PurePosixPath(f.path_in_repo).name)
        if m is None:
            continue
        try:
            keys = read_split_keys(path)
        except (GGUFFormatError, OSError) as err:
            problems.append(f"corrupt: {path}: metadata unreadable ({getattr(err, 'detail', err)})")
            continue
        no, count = int(m.group("no")), int(m.group("count"))
        if keys.get("split.count") != count:
            problems.append(f"split mismatch: {path}: split.count is {keys.get('split.count')}, the name says {count}")
        elif keys.get("split.no") is not None and keys["split.no"] != no - 1:
            problems.append(f"split mismatch: {path}: its metadata says shard {keys['split.no'] + 1:05d} "
                            f"(split.no {keys['split.no']}), the name says {no:05d}")
    if quant.split_count is not None and len(quant.files) != quant.split_count:
        have = {int(_SHARD_RE.match(PurePosixPath(f.path_in_repo).name).group("no")) for f in quant.files}  # type: ignore[union-attr]
        for n in sorted(set(range(1, quant.split_count + 1)) - have):
            problems.append(f"missing shard {n:05d}-of-{quant.split_count:05d} (not in the listing either)")
    return problems
