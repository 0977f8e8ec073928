"""A local stand-in for the Hugging Face hub: a real threaded HTTP server on 127.0.0.1.

Hub tests use the REAL ``huggingface_hub`` client (``HfApi``, ``hf_hub_download``,
``snapshot_download``, ``ModelCard.load``) against this local endpoint
(``HF_ENDPOINT=http://127.0.0.1:PORT``); nothing in the client is mocked. The responses follow
the hub's documented shapes, as the client of huggingface_hub 2.x reads them (checked against
``huggingface_hub/hf_api.py``, ``file_download.py`` and ``utils/_http.py``):

- ``GET /api/models/{repo}`` and ``/api/models/{repo}/revision/{rev}``: model info (``id``,
  ``modelId``, ``sha``, ``private``, ``gated``, ``lastModified``, ``tags``, ``siblings`` as
  ``[{"rfilename"}]``; with ``?blobs=true`` (``files_metadata=True``) each sibling also has
  ``size``, ``blobId`` and, for LFS files, ``lfs: {"sha256", "size", "pointerSize"}``).
- ``GET /api/models/{repo}/tree/{rev}[/{path}]`` with ``recursive`` and ``expand``: a JSON list of
  ``{"type": "file"|"directory", "oid", "size", "path", "lfs": {"oid", "size", "pointerSize"}}``
  (with ``expand``: ``lastCommit`` too), paginated with a ``Link: <...>; rel="next"`` header
  (cursor based, ``page_size`` entries a page, as the hub's 1000 / 50-with-expand).
- ``POST /api/models/{repo}/paths-info/{rev}`` (form fields ``paths``, ``expand``): the same
  entry shape for the paths that exist.
- ``HEAD``/``GET /{repo}/resolve/{rev}/{path}``: ``ETag`` (the LFS sha256 or the git blob id, in
  quotes), ``X-Repo-Commit``, ``Content-Length``, ``Accept-Ranges: bytes``, and for LFS files
  ``X-Linked-Size`` / ``X-Linked-Etag``; ``Range: bytes=a-b`` (also ``a-`` and ``-n``) answers
  206 with ``Content-Range``; an unsatisfiable range answers 416.
- Errors carry ``X-Error-Code`` / ``X-Error-Message`` as the hub sends them: ``RepoNotFound``
  (401), ``RevisionNotFound`` (404), ``EntryNotFound`` (404), ``GatedRepo`` (401 on a gated
  repo's files without the right token), so the client raises its own typed errors.

Differences from the real hub, on purpose: files are served directly (the real hub redirects LFS
files to a CDN; the client reads the same headers either way), no Xet headers (so the client uses
plain HTTP), and a file may be declared by size only (an ``int``): its bytes are a deterministic
pattern, so that the listing of a real multi-GB repository can be served without its data.

Every request is recorded (method, path, range, status, body bytes) and bytes are counted per
file, so tests can assert how much a client fetched. ``interrupt_once`` makes the next GET of a
file stop after N body bytes (the connection closes), to exercise the client's resume.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
import threading
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator, Mapping, Union

FileSpec = Union[bytes, Path, int]
"""What a repository file holds: its bytes, a local file to serve, or only a size (pattern bytes)."""

LFS_SUFFIXES = (".gguf", ".safetensors", ".bin", ".pt", ".pth", ".onnx", ".h5", ".msgpack", ".npz",
                ".zip", ".tar", ".gz", ".model")
LFS_MIN_SIZE = 10 * 1024 * 1024  # the hub stores large files in LFS whatever their name
_PATTERN = bytes(range(256)) * 16  # 4 KiB of pattern for size-only files
_CHUNK = 1 << 20
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass
class HubFile:
    """One file of a served repository, with the ids the hub derives from its content."""

    path: str
    spec: FileSpec
    size: int
    lfs: bool
    sha256: str
    blob_id: str

    @classmethod
    def make(cls, path: str, spec: FileSpec) -> "HubFile":
        if isinstance(spec, int):
            size = spec
            # Size-only file: ids derived from the name and size (its bytes are a pattern).
            sha256 = hashlib.sha256(f"{path}:{size}".encode()).hexdigest()
        else:
            data = spec if isinstance(spec, bytes) else None
            size = len(data) if data is not None else Path(spec).stat().st_size
            h = hashlib.sha256()
            if data is not None:
                h.update(data)
            else:
                with open(spec, "rb") as f:
                    for chunk in iter(lambda: f.read(_CHUNK), b""):
                        h.update(chunk)
            sha256 = h.hexdigest()
        lfs = path.lower().endswith(LFS_SUFFIXES) or size >= LFS_MIN_SIZE
        if lfs:
            pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()
            blob_id = hashlib.sha1(b"blob %d\0" % len(pointer) + pointer).hexdigest()
        elif isinstance(spec, bytes):
            blob_id = hashlib.sha1(b"blob %d\0" % size + spec).hexdigest()
        else:
            blob_id = hashlib.sha1(f"blob:{path}:{sha256}".encode()).hexdigest()
        return cls(path=path, spec=spec, size=size, lfs=lfs, sha256=sha256, blob_id=blob_id)

    @property
    def etag(self) -> str:
        return self.sha256 if self.lfs else self.blob_id

    def read(self, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``start..end`` inclusive, in chunks."""
        if isinstance(self.spec, bytes):
            yield self.spec[start:end + 1]
            return
        if isinstance(self.spec, int):
            pos = start
            while pos <= end:
                n = min(_CHUNK, end + 1 - pos)
                off = pos % len(_PATTERN)
                buf = (_PATTERN * (n // len(_PATTERN) + 2))[off:off + n]
                yield buf
                pos += n
            return
        with open(self.spec, "rb") as f:
            f.seek(start)
            left = end + 1 - start
            while left > 0:
                chunk = f.read(min(_CHUNK, left))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk


@dataclass
class HubRepo:
    repo_id: str
    files: dict[str, HubFile]
    sha: str
    gated: bool = False
    extra: dict = field(default_factory=dict)

    def directories(self) -> set[str]:
        dirs: set[str] = set()
        for p in self.files:
            parts = p.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                dirs.add("/".join(parts[:i]))
        return dirs


@dataclass(frozen=True)
class Request:
    """One request as the server saw it."""

    method: str
    path: str  # URL path, unquoted, without the query
    repo_id: str | None
    file: str | None  # path in repo for resolve requests
    range: str | None
    status: int
    body_bytes: int


LAST_COMMIT = {"id": "0" * 40, "title": "Upload folder using huggingface_hub", "date": "2025-05-01T12:00:00.000Z"}


class LocalHub:
    """The server. Use as a context manager, or ``start()`` / ``stop()``.

    ``repos`` maps repo ids to ``{path_in_repo: bytes | Path | int}``; ``gated`` lists repos whose
    files need ``Authorization: Bearer <token>`` with ``token``; ``extra`` adds fields to a repo's
    model info (``cardData``, ``gguf``, ``tags``...); ``page_size`` sets the tree page size.
    """

    def __init__(
        self,
        repos: Mapping[str, Mapping[str, FileSpec]],
        *,
        gated: tuple[str, ...] | set[str] = (),
        token: str = "hf_local_test_token",
        extra: Mapping[str, dict] | None = None,
        page_size: int = 1000,
    ) -> None:
        self.repos: dict[str, HubRepo] = {}
        for repo_id, files in repos.items():
            hub_files = {p: HubFile.make(p, spec) for p, spec in sorted(files.items())}
            sha = hashlib.sha1(
                "\n".join(f"{p} {f.blob_id}" for p, f in hub_files.items()).encode() + repo_id.encode()
            ).hexdigest()
            self.repos[repo_id] = HubRepo(repo_id, hub_files, sha, repo_id in gated, dict((extra or {}).get(repo_id, {})))
        self.token = token
        self.page_size = page_size
        self.requests: list[Request] = []
        self.bytes_served: Counter[tuple[str, str]] = Counter()  # (repo_id, path) -> body bytes
        # (method, path, Authorization header): a test can check the token was sent, and to whom
        self.authorizations: list[tuple[str, str, str | None]] = []
        self._interrupts: dict[tuple[str, str], int] = {}
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "LocalHub":
        hub = self

        class Handler(_Handler):
            pass

        Handler.hub = hub
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-hub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and close the open keep-alive connections (a stopped hub answers nothing)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            conns, self._conns = self._conns, set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> "LocalHub":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- test helpers ----------------------------------------------------------------------
    def interrupt_once(self, repo_id: str, path: str, after_bytes: int) -> None:
        """The next GET of that file sends its headers and ``after_bytes`` of body, then closes."""
        with self._lock:
            self._interrupts[(repo_id, path)] = after_bytes

    def file_requests(self, repo_id: str, path: str, method: str | None = None) -> list[Request]:
        return [r for r in self.requests if r.repo_id == repo_id and r.file == path
                and (method is None or r.method == method)]

    def api_requests(self) -> list[Request]:
        """Requests to the repository API (``/api/models/...``). The client also asks, on its own,
        for ``/api/agent-harnesses`` (best-effort, at most once a process): answered 404, left out."""
        return [r for r in self.requests if r.path.startswith("/api/models/")]

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()
            self.bytes_served.clear()

    def _record(self, req: Request) -> None:
        with self._lock:
            self.requests.append(req)
            if req.file is not None and req.repo_id is not None:
                self.bytes_served[(req.repo_id, req.file)] += req.body_bytes

    def _take_interrupt(self, repo_id: str, path: str) -> int | None:
        with self._lock:
            return self._interrupts.pop((repo_id, path), None)

    # ---- shapes ----------------------------------------------------------------------------
    def find_repo(self, rest: str) -> tuple[HubRepo, str] | None:
        """Split ``<repo_id><tail>`` on the longest known repo id."""
        for repo_id in sorted(self.repos, key=len, reverse=True):
            if rest == repo_id or rest.startswith(repo_id + "/"):
                return self.repos[repo_id], rest[len(repo_id):]
        return None

    @staticmethod
    def entry(repo: HubRepo, path: str, expand: bool) -> dict:
        f = repo.files.get(path)
        if f is None:  # a directory
            e: dict = {"type": "directory", "oid": hashlib.sha1(f"tree:{path}".encode()).hexdigest(),
                       "size": 0, "path": path}
        else:
            e = {"type": "file", "oid": f.blob_id, "size": f.size, "path": path}
            if f.lfs:
                e["lfs"] = {"oid": f.sha256, "size": f.size, "pointerSize": 134}
        if expand:
            e["lastCommit"] = dict(LAST_COMMIT, id=repo.sha)
        return e

    def model_info(self, repo: HubRepo, blobs: bool) -> dict:
        siblings = []
        for p, f in repo.files.items():
            s: dict = {"rfilename": p}
            if blobs:
                s.update(size=f.size, blobId=f.blob_id)
                if f.lfs:
                    s["lfs"] = {"sha256": f.sha256, "size": f.size, "pointerSize": 134}
            siblings.append(s)
        author, _, _ = repo.repo_id.rpartition("/")
        info = {
            "_id": hashlib.md5(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "modelId": repo.repo_id,
            "author": author or None,
            "sha": repo.sha,
            "lastModified": LAST_COMMIT["date"],
            "createdAt": LAST_COMMIT["date"],
            "private": False,
            "disabled": False,
            "gated": "manual" if repo.gated else False,
            "downloads": 0,
            "likes": 0,
            "tags": ["gguf"] if any(p.endswith(".gguf") for p in repo.files) else [],
            "siblings": siblings,
            "usedStorage": sum(f.size for f in repo.files.values()),
        }
        info.update(repo.extra)
        return info

    def tree(self, repo: HubRepo, base: str, recursive: bool, expand: bool) -> list[dict] | None:
        dirs = repo.directories()
        if base and base not in dirs:
            return None
        prefix = base + "/" if base else ""
        names = set()
        for p in list(repo.files) + sorted(dirs):
            if not p.startswith(prefix) or p == base:
                continue
            rel = p[len(prefix):]
            if recursive or "/" not in rel:
                names.add(p)
        # the hub lists directories first, then files, each sorted
        ordered = sorted(n for n in names if n in dirs) + sorted(n for n in names if n not in dirs)
        return [self.entry(repo, n, expand) for n in ordered]


def _truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "yes")


class _Handler(BaseHTTPRequestHandler):
    hub: LocalHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def setup(self) -> None:
        super().setup()
        with self.hub._lock:
            self.hub._conns.add(self.connection)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        with self.hub._lock:
            self.hub._conns.discard(self.connection)

    # ---- plumbing --------------------------------------------------------------------------
    def _split(self) -> tuple[str, dict[str, list[str]]]:
        parsed = urllib.parse.urlsplit(self.path)
        return urllib.parse.unquote(parsed.path), urllib.parse.parse_qs(parsed.query, keep_blank_values=True)

    def _send_json(self, obj: object, status: int = 200, headers: Mapping[str, str] | None = None,
                   repo_id: str | None = None) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        path, _ = self._split()
        self.hub._record(Request(self.command, path, repo_id, None, None, status, 0))

    def _error(self, status: int, code: str | None, message: str, repo_id: str | None = None,
               file: str | None = None) -> None:
        body = json.dumps({"error": message}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if code:
            self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", message)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        path, _ = self._split()
        self.hub._record(Request(self.command, path, repo_id, file, self.headers.get("Range"), status, 0))

    def _revision_ok(self, repo: HubRepo, rev: str) -> bool:
        return rev in ("main", repo.sha)

    # ---- verbs -----------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._body = self.rfile.read(length) if length else b""
        self._dispatch()

    def _dispatch(self) -> None:
        path, query = self._split()
        with self.hub._lock:
            self.hub.authorizations.append((self.command, path, self.headers.get("Authorization")))
        try:
            if path.startswith("/api/models/"):
                self._api(path[len("/api/models/"):], query)
            elif "/resolve/" in path:
                self._resolve(path.lstrip("/"))
            else:
                self._error(404, None, f"Not found: {path}")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _api(self, rest: str, query: dict[str, list[str]]) -> None:
        found = self.hub.find_repo(rest)
        if found is None:
            self._error(401, "RepoNotFound", "Repository not found")
            return
        repo, tail = found
        if self.command == "POST":
            m = re.fullmatch(r"/paths-info/([^/]+)", tail)
            if not m:
                self._error(404, None, "Not found", repo.repo_id)
                return
            if not self._revision_ok(repo, m.group(1)):
                self._error(404, "RevisionNotFound", f"Invalid rev id: {m.group(1)}", repo.repo_id)
                return
            form = urllib.parse.parse_qs(self._body.decode(), keep_blank_values=True)
            expand = _truthy((form.get("expand") or [None])[0])
            dirs = repo.directories()
            entries = [self.hub.entry(repo, p, expand) for p in form.get("paths", [])
                       if p in repo.files or p in dirs]
            self._send_json(entries, repo_id=repo.repo_id)
            return
        if tail == "" or re.fullmatch(r"/revision/[^/]+", tail):
            rev = tail[len("/revision/"):] if tail else "main"
            if not self._revision_ok(repo, rev):
                self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}", repo.repo_id)
                return
            blobs = _truthy((query.get("blobs") or [None])[0])
            self._send_json(self.hub.model_info(repo, blobs), repo_id=repo.repo_id)
            return
        m = re.fullmatch(r"/tree/([^/]+)(?:/(.*))?", tail)
        if m:
            rev, base = m.group(1), (m.group(2) or "").strip("/")
            if not self._revision_ok(repo, rev):
                self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}", repo.repo_id)
                return
            recursive = _truthy((query.get("recursive") or [None])[0])
            expand = _truthy((query.get("expand") or [None])[0])
            entries = self.hub.tree(repo, base, recursive, expand)
            if entries is None:
                self._error(404, "EntryNotFound", f"{base} does not exist on \"{rev}\"", repo.repo_id)
                return
            cursor = int((query.get("cursor") or ["0"])[0] or 0)
            size = min(self.hub.page_size, 50) if expand else self.hub.page_size
            page = entries[cursor:cursor + size]
            headers = {}
            if cursor + size < len(entries):
                q = {k: v[0] for k, v in query.items()}
                q["cursor"] = str(cursor + size)
                split = urllib.parse.urlsplit(self.path)
                nxt = f"{self.hub.url}{split.path}?{urllib.parse.urlencode(q)}"
                headers["Link"] = f'<{nxt}>; rel="next"'
            self._send_json(page, headers=headers, repo_id=repo.repo_id)
            return
        self._error(404, None, "Not found", repo.repo_id)

    def _resolve(self, rest: str) -> None:
        found = self.hub.find_repo(rest)
        if found is None:
            self._error(401, "RepoNotFound", "Repository not found")
            return
        repo, tail = found
        m = re.fullmatch(r"/resolve/([^/]+)/(.+)", tail)
        if not m:
            self._error(404, None, "Not found", repo.repo_id)
            return
        rev, file_path = m.group(1), m.group(2)
        if not self._revision_ok(repo, rev):
            self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}", repo.repo_id, file_path)
            return
        if repo.gated and self.headers.get("Authorization") != f"Bearer {self.hub.token}":
            self._error(401, "GatedRepo",
                        f"Access to model {repo.repo_id} is restricted. You must have access to it and be "
                        "authenticated to access it. Please log in.", repo.repo_id, file_path)
            return
        f = repo.files.get(file_path)
        if f is None:
            self._error(404, "EntryNotFound", "Entry not found", repo.repo_id, file_path)
            return
        start, end, status = 0, f.size - 1, 200
        rng = self.headers.get("Range")
        if rng:
            mr = _RANGE.match(rng.strip())
            if mr is None or (mr.group(1) == "" and mr.group(2) == ""):
                self._range_not_satisfiable(repo, f, rng)
                return
            a, b = mr.group(1), mr.group(2)
            if a == "":  # suffix range: the last n bytes
                start, end = max(f.size - int(b), 0), f.size - 1
            else:
                start = int(a)
                end = min(int(b), f.size - 1) if b else f.size - 1
            if start >= f.size or start > end:
                self._range_not_satisfiable(repo, f, rng)
                return
            status = 206
        length = end - start + 1 if f.size else 0
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", f'"{f.etag}"')
        self.send_header("X-Repo-Commit", repo.sha)
        if f.lfs:
            self.send_header("X-Linked-Size", str(f.size))
            self.send_header("X-Linked-Etag", f'"{f.sha256}"')
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{f.size}")
        cut = self.hub._take_interrupt(repo.repo_id, file_path) if self.command == "GET" else None
        if cut is not None:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        sent = 0
        limit = (length if cut is None else min(cut, length)) if self.command == "GET" else 0
        # recorded before the body goes out: a client that has read all of it may look at the counts
        # at once, before this thread would have reached a record made after the last write
        self.hub._record(Request(self.command, self._split()[0], repo.repo_id, file_path, rng, status, limit))
        if limit:
            for chunk in f.read(start, end):
                chunk = chunk[: limit - sent]
                if not chunk:
                    break
                self.wfile.write(chunk)
                sent += len(chunk)
                if sent >= limit:
                    break
            self.wfile.flush()

    def _range_not_satisfiable(self, repo: HubRepo, f: HubFile, rng: str) -> None:
        self.send_response(416)
        self.send_header("Content-Range", f"bytes */{f.size}")
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.hub._record(Request(self.command, self._split()[0], repo.repo_id, f.path, rng, 416, 0))


# ---- pointing huggingface_hub at the server ------------------------------------------------
@contextlib.contextmanager
def hf_endpoint(url: str, *, cache_dir: Path | None = None, token: str | None = None) -> Iterator[None]:
    """Point huggingface_hub at ``url``, in this process and in child processes, then restore.

    huggingface_hub reads ``HF_ENDPOINT`` once, at import, into ``constants.ENDPOINT`` and
    ``constants.HUGGINGFACE_CO_URL_TEMPLATE`` (used by ``hf_hub_url``/``hf_hub_download``); a new
    ``HfApi()`` takes ``constants.ENDPOINT`` when created, but the module-level functions
    (``huggingface_hub.model_info``...) are bound to an ``HfApi`` made at import. So this sets the
    environment variable for child processes and those three places for this one. ``HF_TOKEN`` is
    set to ``token`` (or removed) so that no real token of the person running the tests is used,
    and ``cache_dir`` (when given) becomes the hub cache.
    """
    import huggingface_hub
    from huggingface_hub import constants, hf_api

    url = url.rstrip("/")
    saved_env = {k: os.environ.get(k) for k in ("HF_ENDPOINT", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN",
                                                 "HF_HUB_CACHE", "HF_HUB_DISABLE_TELEMETRY",
                                                 "HF_HUB_OFFLINE")}
    saved = (constants.ENDPOINT, constants.HUGGINGFACE_CO_URL_TEMPLATE, hf_api.api.endpoint,
             constants.HF_HUB_CACHE, constants.HF_HUB_OFFLINE, getattr(constants, "AGENT_HARNESSES_PATH", None))
    try:
        os.environ["HF_ENDPOINT"] = url
        os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
        os.environ.pop("HUGGING_FACE_HUB_TOKEN", None)
        os.environ.pop("HF_HUB_OFFLINE", None)
        if token is None:
            os.environ.pop("HF_TOKEN", None)
        else:
            os.environ["HF_TOKEN"] = token
        constants.ENDPOINT = url
        constants.HUGGINGFACE_CO_URL_TEMPLATE = url + "/{repo_id}/resolve/{revision}/{filename}"
        constants.HF_HUB_OFFLINE = False
        hf_api.api.endpoint = url
        if cache_dir is not None:
            os.environ["HF_HUB_CACHE"] = str(cache_dir)
            constants.HF_HUB_CACHE = str(cache_dir)
            if hasattr(constants, "AGENT_HARNESSES_PATH"):  # the client's own registry cache, kept out of ~
                constants.AGENT_HARNESSES_PATH = str(Path(cache_dir) / ".agent_harnesses.json")
        assert huggingface_hub.constants is constants
        yield
    finally:
        (constants.ENDPOINT, constants.HUGGINGFACE_CO_URL_TEMPLATE, hf_api.api.endpoint,
         constants.HF_HUB_CACHE, constants.HF_HUB_OFFLINE, harnesses) = saved
        if harnesses is not None:
            constants.AGENT_HARNESSES_PATH = harnesses
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def local_hub(repos: Mapping[str, Mapping[str, FileSpec]], *, cache_dir: Path | None = None,
              send_token: bool = False, **kwargs: object) -> Iterator[LocalHub]:
    """Start a :class:`LocalHub` and point huggingface_hub at it for the ``with`` block.

    ``send_token=True`` sets ``HF_TOKEN`` to the hub's token (access to gated repos granted);
    otherwise no token is sent.
    """
    hub = LocalHub(repos, **kwargs)  # type: ignore[arg-type]
    with hub:
        with hf_endpoint(hub.url, cache_dir=cache_dir, token=hub.token if send_token else None):
            yield hub


try:  # pytest fixture, usable as `def test_x(hub_factory): hub = hub_factory({...})`
    import pytest

    @pytest.fixture
    def hub_factory(tmp_path: Path) -> Iterator:
        """A factory starting a local hub for the test (one at a time), stopped at the end."""
        stack = contextlib.ExitStack()

        def make(repos: Mapping[str, Mapping[str, FileSpec]], **kwargs: object) -> LocalHub:
            kwargs.setdefault("cache_dir", tmp_path / "hf-cache")
            return stack.enter_context(local_hub(repos, **kwargs))  # type: ignore[arg-type]

        with stack:
            yield make
except ImportError:  # pragma: no cover - the server also works outside pytest
    pass
