"""GGUF quantizations of a repository: the hub's listing or files on disk, grouped into quants.

A GGUF repository holds many files; a person chooses a *quant* (``Q4_K_M``, ``UD-Q4_K_XL``,
``BF16``...), which may be one file, several shards (``X-00001-of-00003.gguf``), and may sit in
its own folder (``BF16/...``). This module turns the repository's file list into quants with
their sizes (through huggingface_hub: one tree listing), and does the same for files on disk (so
evaluation works offline).

Names that become local paths (the repository's file paths, the model folder from the repo id, the
quant name) come from the hub, the card or the command line: each is checked by
:func:`safe_relpath` (relative, no ``..``, no NUL or backslash) before it is joined to a folder, so a
listing with ``../evil.gguf`` or a quant ``/etc`` can never put a file outside
``models/<ModelName>/<Quant>/``. A ``models/`` folder that is itself a symlink (to a bigger disk)
is the person's choice and is followed.
"""
import glob
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Sequence

from onboard.llamacpp.errors import BadInput, ExternalFailure
from onboard.llamacpp.hub_errors import hub_errors

# Quantization names as they appear in GGUF file names (llama.cpp's ftypes plus the names
# quantizers publish: Unsloth's UD-*_XL, bartowski's *_L). Matched longest first, case-insensitively.
QUANT_TOKENS: tuple[str, ...] = (
    "F32", "F16", "BF16", "FP16", "FP32",
    "Q8_0", "Q8_1", "Q8_K", "Q6_K", "Q5_0", "Q5_1", "Q5_K", "Q5_K_S", "Q5_K_M", "Q4_0", "Q4_1", "Q4_K",
    "Q4_K_S", "Q4_K_M", "Q3_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q2_K", "Q2_K_S", "Q2_K_M", "Q2_K_L",
    "Q4_0_4_4", "Q4_0_4_8", "Q4_0_8_8",
    "Q2_K_XL", "Q3_K_XL", "Q4_K_XL", "Q5_K_XL", "Q6_K_XL", "Q8_K_XL", "Q4_K_L", "Q5_K_L", "Q6_K_L",
    "IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ3_XXS", "IQ3_XS", "IQ3_S", "IQ3_M",
    "IQ4_XS", "IQ4_NL", "TQ1_0", "TQ2_0", "MXFP4", "MXFP4_MOE",
)
_TOKENS_LONGEST_FIRST = sorted(QUANT_TOKENS, key=len, reverse=True)
_QUANT_RE = re.compile(
    r"(?:^|(?<=[-_.\s/]))(?P<ud>UD-)?(?P<tok>" + "|".join(map(re.escape, _TOKENS_LONGEST_FIRST)) + r")(?=$|[-_.\s/])",
    re.IGNORECASE,
)
_SHARD_RE = re.compile(r"^(?P<base>.+)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)


@dataclass(frozen=True)
class QuantFile:
    """One file of a quant: its path in the repository (forward slashes) and its size in bytes."""

    path_in_repo: str
    size: int | None
    sha256: str | None = None  # the LFS sha256, when the hub gave it


@dataclass
class Quant:
    """One downloadable quantization: its files in shard order."""

    name: str
    files: list[QuantFile]
    split_count: int | None = None  # N of -0000k-of-0000N, None for a single file
    warnings: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(f.size or 0 for f in self.files)

    @property
    def first_file(self) -> str:
        """The file to hand llama-server (``-m``): the first shard, or the only file."""
        return self.files[0].path_in_repo

    def include_patterns(self) -> list[str]:
        """Glob patterns (``hf download --include``) matching exactly this quant's files."""
        if self.split_count is None:
            return [glob.escape(f.path_in_repo) for f in self.files]
        m = _SHARD_RE.match(self.files[0].path_in_repo)
        assert m is not None
        return [f"{glob.escape(m.group('base'))}-*-of-{m.group('count')}.gguf"]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "total_bytes": self.total_bytes, "split_count": self.split_count,
                "files": [{"path": f.path_in_repo, "size": f.size} for f in self.files],
                "warnings": list(self.warnings)}


@dataclass
class RepoListing:
    """A GGUF repository's content: quants, multimodal projectors, and the rest (README, images...)."""

    repo_id: str
    quants: list[Quant]
    mmproj: list[Quant]
    other_files: list[QuantFile]
    revision: str = "main"
    sha: str | None = None


# ---- names ---------------------------------------------------------------------------------------
def unsafe_relpath(path: str) -> str | None:
    """Why ``path`` (forward slashes) cannot be joined below a folder, or None when it is safe."""
    if not path:
        return "it is empty"
    if "\0" in path or "\n" in path or "\r" in path:
        return "it contains a NUL or line break"
    if "\\" in path:
        return "it contains a backslash"
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        return "it is an absolute path"
    if any(part in ("..", ".") for part in path.split("/")):
        return "it contains '..' or '.'"
    if any(part == "" for part in path.split("/")):
        return "it contains an empty folder name"
    return None


def safe_relpath(path: str, what: str, *, source: str | None = None) -> str:
    """``path`` itself when it stays below the folder it is joined to; else BadInput naming ``what``."""
    why = unsafe_relpath(path)
    if why is not None:
        raise BadInput(f"{path!r} cannot be used as a local path: {why}, so files would land outside "
                       "models/<ModelName>/<Quant>/", path=source, field=what,
                       fix="use a plain name (letters, digits, '-', '_', '.'); onboard never writes outside "
                           "the repository's models/ folder")
    return path


def quant_name(path_in_repo: str) -> str | None:
    """The quant a GGUF file belongs to, from its name, else its folder (``Q4_K_M``, ``UD-Q4_K_XL``).

    The last match in the file name wins (model names come first: ``Qwen3-30B-A3B-Q4_K_M``).
    Names are upper-cased as published (``q4_k_m`` -> ``Q4_K_M``).
    """
    p = PurePosixPath(path_in_repo)
    stem = p.name
    m_shard = _SHARD_RE.match(stem)
    stem = m_shard.group("base") if m_shard else re.sub(r"\.gguf$", "", stem, flags=re.IGNORECASE)
    for text in (stem, *reversed(p.parent.parts)):
        matches = list(_QUANT_RE.finditer(text))
        if matches:
            m = matches[-1]
            return ("UD-" if m.group("ud") else "") + m.group("tok").upper()
    return None


def is_mmproj(path_in_repo: str) -> bool:
    """Multimodal projector files (vision/audio encoders) are not quants of the language model."""
    return "mmproj" in PurePosixPath(path_in_repo).name.lower()


# A candidate whose GGUF is only on disk (no hub repository known) is named by its model folder:
# ``local:<ModelName>``. The colon cannot occur in a hub repo id, so it is never sent to the hub.
LOCAL_REPO_PREFIX = "local:"


def local_repo_id(model_dir_name: str) -> str:
    """The repo id standing for the files in ``models/<model_dir_name>/`` (no hub repository)."""
    safe_relpath(model_dir_name, "model folder")
    if "/" in model_dir_name:
        raise BadInput(f"{model_dir_name!r} is not a folder name", field="model folder")
    return LOCAL_REPO_PREFIX + model_dir_name


def is_local_repo(repo_id: str | None) -> bool:
    """Whether ``repo_id`` stands for files on disk only (see :func:`local_repo_id`)."""
    return bool(repo_id) and repo_id.startswith(LOCAL_REPO_PREFIX)


def hub_offline() -> bool:
    """``HF_HUB_OFFLINE`` is set: huggingface_hub refuses every request, so files on disk are all there is."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def model_dir_name(repo_id: str) -> str:
    """``unsloth/Qwen3-30B-A3B-GGUF`` -> ``Qwen3-30B-A3B``: the ``models/<ModelName>/`` folder
    (``local:<ModelName>``: that folder, as it is named)."""
    if is_local_repo(repo_id):
        return repo_id[len(LOCAL_REPO_PREFIX):]
    name = repo_id.rstrip("/").split("/")[-1]
    return re.sub(r"[-_.]gguf$", "", name, flags=re.IGNORECASE) or name


def default_target_dir(repo_id: str, quant: Quant | str, root: Path | None = None) -> Path:
    """``<root>/models/<ModelName>/<Quant>`` (both names checked: neither may leave ``models/``)."""
    qname = quant if isinstance(quant, str) else quant.name
    model = model_dir_name(repo_id)
    safe_relpath(model, "model folder (from the repo id)")  # the repo id's last part: never "/" in it
    safe_relpath(qname, "quant")
    base = Path("models") / model / qname
    return (root / base) if root is not None else base


# ---- grouping --------------------------------------------------------------------------------------
def group_files(files: Sequence[QuantFile]) -> tuple[list[Quant], list[Quant], list[QuantFile]]:
    """Split a file list into (quants, mmproj, other files). Shards of one model are one quant."""
    groups: dict[tuple[str, bool], list[QuantFile]] = {}
    other: list[QuantFile] = []
    for f in files:
        if not f.path_in_repo.lower().endswith(".gguf"):
            other.append(f)
            continue
        m = _SHARD_RE.match(f.path_in_repo)
        base = m.group("base") if m else f.path_in_repo
        groups.setdefault((base, m is not None), []).append(f)

    quants: list[Quant] = []
    mmproj: list[Quant] = []
    for (base, sharded), members in groups.items():
        members.sort(key=lambda f: f.path_in_repo)
        name = quant_name(members[0].path_in_repo)
        proj = is_mmproj(members[0].path_in_repo)
        if proj:
            name = PurePosixPath(base).name.removesuffix(".gguf") if not sharded else PurePosixPath(base).name
        elif name is None:
            name = PurePosixPath(base).name.removesuffix(".gguf")
        q = Quant(name=name, files=members)
        if sharded:
            q.split_count = _check_shards(q)
        (mmproj if proj else quants).append(q)

    _disambiguate(quants)
    quants.sort(key=lambda q: (q.total_bytes, q.name))
    mmproj.sort(key=lambda q: q.name)
    return quants, mmproj, other


def _check_shards(q: Quant) -> int:
    counts = {int(_SHARD_RE.match(f.path_in_repo).group("count")) for f in q.files}  # type: ignore[union-attr]
    count = max(counts)
    have = {int(_SHARD_RE.match(f.path_in_repo).group("no")) for f in q.files}  # type: ignore[union-attr]
    missing = sorted(set(range(1, count + 1)) - have)
    if len(counts) > 1:
        q.warnings.append(f"shards disagree on their count ({sorted(counts)})")
    if missing:
        q.warnings.append(f"{len(missing)} of {count} shards not in the listing: "
                          + ", ".join(f"{n:05d}-of-{count:05d}" for n in missing))
    return count


def _disambiguate(quants: list[Quant]) -> None:
    """Two groups with one name (e.g. a quant in the root and again in a folder): name them by path."""
    by_name: dict[str, list[Quant]] = {}
    for q in quants:
        by_name.setdefault(q.name, []).append(q)
    for name, same in by_name.items():
        if len(same) > 1:
            for q in same:
                q.name = f"{name}:{q.first_file}"


# ---- listing ------------------------------------------------------------------------------------------
def list_repo_files(repo_id: str, *, revision: str = "main", token: str | bool | None = None) -> RepoListing:
    """Every file of the repository with its size: one recursive tree listing (paginated by the hub)."""
    from huggingface_hub import HfApi, RepoFile

    api = HfApi()
    with hub_errors(repo_id):
        entries = [
            QuantFile(e.path, e.size, e.lfs.sha256 if e.lfs is not None else None)
            for e in api.list_repo_tree(repo_id, revision=revision, recursive=True, token=token)
            if isinstance(e, RepoFile)
        ]
    for entry in entries:
        why = unsafe_relpath(entry.path_in_repo)
        if why is not None:
            raise ExternalFailure(
                f"{repo_id}: the hub listed a file {entry.path_in_repo!r} whose path cannot be used ({why}): "
                "downloading it would write outside the model folder, so the listing is refused",
                fix="check HF_ENDPOINT points at the real hub; report the repository to its owner")
    quants, mmproj, other = group_files(entries)
    return RepoListing(repo_id, quants, mmproj, other, revision)


def list_quants(repo_id: str, *, revision: str = "main", token: str | bool | None = None) -> list[Quant]:
    """The repository's GGUF quants with sizes, smallest first (mmproj files excluded)."""
    listing = list_repo_files(repo_id, revision=revision, token=token)
    if not listing.quants:
        raise ExternalFailure(f"{repo_id}: no GGUF model files in the repository",
                              fix="use the repository that publishes the GGUF files (often OWNER/NAME-GGUF)")
    return listing.quants


def find_quant(quants: Sequence[Quant], name: str) -> Quant:
    """The quant called ``name`` (case-insensitive), or BadInput listing the names there are."""
    for q in quants:
        if q.name.lower() == name.lower():
            return q
    raise BadInput(f"no quant {name!r}; available: {', '.join(q.name for q in quants) or 'none'}",
                   field="--quant", fix="pick one of the names listed")


def local_quants(directory: str | Path) -> list[Quant]:
    """Quants from GGUF files on disk under ``directory`` (offline). Hidden folders are skipped."""
    root = Path(directory)
    if not root.is_dir():
        return []
    files = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not p.is_file():
            continue
        files.append(QuantFile(rel.as_posix(), p.stat().st_size))
    quants, _, _ = group_files(files)
    return quants


def model_folder_quants(model_dir: str | Path) -> list[Quant]:
    """The quants already downloaded into ``models/<ModelName>/``: one per quant folder
    ``<model_dir>/<Quant>/``, named like the folder, its file paths relative to that folder (where
    :func:`default_target_dir` and :func:`local_paths` look for them), smallest first.

    This is the layout the download phase makes and the one people keep by hand. A folder holding
    several models (two quant groups that are not shards of one) is skipped, as are hidden folders
    (huggingface_hub's ``.cache``), files directly in ``model_dir`` and multimodal projectors.
    """
    base = Path(model_dir)
    if not base.is_dir():
        return []
    found: list[Quant] = []
    for folder in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if unsafe_relpath(folder.name) is not None:
            continue
        quants = [q for q in local_quants(folder) if not is_mmproj(q.first_file)]
        if len(quants) == 1:
            quants[0].name = folder.name
            found.append(quants[0])
    found.sort(key=lambda q: (q.total_bytes, q.name))
    return found
