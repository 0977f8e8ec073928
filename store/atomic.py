"""Atomic file writes: a file is always either its old or its new content, never half-written.

Temp file in the same directory, fsync, ``os.replace``, fsync of the directory. A crash (or a full
disk) at any point leaves the old file in place; the temp file is removed on any error, and the
error names the file being written (a failed ``write()`` on a file descriptor names none by itself).

:func:`inside_root` is the one check that a repository file onboard is about to write really lies
inside the repository, symlinks followed (see its docstring for the policy).
"""
from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from onboard.llamacpp.errors import Exit, OnboardError
from onboard.store import crashpoints

TMP_SUFFIX = ".onboard-tmp"


class OutsideRepository(OnboardError, ValueError):
    """A repository file to write would land outside the repository (``..``, absolute, symlink): exit 6."""

    code = Exit.BAD_INPUT

    def __init__(self, relpath: str, resolved: Path, root: Path) -> None:
        via = "" if Path(relpath).is_absolute() or ".." in Path(relpath).parts else \
            f" (a symlink on the way leads to {resolved})"
        super().__init__(
            f"refusing to write outside the repository: {relpath}{via}; onboard writes repository "
            f"files (models.conf, docs, benchmark files) only inside {root}",
            fix=f"make {relpath} (and the folders above it) regular files and folders inside the "
                "repository, e.g. replace the symlink by a copy of its target, then run the command again",
            path=relpath)
        self.relpath = relpath
        self.resolved = resolved
        self.root = root


def inside_root(root: Path, relpath: str | Path) -> Path:
    """The real path of repository file ``relpath``, refused unless it lies inside ``root``.

    Policy (why): models.conf, docs/ and the benchmark files are the person's repository, under
    version control; onboard edits them and promises every other byte stays as it was. A symlink
    among them that leads out of the repository (``docs -> /srv/site``, ``models.conf ->
    ~/other/models.conf``) means the write would change a file that is not part of this repository
    and that no ``git diff`` of it shows, so such writes are refused, naming the path. Both sides are
    resolved, so a repository reached through a symlink (``~/llm -> /data/llm``) works, and a
    symlink that stays inside the repository is followed and its target written (the link is kept).
    Model files are not repository files: a ``models/`` folder that is a symlink to a big disk is a
    common, legitimate setup, and downloads into it are checked by the hub module instead (names
    from the hub must not contain ``..`` or be absolute), not by this function.
    """
    root_real = Path(root).resolve()
    rel = Path(relpath)
    if "\0" in str(relpath):
        raise OutsideRepository(str(relpath), rel, root_real)
    path = (Path(root) / rel).resolve()
    if path != root_real and root_real not in path.parents:
        raise OutsideRepository(str(relpath), path, root_real)
    return path


def write_atomic(path: Path, data: str | bytes) -> None:
    """Replace ``path`` with ``data`` atomically (creating parent directories)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    mode = _mode_for(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        os.fchmod(fd, mode)  # mkstemp makes it 0600: keep the file's own mode (start.sh, other users read it)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        crashpoints.reach("before_rename")
        os.replace(tmp, path)
    except OSError as err:
        _discard(tmp)
        if err.filename is None:  # write()/fsync() on a descriptor: say which file it was
            err.filename = str(path)
        raise
    except BaseException:
        _discard(tmp)
        raise
    _fsync_dir(path.parent)


def _mode_for(path: Path) -> int:
    """The mode ``path`` has now, or what a new file gets (0666 less the umask)."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _discard(tmp: str) -> None:
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass


def remove_file(path: Path) -> None:
    """Delete ``path`` if present, durably."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return
    _fsync_dir(Path(path).parent)


def read_text(path: Path) -> str | None:
    """The file's text, or None when it does not exist. Newlines are kept as they are."""
    try:
        with open(path, "r", encoding="utf-8", newline="") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_orphan_temps(path: Path, alive: Callable[[int], bool]) -> list[Path]:
    """Delete temp files of ``path`` left by writers that died before their rename.

    Temp names carry the writer's pid (``.<name>.<pid>.<random>.onboard-tmp``); a live writer's
    temp file (another command writing the same file right now) is left alone.
    """
    return _remove_dead(Path(path).parent.glob(f".{Path(path).name}.*{TMP_SUFFIX}"), alive)


def remove_orphan_temps_in(directory: Path, alive: Callable[[int], bool]) -> list[Path]:
    """Delete every temp file in ``directory`` left by a writer that died (a candidate's caches)."""
    return _remove_dead(Path(directory).glob(f".*{TMP_SUFFIX}"), alive)


def _remove_dead(temps: Iterable[Path], alive: Callable[[int], bool]) -> list[Path]:
    removed = []
    for tmp in temps:
        parts = tmp.name[: -len(TMP_SUFFIX)].rsplit(".", 2)  # ".<name>", "<pid>", "<random>"
        if len(parts) == 3 and parts[1].isdigit() and not alive(int(parts[1])):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed
