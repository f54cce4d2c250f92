"""A local, on-disk Hugging Face Hub for tests.

``HubServer`` speaks the subset of the Hub HTTP protocol that the real ``huggingface_hub`` client (and through
it ``transformers`` and ``datasets``) uses, so tests can push and pull models and datasets without network
access: point ``HF_ENDPOINT`` at ``server.url`` (and set ``HF_HUB_DISABLE_XET=1``) *before* the Hugging Face
libraries are imported. It is built on the standard library only (``http.server.ThreadingHTTPServer``).

Implemented
-----------
* Accounts: ``GET /api/whoami-v2`` always answers with the write-enabled user ``tester`` (no organisations).
  Tokens are accepted but never checked. ``GET /api/agent-harnesses`` (polled by the client) is empty.
* Repositories (``model``, ``dataset`` and ``space``; ids are always ``namespace/name``, a bare name given to
  ``create_repo`` lands in the ``tester`` namespace):
  ``POST /api/repos/create`` (409 when it exists), ``DELETE /api/repos/delete``, ``PUT .../settings``
  (visibility only), ``GET|HEAD /api/{models,datasets,spaces}/{ns}/{name}[/revision/{rev}]`` (``blobs=true``
  adds sizes and LFS metadata to ``siblings``). A new repo starts, like on the Hub, with an "initial commit"
  holding a ``.gitattributes`` that tracks the usual binary extensions with LFS.
* Browsing: ``GET .../tree/{rev}[/{path}]`` (``recursive``; ``expand`` adds ``lastCommit``),
  ``POST .../paths-info/{rev}`` (form or JSON), ``GET .../refs`` (``include_prs``),
  ``GET .../commits/{rev}``.
* Revisions: branch and tag names, ``refs/heads/*``, ``refs/tags/*``, ``refs/pr/N``, full commit ids and
  unambiguous commit-id prefixes (7+ hex digits). ``POST|DELETE .../branch/{name}``, ``POST .../tag/{rev}``,
  ``DELETE .../tag/{name}``.
* Uploads: ``POST .../preupload/{rev}`` decides ``regular`` or ``lfs`` the way the Hub does (files of 10 MB or
  more, binary samples, and paths matched by a ``filter=lfs`` pattern of the revision's ``.gitattributes``);
  ``POST .../commit/{rev}`` takes the NDJSON payload (``header``, ``file``, ``lfsFile``, ``deletedFile``,
  ``deletedFolder``), honours ``parentCommit`` (412 when the branch has moved) and ``create_pr=1`` (opens
  ``refs/pr/N``), and appends to a commit history, so every past commit stays downloadable by its id.
  Changes to repos and refs are serialised by one lock; reads, uploads and downloads run concurrently.
* Git LFS: ``POST /[datasets/|spaces/]{ns}/{name}.git/info/lfs/objects/batch`` (``upload`` and ``download``;
  "basic" transfer), single-request ``PUT``/``GET`` of objects (the content is checked against its sha256)
  and the ``verify`` action. Every accepted upload is recorded in ``HubServer.lfs_uploads``.
* Downloads: ``GET|HEAD /[datasets/|spaces/]{ns}/{name}/resolve/{rev}/{path}`` with ``X-Repo-Commit``,
  ``ETag`` (git blob id, or the sha256 for LFS files, which also get ``X-Linked-Etag``/``X-Linked-Size``),
  ``Content-Length``, ``Accept-Ranges`` and single ``Range`` requests (206/416). Failures carry the
  ``X-Error-Code`` (``RepoNotFound``, ``RevisionNotFound``, ``EntryNotFound``) and ``X-Error-Message``
  headers from which the client raises its typed errors. Files are served directly (no redirect to a CDN).
* For assertions: ``HubServer.requests`` logs the ``(method, path, status)`` of every response.

Not implemented
---------------
Authentication and access control (private repos are readable by anyone), gated repos, organisations,
Xet storage (clients must run with ``HF_HUB_DISABLE_XET=1``), LFS multipart uploads (never offered, so the
client always uses one ``PUT``), ``.gitignore`` handling (``shouldIgnore`` is always false), README metadata
validation (``/api/validate-yaml`` accepts everything) and ``cardData`` in repo info, discussions and pull
request management beyond creating ``refs/pr/N``, pagination (every listing fits one page), repo search and
listing, Spaces runtime, the dataset viewer, and git itself (no ``.git`` smart-HTTP endpoints).

Example::

    server = HubServer(port=0, storage_dir="/tmp/hub").start()
    os.environ["HF_ENDPOINT"] = server.url  # before importing huggingface_hub
    ...
    server.stop()
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import itertools
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

logger = logging.getLogger(__name__)

USER_NAME = "tester"
DEFAULT_BRANCH = "main"
LFS_SIZE_THRESHOLD = 10 * 1024 * 1024  # the Hub stores files of 10 MB or more with LFS
LFS_CONTENT_TYPE = "application/vnd.git-lfs+json"
COPY_CHUNK_SIZE = 1024 * 1024

# URL segment (``/api/{kind}/...``) <-> repo type, and the prefix of a repo's web/git URLs.
REPO_KINDS = {"models": "model", "datasets": "dataset", "spaces": "space"}
URL_PREFIXES = {"model": "", "dataset": "datasets/", "space": "spaces/"}

_LFS_PATTERNS = [
    "*.7z",
    "*.arrow",
    "*.bin",
    "*.bz2",
    "*.ckpt",
    "*.ftz",
    "*.gz",
    "*.h5",
    "*.joblib",
    "*.lfs.*",
    "*.mlmodel",
    "*.model",
    "*.msgpack",
    "*.npy",
    "*.npz",
    "*.onnx",
    "*.ot",
    "*.parquet",
    "*.pb",
    "*.pickle",
    "*.pkl",
    "*.pt",
    "*.pth",
    "*.rar",
    "*.safetensors",
    "saved_model/**/*",
    "*.tar.*",
    "*.tar",
    "*.tflite",
    "*.tgz",
    "*.wasm",
    "*.xz",
    "*.zip",
    "*.zst",
    "*tfevents*",
]
_DATASET_LFS_PATTERNS = [
    "*.lz4",
    "*.mds",
    "*.mp3",
    "*.ogg",
    "*.wav",
    "*.flac",
    "*.bmp",
    "*.gif",
    "*.jpg",
    "*.jpeg",
    "*.png",
    "*.tiff",
    "*.webp",
    "*.mp4",
    "*.webm",
]
_REPO_NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_COMMIT_ID_RE = re.compile(r"^[0-9a-f]{40}$")
_COMMIT_PREFIX_RE = re.compile(r"^[0-9a-f]{7,39}$")


def default_gitattributes(repo_type: str) -> bytes:
    """The ``.gitattributes`` of a freshly created repo (an abridged copy of the Hub's default)."""
    patterns = _LFS_PATTERNS + (_DATASET_LFS_PATTERNS if repo_type == "dataset" else [])
    return "".join(f"{pattern} filter=lfs diff=lfs merge=lfs -text\n" for pattern in patterns).encode()


def git_blob_id(data: bytes) -> str:
    """The git object id (sha1) of a blob holding ``data``."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The git-lfs pointer file that git stores in place of an LFS file."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def utc_now() -> str:
    """Current time in the Hub's date format (``2024-01-31T12:00:00.000Z``)."""
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def is_binary_sample(sample: bytes) -> bool:
    """Whether the first bytes of a file look binary: a NUL byte, or not UTF-8 text."""
    if b"\0" in sample:
        return True
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as err:
        # A multi-byte character cut by the end of the sample is still text.
        return err.start < len(sample) - 3
    return False


def gitattributes_lfs_patterns(content: bytes) -> list[str]:
    """The patterns of a ``.gitattributes`` file that route files to LFS (``filter=lfs``)."""
    patterns = []
    for line in content.decode("utf-8", errors="replace").splitlines():
        parts = line.strip().split()
        if parts and not parts[0].startswith("#") and "filter=lfs" in parts[1:]:
            patterns.append(parts[0])
    return patterns


def matches_gitattributes(path: str, patterns: list[str]) -> bool:
    """Approximate gitattributes matching: slash-less patterns match the file name, others the full path."""
    name = path.rsplit("/", 1)[-1]
    for pattern in patterns:
        if "/" in pattern.strip("/"):
            if fnmatch.fnmatchcase(path, pattern.lstrip("/")):
                return True
        elif fnmatch.fnmatchcase(name, pattern.strip("/")):
            return True
    return False


def validate_path_in_repo(path: Any) -> str:
    if not isinstance(path, str) or not path or path.startswith("/") or path.endswith("/"):
        raise HubError(400, f"Invalid path in repo: {path!r}")
    if any(part in ("", ".", "..", ".git") for part in path.split("/")):
        raise HubError(400, f"Invalid path in repo: {path!r}")
    return path


def truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "yes")


def _requested_privacy(payload: dict) -> bool:
    """Whether a create/settings payload asks for a private repo (``visibility``, or legacy ``private``)."""
    return payload.get("visibility", "private" if payload.get("private") else "public") != "public"


class HubError(Exception):
    """An error answered to the client: HTTP status, message and (optionally) the Hub's ``X-Error-Code``."""

    def __init__(
        self, status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}


def repo_not_found(repo_type: str, repo_id: str) -> HubError:
    return HubError(404, f"Repository not found: {repo_type} {repo_id}", "RepoNotFound")


def revision_not_found(revision: str) -> HubError:
    return HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")


def entry_not_found(path: str, commit: str | None = None) -> HubError:
    headers = {"X-Repo-Commit": commit} if commit else None
    return HubError(404, f"Entry not found: {path}", "EntryNotFound", headers)


@dataclass(frozen=True)
class FileEntry:
    """A file of a commit. Its content lives in the object store under ``sha256``."""

    sha256: str
    size: int
    lfs: bool
    oid: str  # git object id: of the content, or of the LFS pointer for LFS files

    @classmethod
    def from_json(cls, data: dict) -> FileEntry:
        return cls(sha256=data["sha256"], size=data["size"], lfs=data["lfs"], oid=data["oid"])

    def to_json(self) -> dict:
        return {"sha256": self.sha256, "size": self.size, "lfs": self.lfs, "oid": self.oid}

    @property
    def etag(self) -> str:
        return self.sha256 if self.lfs else self.oid

    def lfs_info(self) -> dict | None:
        if not self.lfs:
            return None
        return {
            "oid": self.sha256,
            "size": self.size,
            "pointerSize": len(lfs_pointer(self.sha256, self.size)),
        }


@dataclass(frozen=True)
class Commit:
    id: str
    parents: list[str]
    title: str
    message: str
    date: str
    files: dict[str, FileEntry]

    @classmethod
    def from_json(cls, data: dict) -> Commit:
        files = {path: FileEntry.from_json(entry) for path, entry in data["files"].items()}
        return cls(data["id"], data["parents"], data["title"], data["message"], data["date"], files)

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "parents": self.parents,
            "title": self.title,
            "message": self.message,
            "date": self.date,
            "files": {path: entry.to_json() for path, entry in sorted(self.files.items())},
        }


def _parents(path: str) -> Iterator[str]:
    """``a/b/c.txt`` -> ``a``, ``a/b``."""
    parts = path.split("/")[:-1]
    for i in range(1, len(parts) + 1):
        yield "/".join(parts[:i])


@dataclass(frozen=True)
class LfsUpload:
    """One LFS object received through the LFS upload (``PUT``) endpoint."""

    repo_type: str
    repo_id: str
    oid: str
    size: int


# ----------------------------------------------------------------------------------------------------------
# Storage
# ----------------------------------------------------------------------------------------------------------


class HubStorage:
    """Repositories, commits and file contents on disk.

    Layout under ``root``::

        objects/<sha256[:2]>/<sha256>            file contents (regular and LFS), content-addressed
        repos/<type>s/<ns>/<name>/repo.json       id, visibility, branches, tags, pull requests
        repos/<type>s/<ns>/<name>/commits/<id>.json   one immutable file per commit: parents, message, files

    Metadata files are replaced atomically. A single lock serialises every change to repositories and refs.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.objects_dir = self.root / "objects"
        self.repos_dir = self.root / "repos"
        self.tmp_dir = self.root / "tmp"
        for directory in (self.objects_dir, self.repos_dir, self.tmp_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()

    # -- object store --------------------------------------------------------------------------------------

    def object_path(self, sha256: str) -> Path:
        return self.objects_dir / sha256[:2] / sha256

    def has_object(self, sha256: str, size: int | None = None) -> bool:
        path = self.object_path(sha256)
        return path.is_file() and (size is None or path.stat().st_size == size)

    def object_size(self, sha256: str) -> int:
        return self.object_path(sha256).stat().st_size

    def put_bytes(self, data: bytes) -> str:
        sha256 = hashlib.sha256(data).hexdigest()
        if not self.has_object(sha256):
            self._install(sha256, lambda file: file.write(data))
        return sha256

    def put_stream(
        self, chunks: Iterator[bytes], expected_sha256: str, expected_size: int | None = None
    ) -> int:
        """Store a streamed object, checking it against its announced hash (and size). Returns its size."""
        digest = hashlib.sha256()
        size = 0

        def write(file) -> None:
            nonlocal size
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                file.write(chunk)
            if digest.hexdigest() != expected_sha256:
                raise HubError(400, f"Content does not match its sha256 oid {expected_sha256}")
            if expected_size is not None and size != expected_size:
                raise HubError(400, f"Content size {size} does not match the expected size {expected_size}")

        self._install(expected_sha256, write)
        return size

    def _install(self, sha256: str, write: Callable) -> None:
        fd, tmp_name = tempfile.mkstemp(dir=self.tmp_dir)
        try:
            with os.fdopen(fd, "wb") as file:
                write(file)
            target = self.object_path(sha256)
            target.parent.mkdir(exist_ok=True)
            os.replace(tmp_name, target)
        except BaseException:
            os.unlink(tmp_name)
            raise

    # -- repositories --------------------------------------------------------------------------------------

    def repo_dir(self, repo_type: str, repo_id: str) -> Path:
        namespace, _, name = repo_id.partition("/")
        if not (_REPO_NAME_RE.match(namespace) and _REPO_NAME_RE.match(name)):  # also keeps paths inside root
            raise repo_not_found(repo_type, repo_id)
        return self.repos_dir / f"{repo_type}s" / namespace / name

    def repo(self, repo_type: str, repo_id: str) -> Repo:
        """The repository ``repo_id``, or a ``RepoNotFound`` error."""
        directory = self.repo_dir(repo_type, repo_id)
        if not (directory / "repo.json").is_file():
            raise repo_not_found(repo_type, repo_id)
        return Repo(self, repo_type, repo_id, directory)

    def create_repo(self, repo_type: str, repo_id: str, private: bool) -> Repo | None:
        """Create a repo with its initial commit; ``None`` if it already exists."""
        with self.lock:
            directory = self.repo_dir(repo_type, repo_id)
            if (directory / "repo.json").is_file():
                return None
            (directory / "commits").mkdir(parents=True, exist_ok=True)
            repo = Repo(self, repo_type, repo_id, directory)
            repo.save_meta(
                {
                    "_id": uuid.uuid4().hex[:24],
                    "id": repo_id,
                    "type": repo_type,
                    "private": private,
                    "createdAt": utc_now(),
                    "branches": {},
                    "tags": {},
                    "pullRequests": {},
                }
            )
            gitattributes = default_gitattributes(repo_type)
            files = {".gitattributes": self.regular_entry(gitattributes)}
            initial = repo.write_commit(parents=[], title="initial commit", message="", files=files)
            repo.update_meta(lambda meta: meta["branches"].__setitem__(DEFAULT_BRANCH, initial.id))
            return repo

    def delete_repo(self, repo_type: str, repo_id: str) -> None:
        with self.lock:
            self.repo(repo_type, repo_id)  # raises if missing
            directory = self.repo_dir(repo_type, repo_id)
            graveyard = self.tmp_dir / f"deleted-{uuid.uuid4().hex}"
            os.replace(directory, graveyard)  # atomic for concurrent readers, then clean up
            shutil.rmtree(graveyard, ignore_errors=True)

    def regular_entry(self, data: bytes) -> FileEntry:
        return FileEntry(sha256=self.put_bytes(data), size=len(data), lfs=False, oid=git_blob_id(data))

    def lfs_entry(self, sha256: str, size: int | None) -> FileEntry:
        if not self.has_object(sha256):
            raise HubError(422, f"LFS object {sha256} was not uploaded; upload it before committing")
        actual_size = self.object_size(sha256)
        if size is not None and size != actual_size:
            raise HubError(422, f"LFS object {sha256} has size {actual_size}, not {size}")
        return FileEntry(
            sha256=sha256, size=actual_size, lfs=True, oid=git_blob_id(lfs_pointer(sha256, actual_size))
        )


class Repo:
    """One repository: its metadata file, its refs and its commits."""

    def __init__(self, storage: HubStorage, repo_type: str, repo_id: str, directory: Path):
        self.storage = storage
        self.type = repo_type
        self.id = repo_id
        self.dir = directory

    # -- metadata and commits ------------------------------------------------------------------------------

    def meta(self) -> dict:
        try:
            return json.loads((self.dir / "repo.json").read_text())
        except FileNotFoundError:  # deleted concurrently
            raise repo_not_found(self.type, self.id) from None

    def save_meta(self, meta: dict) -> None:
        _atomic_write_json(self.dir / "repo.json", meta, self.storage.tmp_dir)

    def update_meta(self, change: Callable[[dict], Any]) -> None:
        with self.storage.lock:
            meta = self.meta()
            change(meta)
            self.save_meta(meta)

    def commit(self, commit_id: str) -> Commit:
        return Commit.from_json(json.loads((self.dir / "commits" / f"{commit_id}.json").read_text()))

    def has_commit(self, commit_id: str) -> bool:
        return (self.dir / "commits" / f"{commit_id}.json").is_file()

    def write_commit(
        self, parents: list[str], title: str, message: str, files: dict[str, FileEntry]
    ) -> Commit:
        date = utc_now()
        seed = json.dumps([parents, title, message, date, sorted((p, e.oid) for p, e in files.items())])
        commit_id = hashlib.sha1(f"{seed}{uuid.uuid4()}".encode()).hexdigest()
        commit = Commit(commit_id, parents, title, message, date, files)
        _atomic_write_json(self.dir / "commits" / f"{commit_id}.json", commit.to_json(), self.storage.tmp_dir)
        return commit

    def history(self, commit_id: str) -> Iterator[Commit]:
        """The commit and its ancestors along first parents, newest first."""
        next_id: str | None = commit_id
        while next_id is not None:
            commit = self.commit(next_id)
            yield commit
            next_id = commit.parents[0] if commit.parents else None

    # -- revisions -----------------------------------------------------------------------------------------

    def resolve(self, revision: str) -> Commit:
        """The commit a revision points to: branch, tag, ``refs/...`` name, commit id or id prefix."""
        meta = self.meta()
        if revision.startswith("refs/heads/"):
            commit_id = meta["branches"].get(revision[len("refs/heads/") :])
        elif revision.startswith("refs/tags/"):
            commit_id = meta["tags"].get(revision[len("refs/tags/") :])
        elif revision.startswith("refs/pr/"):
            commit_id = meta["pullRequests"].get(revision[len("refs/pr/") :])
        elif revision in meta["branches"]:
            commit_id = meta["branches"][revision]
        elif revision in meta["tags"]:
            commit_id = meta["tags"][revision]
        elif _COMMIT_ID_RE.match(revision):
            commit_id = revision if self.has_commit(revision) else None
        elif _COMMIT_PREFIX_RE.match(revision):
            matches = [p.stem for p in (self.dir / "commits").glob(f"{revision}*.json")]
            commit_id = matches[0] if len(matches) == 1 else None
        else:
            commit_id = None
        if commit_id is None:
            raise revision_not_found(revision)
        return self.commit(commit_id)

    def writable_ref(self, revision: str) -> tuple[str, str] | None:
        """``("branches", name)`` or ``("pullRequests", number)`` when commits can be made on ``revision``."""
        meta = self.meta()
        if revision.startswith("refs/pr/") and revision[len("refs/pr/") :] in meta["pullRequests"]:
            return "pullRequests", revision[len("refs/pr/") :]
        branch = revision.removeprefix("refs/heads/")
        if branch in meta["branches"]:
            return "branches", branch
        return None

    # -- commits -------------------------------------------------------------------------------------------

    def create_commit(
        self,
        revision: str,
        header: dict,
        operations: list[tuple[str, dict]],
        create_pr: bool,
    ) -> tuple[Commit, int | None]:
        """Apply ``operations`` (``(key, value)`` items of the NDJSON payload) on top of ``revision``.

        Returns the new commit and, with ``create_pr``, the number of the pull request it opened.
        """
        with self.storage.lock:
            ref = self.writable_ref(revision)
            if ref is None:
                self.resolve(revision)  # unknown revision -> RevisionNotFound
                raise HubError(400, f"Invalid rev id: {revision} is not a branch")
            head = self.meta()[ref[0]][ref[1]]
            parent_commit = header.get("parentCommit")
            if parent_commit and create_pr:  # the pull request starts from the given commit
                head = self.resolve(parent_commit).id
            elif parent_commit and not head.startswith(parent_commit):
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            files = dict(self.commit(head).files)
            for key, value in operations:
                self._apply(files, key, value)
            conflicts = sorted(set(files) & self._directories(files))
            if conflicts:
                raise HubError(400, f"A file and a folder cannot share the path {conflicts[0]!r}")
            summary = header.get("summary") or "Update files"
            commit = self.write_commit([head], summary, header.get("description") or "", files)

            pr_number = None

            def move_ref(meta: dict) -> None:
                nonlocal pr_number
                if create_pr:
                    pr_number = len(meta["pullRequests"]) + 1
                    meta["pullRequests"][str(pr_number)] = commit.id
                else:
                    meta[ref[0]][ref[1]] = commit.id

            self.update_meta(move_ref)
            return commit, pr_number

    def _apply(self, files: dict[str, FileEntry], key: str, value: dict) -> None:
        """Apply one operation of a commit payload to ``files`` (path -> entry)."""
        if not isinstance(value, dict):
            raise HubError(400, f"Malformed '{key}' operation: {value!r}")
        path = value.get("path")
        if key == "file":
            path = validate_path_in_repo(path)
            content = value.get("content", "")
            try:
                data = (
                    base64.b64decode(content, validate=True)
                    if value.get("encoding") == "base64"
                    else content.encode()
                )
            except (TypeError, ValueError, AttributeError) as err:  # binascii.Error is a ValueError
                raise HubError(400, f"Invalid content for {path!r}: {err}") from None
            files[path] = self.storage.regular_entry(data)
        elif key == "lfsFile":
            path = validate_path_in_repo(path)
            if value.get("algo", "sha256") != "sha256" or not _SHA256_RE.match(str(value.get("oid"))):
                raise HubError(400, f"Invalid LFS pointer for {path!r}: {value!r}")
            files[path] = self.storage.lfs_entry(value["oid"], value.get("size"))
        elif key == "deletedFile":
            if path not in files:
                raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
            del files[path]
        elif key == "deletedFolder":
            prefix = str(path or "").strip("/") + "/"
            doomed = [p for p in files if p.startswith(prefix)] if prefix != "/" else list(files)
            if not doomed:
                raise HubError(404, f"A folder with this name doesn't exist: {path}", "EntryNotFound")
            for p in doomed:
                del files[p]
        else:
            raise HubError(400, f"Unsupported commit operation {key!r}")

    @staticmethod
    def _directories(files: dict[str, FileEntry]) -> set[str]:
        return {parent for path in files for parent in _parents(path)}

    # -- listings ------------------------------------------------------------------------------------------

    def tree(self, commit: Commit, path: str, recursive: bool) -> list[dict]:
        """Files and folders under ``path`` (directly, or at any depth with ``recursive``)."""
        directories = self._directories(commit.files)
        if path and path not in directories:
            raise entry_not_found(path, commit.id)
        prefix = f"{path}/" if path else ""
        depth = prefix.count("/")

        def listed(p: str) -> bool:
            return p.startswith(prefix) and (recursive or p.count("/") == depth)

        entries = [self.folder_info(commit, d) for d in sorted(directories) if listed(d)]
        entries += [self.file_info(p, e) for p, e in sorted(commit.files.items()) if listed(p)]
        return entries

    def path_info(self, commit: Commit, path: str) -> dict | None:
        if path in commit.files:
            return self.file_info(path, commit.files[path])
        if path in self._directories(commit.files):
            return self.folder_info(commit, path)
        return None

    @staticmethod
    def file_info(path: str, entry: FileEntry) -> dict:
        info = {"type": "file", "oid": entry.oid, "size": entry.size, "path": path}
        if entry.lfs:
            info["lfs"] = entry.lfs_info()
        return info

    @staticmethod
    def folder_info(commit: Commit, path: str) -> dict:
        content = sorted((p, e.oid) for p, e in commit.files.items() if p.startswith(f"{path}/"))
        tree_id = hashlib.sha1(json.dumps(content).encode()).hexdigest()
        return {"type": "directory", "oid": tree_id, "size": 0, "path": path}

    def add_last_commits(self, commit: Commit, entries: list[dict]) -> None:
        """Add ``lastCommit`` to tree entries: the newest commit that changed the file or folder."""
        history = list(self.history(commit.id))

        def fingerprint(files: dict[str, FileEntry], path: str) -> list:
            return sorted((p, e.oid) for p, e in files.items() if p == path or p.startswith(f"{path}/"))

        for entry in entries:
            current = fingerprint(commit.files, entry["path"])
            last = history[-1]
            for newer, older in itertools.pairwise(history):
                if fingerprint(older.files, entry["path"]) != current:
                    last = newer
                    break
            entry["lastCommit"] = {"id": last.id, "title": last.title, "date": last.date}

    def upload_mode(self, commit: Commit, path: str, size: int, sample: bytes) -> str:
        gitattributes = commit.files.get(".gitattributes")
        patterns = []
        if gitattributes is not None:
            patterns = gitattributes_lfs_patterns(self.storage.object_path(gitattributes.sha256).read_bytes())
        if size >= LFS_SIZE_THRESHOLD or is_binary_sample(sample) or matches_gitattributes(path, patterns):
            return "lfs"
        return "regular"


def _atomic_write_json(path: Path, data: Any, tmp_dir: Path) -> None:
    fd, tmp_name = tempfile.mkstemp(dir=tmp_dir)
    with os.fdopen(fd, "w") as file:
        json.dump(data, file)
    os.replace(tmp_name, path)


# ----------------------------------------------------------------------------------------------------------
# HTTP
# ----------------------------------------------------------------------------------------------------------

_API_REPO = r"/api/(?P<kind>models|datasets|spaces)/(?P<ns>[^/]+)/(?P<name>[^/]+)"
_WEB_REPO = r"/(?:(?P<kind>datasets|spaces)/)?(?P<ns>[^/]+)/(?P<name>[^/]+?)"

# (method, raw-path regex, handler name, whether the handler reads the request body itself)
_ROUTES: list[tuple[str, re.Pattern, str, bool]] = [
    (method, re.compile(pattern + r"/?"), handler, streaming)
    for method, pattern, handler, streaming in [
        ("GET", r"/api/whoami-v2", "whoami", False),
        ("GET", r"/api/agent-harnesses", "agent_harnesses", False),
        ("POST", r"/api/repos/create", "create_repo", False),
        ("DELETE", r"/api/repos/delete", "delete_repo", False),
        ("POST", r"/api/validate-yaml", "validate_yaml", False),
        ("GET", _API_REPO + r"(?:/revision/(?P<rev>[^/]+))?", "repo_info", False),
        ("GET", _API_REPO + r"/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?", "tree", False),
        ("POST", _API_REPO + r"/paths-info/(?P<rev>[^/]+)", "paths_info", False),
        ("GET", _API_REPO + r"/refs", "refs", False),
        ("GET", _API_REPO + r"/commits/(?P<rev>[^/]+)", "commits", False),
        ("POST", _API_REPO + r"/preupload/(?P<rev>[^/]+)", "preupload", False),
        ("POST", _API_REPO + r"/commit/(?P<rev>[^/]+)", "commit", False),
        ("POST", _API_REPO + r"/branch/(?P<branch>.+)", "create_branch", False),
        ("DELETE", _API_REPO + r"/branch/(?P<branch>.+)", "delete_branch", False),
        ("POST", _API_REPO + r"/tag/(?P<rev>.+)", "create_tag", False),
        ("DELETE", _API_REPO + r"/tag/(?P<tag>.+)", "delete_tag", False),
        ("PUT", _API_REPO + r"/settings", "settings", False),
        ("POST", _WEB_REPO + r"\.git/info/lfs/objects/batch", "lfs_batch", False),
        ("PUT", _WEB_REPO + r"\.git/info/lfs/objects/(?P<oid>[0-9a-f]{64})", "lfs_put", True),
        ("GET", _WEB_REPO + r"\.git/info/lfs/objects/(?P<oid>[0-9a-f]{64})", "lfs_get", False),
        ("POST", _WEB_REPO + r"\.git/info/lfs/verify", "lfs_verify", False),
        ("GET", _WEB_REPO + r"/resolve/(?P<rev>[^/]+)/(?P<path>.+)", "resolve", False),
    ]
]


class HubRequestHandler(BaseHTTPRequestHandler):
    """Routes one request to a ``handle_<name>`` method; ``HubError`` becomes a Hub-style error response."""

    protocol_version = "HTTP/1.1"  # keep-alive: the client pools connections
    server_version = "LocalHub/1.0"
    timeout = 120  # seconds an idle keep-alive connection is kept open
    disable_nagle_algorithm = True  # headers and body are separate writes: don't wait for delayed ACKs
    server: _HubHTTPServer

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)

    # -- dispatch ------------------------------------------------------------------------------------------

    def _dispatch(self, method: str) -> None:
        self.is_head = method == "HEAD"
        self._body_pending = self._has_body()
        self._response_started = False
        url = urlsplit(self.path)
        self.query = {key: values[-1] for key, values in parse_qs(url.query, keep_blank_values=True).items()}
        try:
            for route_method, pattern, name, streaming in _ROUTES:
                match = pattern.fullmatch(url.path)
                if match and route_method == ("GET" if self.is_head else method):
                    self.body = b"" if streaming else self._read_body()
                    params = {k: None if v is None else unquote(v) for k, v in match.groupdict().items()}
                    getattr(self, f"handle_{name}")(**params)
                    break
            else:
                raise HubError(404, f"No route for {method} {url.path}")
        except HubError as err:
            self._send_error(err)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception as err:  # a bug in this server: answer 500 and keep serving
            logger.exception("Error while handling %s %s", method, self.path)
            self._send_error(HubError(500, f"Internal server error: {type(err).__name__}: {err}"))

    def _repo(self, kind: str | None, ns: str, name: str) -> Repo:
        return self.server.hub.storage.repo(REPO_KINDS[kind or "models"], f"{ns}/{name}")

    # -- request bodies ------------------------------------------------------------------------------------

    def _has_body(self) -> bool:
        return (
            "chunked" in self.headers.get("Transfer-Encoding", "").lower()
            or int(self.headers.get("Content-Length") or 0) > 0
        )

    def _iter_body(self) -> Iterator[bytes]:
        """The request body, chunk by chunk (``Content-Length`` or chunked transfer encoding)."""
        self._body_pending = False
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return
                yield self.rfile.read(size)
                self.rfile.readline()  # CRLF after the chunk
        remaining = int(self.headers.get("Content-Length") or 0)
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, COPY_CHUNK_SIZE))
            if not chunk:
                raise ConnectionError("Client closed the connection mid-request")
            remaining -= len(chunk)
            yield chunk

    def _read_body(self) -> bytes:
        return b"".join(self._iter_body())

    def _json_body(self) -> Any:
        try:
            return json.loads(self.body or b"{}")
        except ValueError as err:
            raise HubError(400, f"Invalid JSON body: {err}") from None

    # -- responses -----------------------------------------------------------------------------------------

    def _start_response(self, status: int, headers: dict[str, str]) -> None:
        # Recorded before answering, so that a client seeing the response also sees the record.
        self.server.hub.record_request(self.command, self.path, status)
        self._response_started = True
        if self._body_pending:  # the body was not read: the connection cannot be reused
            self.close_connection = True
            headers = {**headers, "Connection": "close"}
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()

    def _send_bytes(
        self,
        data: bytes,
        status: int = 200,
        content_type: str = "application/json",
        headers: dict | None = None,
    ) -> None:
        self._start_response(
            status, {"Content-Type": content_type, "Content-Length": str(len(data)), **(headers or {})}
        )
        if not self.is_head:
            self.wfile.write(data)

    def _send_json(
        self,
        data: Any,
        status: int = 200,
        headers: dict | None = None,
        content_type: str = "application/json",
    ) -> None:
        self._send_bytes(json.dumps(data).encode(), status, content_type, headers)

    def _send_error(self, err: HubError) -> None:
        if self._response_started:  # too late for an error response: drop the connection instead
            self.close_connection = True
            return
        header_safe_message = re.sub(r"[^\x20-\x7e]", "?", err.message)
        headers = {"X-Error-Message": header_safe_message, **err.headers}
        if err.code:
            headers["X-Error-Code"] = err.code
        try:
            self._send_json({"error": err.message}, err.status, headers)
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    # -- account and repositories --------------------------------------------------------------------------

    def handle_whoami(self) -> None:
        self._send_json(
            {
                "type": "user",
                "id": "0" * 24,
                "name": USER_NAME,
                "fullname": "Test User",
                "email": f"{USER_NAME}@localhost",
                "emailVerified": True,
                "isPro": False,
                "orgs": [],
                "auth": {"type": "access_token", "accessToken": {"displayName": "tests", "role": "write"}},
            }
        )

    def handle_agent_harnesses(self) -> None:
        self._send_json({"standardEnvVars": [], "harnesses": {}})  # registry polled by the client: empty

    def handle_create_repo(self) -> None:
        payload = self._json_body()
        repo_type = payload.get("type") or "model"
        if repo_type not in URL_PREFIXES:
            raise HubError(400, f"Invalid repo type: {repo_type!r}")
        name, namespace = payload.get("name"), payload.get("organization") or USER_NAME
        if isinstance(name, str) and "/" in name:  # legacy clients send "namespace/name" as name
            namespace, name = name.split("/", 1)
        for part in (namespace, name):
            if not isinstance(part, str) or not _REPO_NAME_RE.match(part) or "--" in part or ".." in part:
                raise HubError(400, f"Invalid repo name: {namespace}/{name}")
        repo_id = f"{namespace}/{name}"
        private = _requested_privacy(payload)
        url = self.server.hub.repo_url(repo_type, repo_id)
        repo = self.server.hub.storage.create_repo(repo_type, repo_id, private)
        if repo is None:
            self._send_json({"error": f"You already created this {repo_type} repo", "url": url}, 409)
            return
        self._send_json({"url": url, "name": repo_id, "id": repo.meta()["_id"]})

    def handle_delete_repo(self) -> None:
        payload = self._json_body()
        repo_type = payload.get("type") or "model"
        if repo_type not in URL_PREFIXES:
            raise HubError(400, f"Invalid repo type: {repo_type!r}")
        repo_id = f"{payload.get('organization') or USER_NAME}/{payload.get('name')}"
        self.server.hub.storage.delete_repo(repo_type, repo_id)
        self._send_json({})

    def handle_settings(self, kind: str, ns: str, name: str) -> None:
        repo, payload = self._repo(kind, ns, name), self._json_body()
        if "visibility" in payload or "private" in payload:
            private = _requested_privacy(payload)
            repo.update_meta(lambda meta: meta.__setitem__("private", private))
        self._send_json({})

    def handle_validate_yaml(self) -> None:
        self._send_json({"errors": [], "warnings": []})

    def handle_repo_info(self, kind: str, ns: str, name: str, rev: str | None) -> None:
        repo = self._repo(kind, ns, name)
        meta, commit = repo.meta(), repo.resolve(rev or DEFAULT_BRANCH)
        with_blobs = truthy(self.query.get("blobs"))
        siblings = []
        for path, entry in sorted(commit.files.items()):
            sibling: dict[str, Any] = {"rfilename": path}
            if with_blobs:
                sibling.update(size=entry.size, blobId=entry.oid)
                if entry.lfs:
                    lfs = entry.lfs_info()
                    sibling["lfs"] = {
                        "size": lfs["size"],
                        "sha256": lfs["oid"],
                        "pointerSize": lfs["pointerSize"],
                    }
            siblings.append(sibling)
        info = {
            "_id": meta["_id"],
            "id": repo.id,
            "author": ns,
            "sha": commit.id,
            "lastModified": commit.date,
            "createdAt": meta["createdAt"],
            "private": meta["private"],
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": siblings,
            "usedStorage": sum(entry.size for entry in commit.files.values()),
        }
        if repo.type == "space":
            info["sdk"] = "static"
        self._send_json(info)

    def handle_refs(self, kind: str, ns: str, name: str) -> None:
        meta = self._repo(kind, ns, name).meta()

        def refs(field: str, prefix: str) -> list[dict]:
            return [
                {"name": ref, "ref": f"{prefix}{ref}", "targetCommit": target}
                for ref, target in sorted(meta[field].items())
            ]

        out = {
            "branches": refs("branches", "refs/heads/"),
            "converts": [],
            "tags": refs("tags", "refs/tags/"),
        }
        if truthy(self.query.get("include_prs")):
            out["pullRequests"] = refs("pullRequests", "refs/pr/")
        self._send_json(out)

    def handle_commits(self, kind: str, ns: str, name: str, rev: str) -> None:
        repo = self._repo(kind, ns, name)
        self._send_json(
            [
                {
                    "id": commit.id,
                    "title": commit.title,
                    "message": commit.message,
                    "authors": [{"user": "system" if not commit.parents else USER_NAME, "avatar": None}],
                    "date": commit.date,
                }
                for commit in repo.history(repo.resolve(rev).id)
            ]
        )

    def handle_create_branch(self, kind: str, ns: str, name: str, branch: str) -> None:
        repo, payload = self._repo(kind, ns, name), self._json_body()
        if branch.startswith("refs/") or any(part in ("", ".", "..") for part in branch.split("/")):
            raise HubError(400, f"Invalid branch name: {branch!r}")
        with self.server.hub.storage.lock:
            start = repo.resolve(payload.get("startingPoint") or DEFAULT_BRANCH)
            if branch in repo.meta()["branches"]:
                raise HubError(409, f"Reference already exists: refs/heads/{branch}")
            repo.update_meta(lambda meta: meta["branches"].__setitem__(branch, start.id))
        self._send_json({})

    def handle_delete_branch(self, kind: str, ns: str, name: str, branch: str) -> None:
        repo = self._repo(kind, ns, name)
        with self.server.hub.storage.lock:
            if branch not in repo.meta()["branches"]:
                raise revision_not_found(branch)
            if branch == DEFAULT_BRANCH:
                raise HubError(403, "Cannot delete the default branch")
            repo.update_meta(lambda meta: meta["branches"].pop(branch))
        self._send_json({})

    def handle_create_tag(self, kind: str, ns: str, name: str, rev: str) -> None:
        repo, payload = self._repo(kind, ns, name), self._json_body()
        tag = payload.get("tag")
        if not isinstance(tag, str) or not tag or tag.startswith("refs/"):
            raise HubError(400, f"Invalid tag name: {tag!r}")
        with self.server.hub.storage.lock:
            target = repo.resolve(rev)
            if tag in repo.meta()["tags"]:
                raise HubError(409, f"Reference already exists: refs/tags/{tag}")
            repo.update_meta(lambda meta: meta["tags"].__setitem__(tag, target.id))
        self._send_json({})

    def handle_delete_tag(self, kind: str, ns: str, name: str, tag: str) -> None:
        repo = self._repo(kind, ns, name)
        with self.server.hub.storage.lock:
            if tag not in repo.meta()["tags"]:
                raise revision_not_found(tag)
            repo.update_meta(lambda meta: meta["tags"].pop(tag))
        self._send_json({})

    # -- browsing ------------------------------------------------------------------------------------------

    def handle_tree(self, kind: str, ns: str, name: str, rev: str, path: str | None) -> None:
        repo = self._repo(kind, ns, name)
        commit = repo.resolve(rev)
        entries = repo.tree(commit, (path or "").strip("/"), recursive=truthy(self.query.get("recursive")))
        if truthy(self.query.get("expand")):
            repo.add_last_commits(commit, entries)
        self._send_json(entries)

    def handle_paths_info(self, kind: str, ns: str, name: str, rev: str) -> None:
        repo = self._repo(kind, ns, name)
        if self.headers.get("Content-Type", "").startswith("application/json"):
            payload = self._json_body()
            paths, expand = payload.get("paths", []), bool(payload.get("expand"))
        else:
            form = parse_qs(self.body.decode(), keep_blank_values=True)
            paths, expand = form.get("paths", []), truthy((form.get("expand") or ["false"])[-1])
        paths = [paths] if isinstance(paths, str) else paths
        commit = repo.resolve(rev)
        infos = [info for p in dict.fromkeys(paths) if (info := repo.path_info(commit, str(p).strip("/")))]
        if expand:
            repo.add_last_commits(commit, infos)
        self._send_json(infos)

    # -- uploads -------------------------------------------------------------------------------------------

    def handle_preupload(self, kind: str, ns: str, name: str, rev: str) -> None:
        repo, payload = self._repo(kind, ns, name), self._json_body()
        commit = repo.resolve(rev)
        files = []
        for item in payload.get("files", []):
            path = validate_path_in_repo(item.get("path"))
            try:
                sample, size = base64.b64decode(item.get("sample", "")), int(item.get("size", 0))
            except (TypeError, ValueError) as err:
                raise HubError(400, f"Invalid preupload entry for {path!r}: {err}") from None
            mode = repo.upload_mode(commit, path, size, sample)
            info: dict[str, Any] = {"path": path, "uploadMode": mode, "shouldIgnore": False}
            existing = commit.files.get(path)
            if existing is not None:  # lets the client skip unchanged files
                info["oid"] = existing.sha256 if mode == "lfs" else existing.oid
            files.append(info)
        self._send_json({"files": files, "commitOid": commit.id})

    def handle_commit(self, kind: str, ns: str, name: str, rev: str) -> None:
        repo = self._repo(kind, ns, name)
        items = []
        for line in self.body.splitlines():
            if line.strip():
                try:
                    items.append(json.loads(line))
                except ValueError as err:
                    raise HubError(400, f"Invalid NDJSON line: {err}") from None
        if not items or not isinstance(items[0], dict) or items[0].get("key") != "header":
            raise HubError(400, "The first line of the commit payload must be the header")
        operations = [(item.get("key"), item.get("value")) for item in items[1:] if isinstance(item, dict)]
        create_pr = truthy(self.query.get("create_pr"))
        commit, pr_number = repo.create_commit(rev, items[0].get("value") or {}, operations, create_pr)
        repo_url = self.server.hub.repo_url(repo.type, repo.id)
        self._send_json(
            {
                "success": True,
                "commitOid": commit.id,
                "commitUrl": f"{repo_url}/commit/{commit.id}",
                "pullRequestUrl": f"{repo_url}/discussions/{pr_number}" if pr_number else None,
            }
        )

    # -- git LFS -------------------------------------------------------------------------------------------

    def handle_lfs_batch(self, kind: str | None, ns: str, name: str) -> None:
        repo, payload = self._repo(kind, ns, name), self._json_body()
        operation = payload.get("operation")
        if operation not in ("upload", "download"):
            raise HubError(422, f"Unsupported LFS operation: {operation!r}")
        storage = self.server.hub.storage
        lfs_url = f"{self.server.hub.repo_url(repo.type, repo.id)}.git/info/lfs"
        objects = []
        for obj in payload.get("objects", []):
            oid, size = obj.get("oid"), obj.get("size")
            out: dict[str, Any] = {"oid": str(oid), "size": size if isinstance(size, int) else 0}
            if not isinstance(oid, str) or not _SHA256_RE.match(oid) or not isinstance(size, int) or size < 0:
                out["error"] = {"code": 422, "message": "Invalid object: expected a sha256 oid and a size"}
            elif operation == "upload":
                out["authenticated"] = True
                if not storage.has_object(oid, size):  # no "actions": the client skips the upload
                    out["actions"] = {
                        "upload": {"href": f"{lfs_url}/objects/{oid}", "header": {}},
                        "verify": {"href": f"{lfs_url}/verify", "header": {}},
                    }
            elif storage.has_object(oid, size):
                out["authenticated"] = True
                out["actions"] = {"download": {"href": f"{lfs_url}/objects/{oid}", "header": {}}}
            else:
                out["error"] = {"code": 404, "message": "Object does not exist"}
            objects.append(out)
        self._send_json(
            {"transfer": "basic", "objects": objects, "hash_algo": "sha256"}, content_type=LFS_CONTENT_TYPE
        )

    def handle_lfs_put(self, kind: str | None, ns: str, name: str, oid: str) -> None:
        repo = self._repo(kind, ns, name)
        length = self.headers.get("Content-Length")
        size = self.server.hub.storage.put_stream(self._iter_body(), oid, int(length) if length else None)
        self.server.hub.record_lfs_upload(LfsUpload(repo.type, repo.id, oid, size))
        self._send_bytes(b"", content_type="text/plain")

    def handle_lfs_get(self, kind: str | None, ns: str, name: str, oid: str) -> None:
        self._repo(kind, ns, name)
        storage = self.server.hub.storage
        if not storage.has_object(oid):
            raise HubError(404, f"Object does not exist: {oid}")
        self._send_file(storage.object_path(oid), storage.object_size(oid), {"ETag": f'"{oid}"'})

    def handle_lfs_verify(self, kind: str | None, ns: str, name: str) -> None:
        self._repo(kind, ns, name)
        payload = self._json_body()
        oid, size = str(payload.get("oid")), payload.get("size")
        if not _SHA256_RE.match(oid) or not self.server.hub.storage.has_object(oid, size):
            raise HubError(404, f"Object does not exist: {oid}")
        self._send_json({}, content_type=LFS_CONTENT_TYPE)

    # -- downloads -----------------------------------------------------------------------------------------

    def handle_resolve(self, kind: str | None, ns: str, name: str, rev: str, path: str) -> None:
        repo = self._repo(kind, ns, name)
        commit = repo.resolve(rev)
        entry = commit.files.get(path)
        if entry is None:
            raise entry_not_found(path, commit.id)
        headers = {"X-Repo-Commit": commit.id, "ETag": f'"{entry.etag}"'}
        if entry.lfs:
            headers.update({"X-Linked-Etag": f'"{entry.sha256}"', "X-Linked-Size": str(entry.size)})
        self._send_file(self.server.hub.storage.object_path(entry.sha256), entry.size, headers)

    def _send_file(self, file_path: Path, size: int, headers: dict[str, str]) -> None:
        """Send a file, or the single byte range asked for in a ``Range`` header."""
        headers = {"Accept-Ranges": "bytes", "Content-Type": "application/octet-stream", **headers}
        start, end, status = 0, size - 1, 200
        byte_range = parse_range(self.headers.get("Range"), size)
        if byte_range is not None:
            start, end = byte_range
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        headers["Content-Length"] = str(end - start + 1)
        self._start_response(status, headers)
        if self.is_head:
            return
        with open(file_path, "rb") as file:
            file.seek(start)
            remaining = end - start + 1
            while remaining > 0:
                chunk = file.read(min(remaining, COPY_CHUNK_SIZE))
                if not chunk:
                    break
                self.wfile.write(chunk)
                remaining -= len(chunk)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(first, last)`` byte positions for a single-range ``Range`` header, ``None`` to send the whole file.

    Multi-range and malformed headers are ignored (the whole file is sent, as RFC 9110 allows); a range
    that starts past the end of a non-empty file is answered with 416.
    """
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header or "")
    if match is None or match.groups() == ("", "") or size == 0:
        return None
    first, last = match.groups()
    if first == "":  # suffix range: the last N bytes
        return max(size - int(last), 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise HubError(416, f"Range not satisfiable: {header}", headers={"Content-Range": f"bytes */{size}"})
    return start, end


class _HubHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64
    hub: HubServer


class HubServer:
    """A Hub-protocol HTTP server storing its repositories under ``storage_dir``.

    ``start()`` returns once the server listens and serves it from a daemon thread; ``stop()`` shuts it down.
    ``port=0`` picks a free port. Without ``storage_dir``, a temporary directory is used and removed on
    ``stop()``. ``lfs_uploads`` lists the LFS objects received, ``requests`` the ``(method, path, status)``
    of every response sent.
    """

    def __init__(self, port: int = 0, storage_dir: str | os.PathLike | None = None, host: str = "127.0.0.1"):
        self.host = host
        self.port = port
        self._owns_storage = storage_dir is None
        self.storage_dir = Path(
            storage_dir if storage_dir is not None else tempfile.mkdtemp(prefix="hub_server_")
        )
        self.storage = HubStorage(self.storage_dir)
        self.lfs_uploads: list[LfsUpload] = []
        self.requests: list[tuple[str, str, int]] = []
        self._records_lock = threading.Lock()
        self._httpd: _HubHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def repo_url(self, repo_type: str, repo_id: str) -> str:
        return f"{self.url}/{URL_PREFIXES[repo_type]}{repo_id}"

    def start(self) -> HubServer:
        if self._httpd is not None:
            raise RuntimeError("HubServer is already running")
        httpd = _HubHTTPServer((self.host, self.port), HubRequestHandler)  # binds and listens
        httpd.hub = self
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, name=f"hub-server-{self.port}", daemon=True
        )
        self._thread.start()
        logger.info("Hub server listening on %s (storage: %s)", self.url, self.storage_dir)
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._httpd = self._thread = None
        if self._owns_storage:
            shutil.rmtree(self.storage_dir, ignore_errors=True)

    def record_lfs_upload(self, upload: LfsUpload) -> None:
        with self._records_lock:
            self.lfs_uploads.append(upload)

    def record_request(self, method: str, path: str, status: int) -> None:
        with self._records_lock:
            self.requests.append((method, path, status))
