"""The local Hub server (``tests/hub_server.py``) driven by the real ``huggingface_hub``, ``datasets`` and
``transformers`` clients, through ``HF_ENDPOINT`` (set in ``conftest.py``)."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from huggingface_hub import (
    CommitOperationAdd,
    HfApi,
    HfFileSystem,
    get_hf_file_metadata,
    hf_hub_download,
    hf_hub_url,
    snapshot_download,
)
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import get_session

from tests.hub_server import USER_NAME

# huggingface_hub's LFS upload passes a file object as `data=`, which httpx2 deprecates: not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>' to upload raw bytes:DeprecationWarning")


@pytest.fixture
def api(hub_server) -> HfApi:
    return HfApi(endpoint=hub_server.url)


@pytest.fixture
def repo_id(api) -> str:
    """A fresh model repo, unique to the test."""
    return api.create_repo(f"{USER_NAME}/repo-{uuid.uuid4().hex[:10]}").repo_id


def _binary(size: int, seed: str) -> bytes:
    """Deterministic incompressible bytes (with NULs, so the Hub treats them as binary)."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}-{counter}".encode()).digest() + b"\0"
        counter += 1
    return bytes(out[:size])


def _lfs_oids(hub_server) -> set[str]:
    return {upload.oid for upload in hub_server.lfs_uploads}


# -- repositories ------------------------------------------------------------------------------------------


def test_endpoint_points_at_the_server(hub_server):
    from huggingface_hub import constants

    assert constants.ENDPOINT == hub_server.url == os.environ["HF_ENDPOINT"]


def test_create_repo_conflicts_unless_exist_ok(api):
    name = f"repo-{uuid.uuid4().hex[:10]}"
    url = api.create_repo(name)  # no namespace: created under the token's user
    assert url.repo_id == f"{USER_NAME}/{name}"
    assert url.repo_type == "model"
    with pytest.raises(HfHubHTTPError) as err:
        api.create_repo(url.repo_id)
    assert err.value.response.status_code == 409
    assert api.create_repo(url.repo_id, exist_ok=True).repo_id == url.repo_id

    info = api.model_info(url.repo_id)
    assert info.id == url.repo_id
    assert [s.rfilename for s in info.siblings] == [".gitattributes"]  # the Hub's initial commit
    assert api.whoami()["name"] == USER_NAME


def test_delete_repo(api, repo_id):
    assert api.repo_exists(repo_id)
    api.delete_repo(repo_id)
    assert not api.repo_exists(repo_id)
    with pytest.raises(RepositoryNotFoundError):
        api.delete_repo(repo_id)
    api.delete_repo(repo_id, missing_ok=True)


# -- uploads and downloads ---------------------------------------------------------------------------------


def test_text_is_committed_inline_and_binary_goes_through_lfs(hub_server, api, repo_id):
    text = b"just some text\n" * 10
    binary = _binary(200_000, "weights")
    api.upload_file(path_or_fileobj=text, path_in_repo="notes.txt", repo_id=repo_id)
    api.upload_file(path_or_fileobj=binary, path_in_repo="weights/blob.dat", repo_id=repo_id)

    binary_oid = hashlib.sha256(binary).hexdigest()
    assert binary_oid in _lfs_oids(hub_server)
    assert hashlib.sha256(text).hexdigest() not in _lfs_oids(hub_server)
    assert sorted(api.list_repo_files(repo_id)) == [".gitattributes", "notes.txt", "weights/blob.dat"]

    infos = {
        info.path: info for info in api.get_paths_info(repo_id, ["notes.txt", "weights/blob.dat", "nope"])
    }
    assert set(infos) == {"notes.txt", "weights/blob.dat"}
    assert infos["notes.txt"].lfs is None
    assert infos["weights/blob.dat"].lfs.sha256 == binary_oid
    assert infos["weights/blob.dat"].size == len(binary)

    assert Path(hf_hub_download(repo_id, "notes.txt")).read_bytes() == text
    assert Path(hf_hub_download(repo_id, "weights/blob.dat")).read_bytes() == binary


def test_large_text_file_goes_through_lfs(hub_server, api, repo_id):
    big_text = b"0123456789abcdef\n" * (11 * 1024 * 1024 // 17)  # > 10 MB
    api.upload_file(path_or_fileobj=big_text, path_in_repo="big.txt", repo_id=repo_id)
    assert hashlib.sha256(big_text).hexdigest() in _lfs_oids(hub_server)
    assert Path(hf_hub_download(repo_id, "big.txt")).read_bytes() == big_text


def test_lfs_object_already_stored_is_not_uploaded_again(hub_server, api, repo_id):
    binary = _binary(50_000, "dedup")
    api.upload_file(path_or_fileobj=binary, path_in_repo="a.safetensors", repo_id=repo_id)
    uploads_before = len(hub_server.lfs_uploads)
    api.upload_file(path_or_fileobj=binary, path_in_repo="copy/b.safetensors", repo_id=repo_id)
    assert len(hub_server.lfs_uploads) == uploads_before
    assert Path(hf_hub_download(repo_id, "copy/b.safetensors")).read_bytes() == binary


def test_upload_folder_and_snapshot_download(hub_server, api, repo_id, tmp_path):
    files = {
        "config.json": json.dumps({"hidden": 32}).encode(),
        "model.safetensors": _binary(30_000, "folder"),
        "nested/deep/readme.md": b"# hello\n",
    }
    for rel_path, content in files.items():
        (tmp_path / rel_path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel_path).write_bytes(content)
    commit = api.upload_folder(folder_path=tmp_path, repo_id=repo_id)

    assert hashlib.sha256(files["model.safetensors"]).hexdigest() in _lfs_oids(hub_server)
    snapshot = Path(snapshot_download(repo_id))
    assert snapshot.name == commit.oid
    for rel_path, content in files.items():
        assert (snapshot / rel_path).read_bytes() == content

    tree = {entry.path for entry in api.list_repo_tree(repo_id)}
    assert tree == {".gitattributes", "config.json", "model.safetensors", "nested"}
    deep = {entry.path for entry in api.list_repo_tree(repo_id, path_in_repo="nested", recursive=True)}
    assert deep == {"nested/deep", "nested/deep/readme.md"}


def test_download_at_a_specific_commit(api, repo_id):
    first = api.upload_file(path_or_fileobj=b"version 1", path_in_repo="file.txt", repo_id=repo_id)
    second = api.upload_file(path_or_fileobj=b"version 2", path_in_repo="file.txt", repo_id=repo_id)
    assert first.oid != second.oid
    assert api.model_info(repo_id).sha == second.oid

    assert Path(hf_hub_download(repo_id, "file.txt", revision=first.oid)).read_bytes() == b"version 1"
    assert Path(hf_hub_download(repo_id, "file.txt")).read_bytes() == b"version 2"
    assert Path(hf_hub_download(repo_id, "file.txt", revision=second.oid[:10])).read_bytes() == b"version 2"
    commits = [c.commit_id for c in api.list_repo_commits(repo_id)]
    assert commits[:2] == [second.oid, first.oid]
    assert api.model_info(repo_id, revision=first.oid).sha == first.oid


def test_ranged_reads(hub_server, api, repo_id):
    data = _binary(100_000, "range")
    api.upload_file(path_or_fileobj=data, path_in_repo="blob.bin", repo_id=repo_id)

    fs = HfFileSystem(endpoint=hub_server.url)
    with fs.open(f"{repo_id}/blob.bin", "rb", block_size=4096) as file:
        file.seek(40_000)
        assert file.read(1234) == data[40_000:41_234]
    assert any(status == 206 and "/resolve/" in path for _, path, status in hub_server.requests)

    url = hf_hub_url(repo_id, "blob.bin")
    response = get_session().get(url, headers={"Range": "bytes=-10"})
    assert response.status_code == 206
    assert response.content == data[-10:]
    assert response.headers["Content-Range"] == f"bytes {len(data) - 10}-{len(data) - 1}/{len(data)}"
    response = get_session().get(url, headers={"Range": f"bytes={len(data)}-"})
    assert response.status_code == 416


def test_file_metadata_headers(api, repo_id):
    binary = _binary(10_000, "meta")
    commit = api.upload_file(path_or_fileobj=binary, path_in_repo="x.bin", repo_id=repo_id)
    api.upload_file(path_or_fileobj=b"abc", path_in_repo="y.txt", repo_id=repo_id)

    lfs_meta = get_hf_file_metadata(hf_hub_url(repo_id, "x.bin", revision=commit.oid))
    assert lfs_meta.commit_hash == commit.oid
    assert lfs_meta.etag == hashlib.sha256(binary).hexdigest()
    assert lfs_meta.size == len(binary)

    text_meta = get_hf_file_metadata(hf_hub_url(repo_id, "y.txt"))
    assert text_meta.etag == hashlib.sha1(b"blob 3\0abc").hexdigest()  # git blob id
    assert text_meta.size == 3


def test_missing_repo_revision_and_file_raise_typed_errors(api, repo_id):
    api.upload_file(path_or_fileobj=b"x", path_in_repo="present.txt", repo_id=repo_id)
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(repo_id, "absent.txt")
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(f"{USER_NAME}/does-not-exist", "present.txt")
    with pytest.raises(RepositoryNotFoundError):
        api.model_info(f"{USER_NAME}/does-not-exist")
    with pytest.raises(RepositoryNotFoundError):
        api.dataset_info(repo_id)  # it is a model repo
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(repo_id, "present.txt", revision="no-such-branch")
    assert api.file_exists(repo_id, "present.txt")
    assert not api.file_exists(repo_id, "absent.txt")
    with pytest.raises(EntryNotFoundError):
        list(api.list_repo_tree(repo_id, path_in_repo="no-such-folder"))


def test_deletions_and_stale_parent_commit(api, repo_id, tmp_path):
    for rel_path in ("a.txt", "dir/b.txt", "dir/c.txt"):
        (tmp_path / rel_path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel_path).write_text(rel_path)
    head = api.upload_folder(folder_path=tmp_path, repo_id=repo_id).oid
    api.delete_file("a.txt", repo_id)
    api.delete_folder("dir", repo_id)
    assert api.list_repo_files(repo_id) == [".gitattributes"]
    with pytest.raises(EntryNotFoundError):
        api.delete_file("a.txt", repo_id)

    with pytest.raises(HfHubHTTPError) as err:
        api.create_commit(
            repo_id,
            [CommitOperationAdd("late.txt", b"late")],
            commit_message="based on an old head",
            parent_commit=head,
        )
    assert err.value.response.status_code == 412


def test_concurrent_commits_are_all_kept(api, repo_id):
    def upload(i: int) -> str:
        return api.upload_file(
            path_or_fileobj=f"file {i}".encode(), path_in_repo=f"f{i}.txt", repo_id=repo_id
        ).oid

    with ThreadPoolExecutor(max_workers=8) as pool:
        commit_ids = list(pool.map(upload, range(8)))  # re-raises any failure
    assert len(set(commit_ids)) == 8
    assert sorted(api.list_repo_files(repo_id)) == sorted(
        [".gitattributes"] + [f"f{i}.txt" for i in range(8)]
    )
    assert len(api.list_repo_commits(repo_id)) == 1 + 8


def test_branches_tags_and_pull_requests(api, repo_id):
    api.upload_file(path_or_fileobj=b"main", path_in_repo="f.txt", repo_id=repo_id)
    api.create_branch(repo_id, branch="dev")
    api.create_branch(repo_id, branch="dev", exist_ok=True)
    api.upload_file(path_or_fileobj=b"dev", path_in_repo="f.txt", repo_id=repo_id, revision="dev")
    api.create_tag(repo_id, tag="v1", revision="dev")

    refs = api.list_repo_refs(repo_id)
    assert {b.name for b in refs.branches} == {"main", "dev"}
    assert [t.name for t in refs.tags] == ["v1"]
    assert Path(hf_hub_download(repo_id, "f.txt", revision="dev")).read_bytes() == b"dev"
    assert Path(hf_hub_download(repo_id, "f.txt", revision="v1")).read_bytes() == b"dev"
    assert Path(hf_hub_download(repo_id, "f.txt")).read_bytes() == b"main"

    pr = api.upload_file(path_or_fileobj=b"proposal", path_in_repo="f.txt", repo_id=repo_id, create_pr=True)
    assert pr.pr_revision == "refs/pr/1"
    assert Path(hf_hub_download(repo_id, "f.txt", revision=pr.pr_revision)).read_bytes() == b"proposal"
    assert Path(hf_hub_download(repo_id, "f.txt")).read_bytes() == b"main"

    api.delete_branch(repo_id, branch="dev")
    with pytest.raises(RevisionNotFoundError):
        api.model_info(repo_id, revision="dev")


# -- datasets ----------------------------------------------------------------------------------------------


def test_dataset_push_to_hub_and_load_dataset(hub_server):
    import datasets

    repo_id = f"{USER_NAME}/ds-{uuid.uuid4().hex[:10]}"
    original = datasets.Dataset.from_dict(
        {"id": [1, 2, 3, 4], "text": ["a", "b", "c", "d"], "score": [0.5, 1.5, 2.5, 3.5]}
    )
    original.push_to_hub(repo_id)

    files = HfApi().list_repo_files(repo_id, repo_type="dataset")
    parquet_files = [f for f in files if f.endswith(".parquet")]
    assert parquet_files and "README.md" in files
    assert HfApi().get_paths_info(repo_id, parquet_files, repo_type="dataset")[0].lfs is not None
    assert any(
        upload.repo_id == repo_id and upload.repo_type == "dataset" for upload in hub_server.lfs_uploads
    )

    loaded = datasets.load_dataset(repo_id, split="train")
    assert loaded.to_dict() == original.to_dict()
    streamed = datasets.load_dataset(repo_id, split="train", streaming=True)
    assert list(streamed) == original.to_list()


def test_jsonl_dataset_splits(api):
    import datasets

    repo_id = api.create_repo(f"jsonl-{uuid.uuid4().hex[:10]}", repo_type="dataset").repo_id
    train = [{"q": f"question {i}", "a": i} for i in range(5)]
    validation = [{"q": "held out", "a": 99}]
    for split, rows in (("train", train), ("validation", validation)):
        api.upload_file(
            path_or_fileobj="".join(json.dumps(row) + "\n" for row in rows).encode(),
            path_in_repo=f"data/{split}.jsonl",
            repo_id=repo_id,
            repo_type="dataset",
        )

    loaded = datasets.load_dataset(repo_id)
    assert set(loaded) == {"train", "validation"}
    assert loaded["train"].to_list() == train
    assert loaded["validation"].to_list() == validation


# -- transformers ------------------------------------------------------------------------------------------


def test_transformers_push_to_hub_and_from_pretrained(hub_server):
    import torch
    from transformers import AutoModel, BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37
    )
    model = BertModel(config)
    name = f"tiny-bert-{uuid.uuid4().hex[:8]}"
    model.push_to_hub(name)  # no namespace: pushed under the token's user
    repo_id = f"{USER_NAME}/{name}"

    files = HfApi().list_repo_files(repo_id)
    assert {"config.json", "model.safetensors", "README.md"} <= set(files)
    weights = HfApi().get_paths_info(repo_id, ["model.safetensors"])[0]
    assert weights.lfs is not None and weights.lfs.sha256 in _lfs_oids(hub_server)

    expected = model.state_dict()
    for model_class in (BertModel, AutoModel):
        reloaded = model_class.from_pretrained(repo_id)
        assert isinstance(reloaded, BertModel)
        state = reloaded.state_dict()
        assert state.keys() == expected.keys()
        for key, tensor in expected.items():
            assert torch.equal(state[key], tensor), key
