"""The sandbox's dataset and artifact operations, through the real arkindex-client."""

from __future__ import annotations

import pytest
import requests
import yaml
from arkindex import ArkindexClient
from arkindex.exceptions import ErrorResponse

from arkworker.sandbox import Sandbox
from arkworker.sandbox.corpus import CorpusError, load_corpus

DATASET = "aaaaaaaa-0000-4000-8000-000000000001"
TASK = "aaaaaaaa-1111-4000-8000-000000000001"
CONTENT = bytes(range(256)) * 1000


@pytest.fixture
def corpus(tmp_path):
    (tmp_path / "lines.tar.zst").write_bytes(CONTENT)
    (tmp_path / "stats.json").write_text('{"lines": 3}')
    content = {
        "corpus": {"name": "Datasets"},
        "elements": [{"name": f"Page {index}", "type": "page"} for index in (1, 2, 3)],
        "datasets": [
            {
                "id": DATASET,
                "name": "Lines",
                "task": TASK,
                "sets": {"train": ["Page 1", "Page 2"], "dev": ["Page 3"], "test": None},
                "process_sets": ["train", "test"],
                "archive": "lines.tar.zst",
                "artifacts": [{"path": "reports/stats.json", "file": "stats.json"}],
            },
            {"name": "Open", "state": "open", "description": "Not built yet"},
        ],
    }
    path = tmp_path / "corpus.yml"
    path.write_text(yaml.safe_dump(content, sort_keys=False))
    return path


@pytest.fixture
def sb(corpus):
    with Sandbox(corpus) as sandbox:
        yield sandbox


@pytest.fixture
def client(sb):
    return ArkindexClient(base_url=sb.url, token=sb.token)


def test_retrieve_and_list_process_sets(sb, client):
    dataset = client.request("RetrieveDataset", id=DATASET)
    assert (dataset["name"], dataset["state"], dataset["task_id"]) == ("Lines", "complete", TASK)
    assert [item["name"] for item in dataset["sets"]] == ["train", "dev", "test"]
    assert dataset["corpus_id"] == sb.corpus_id
    listed = list(client.paginate("ListProcessSets", id=sb.process_id))
    assert [(item["dataset"]["id"], item["set_name"]) for item in listed] == [
        (DATASET, "train"),
        (DATASET, "test"),
    ]
    with pytest.raises(ErrorResponse) as info:
        client.request("RetrieveDataset", id="eeeeeeee-0000-4000-8000-000000000005")
    assert info.value.status_code == 404


def test_retrieve_dataset_set_by_name(sb, client):
    assert client.lookup_operation("RetrieveDatasetSet").url == "/api/v1/datasets/{dataset}/sets/{set}/"
    (dev,) = sb.objects("dataset_sets", dataset_id=DATASET, name="dev")
    assert client.request("RetrieveDatasetSet", dataset=DATASET, set="dev") == {
        "id": dev["id"],
        "name": "dev",
    }
    for dataset, name in ((DATASET, "validation"), ("eeeeeeee-0000-4000-8000-000000000005", "dev")):
        with pytest.raises(ErrorResponse) as info:
            client.request("RetrieveDatasetSet", dataset=dataset, set=name)
        assert info.value.status_code == 404


def test_list_dataset_elements(client):
    every = list(client.paginate("ListDatasetElements", id=DATASET))
    assert [(item["set"], item["element"]["name"]) for item in every] == [
        ("train", "Page 1"),
        ("train", "Page 2"),
        ("dev", "Page 3"),
    ]
    dev = list(client.paginate("ListDatasetElements", id=DATASET, set="dev"))
    assert [item["element"]["name"] for item in dev] == ["Page 3"]
    assert list(client.paginate("ListDatasetElements", id=DATASET, set="test")) == []
    with pytest.raises(ErrorResponse) as info:
        client.request("ListDatasetElements", id=DATASET, set="validation")
    assert info.value.status_code == 400
    assert "'validation' is not a set of this dataset (its sets: train, dev, test)" in str(info.value.content)


def test_partial_update_dataset(sb, client):
    answer = client.request("PartialUpdateDataset", id=DATASET, body={"state": "building"})
    assert answer["state"] == "building"
    assert sb.objects("datasets", id=DATASET)[0]["state"] == "building"
    with pytest.raises(ErrorResponse) as info:
        client.request("PartialUpdateDataset", id=DATASET, body={"state": "done"})
    assert info.value.content["errors"][0]["attr"] == ["state"]


def test_artifacts_are_listed_and_downloaded_by_the_client(client):
    artifacts = client.request("ListArtifacts", id=TASK)
    assert [(item["path"], item["size"], item["content_type"]) for item in artifacts] == [
        (f"{DATASET}.tar.zst", len(CONTENT), "application/zstd"),
        ("reports/stats.json", 12, "application/json"),
    ]
    downloaded = client.request("DownloadArtifact", id=TASK, path=f"{DATASET}.tar.zst")
    with downloaded:
        assert downloaded.read() == CONTENT
    assert client.request("DownloadArtifact", id=TASK, path="reports/stats.json") == {"lines": 3}
    with pytest.raises(ErrorResponse) as info:
        client.request("DownloadArtifact", id=TASK, path="missing.tar.zst")
    assert info.value.status_code == 404
    with pytest.raises(ErrorResponse) as info:
        client.request("ListArtifacts", id="eeeeeeee-0000-4000-8000-000000000005")
    assert info.value.status_code == 404


def test_a_declared_task_without_artifacts_lists_none(sb, client):
    task_id = sb.add_task("export")
    assert client.request("ListArtifacts", id=task_id) == []


def test_truncate_cuts_the_next_downloads(sb, client):
    sb.truncate("DownloadArtifact", after=1000, times=1)
    url = f"{sb.url}/api/v1/task/{TASK}/artifact/{DATASET}.tar.zst"
    headers = {"Authorization": f"Token {sb.token}"}
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(url, headers=headers, timeout=5)
    assert requests.get(url, headers=headers, timeout=5).content == CONTENT
    sb.truncate("DownloadArtifact", after=10, times=None)
    sb.clear_faults()
    assert requests.get(url, headers=headers, timeout=5).content == CONTENT
    with pytest.raises(ValueError, match="after_bytes must be a number of bytes"):
        sb.truncate("DownloadArtifact", after=-1)
    with pytest.raises(LookupError):
        sb.truncate("DownloadArtefact", after=1)


def test_seeding_is_deterministic(corpus):
    first, second = load_corpus(corpus), load_corpus(corpus)
    assert first.sections == second.sections


@pytest.mark.parametrize(
    ("dataset", "expected"),
    [
        ({"sets": {}}, "datasets[0]: missing 'name'"),
        (
            {"name": "D", "state": "done"},
            "datasets[0].state: 'done' is not one of open, building, complete, error",
        ),
        ({"name": "D", "sets": {"train": ["Page 9"]}}, "datasets[0].sets.train[0]: unknown element 'Page 9'"),
        (
            {"name": "D", "sets": {"train": ["Page", "Page"]}},
            "datasets[0].sets.train[1]: element 'Page' is already",
        ),
        (
            {"name": "D", "sets": {"train": []}, "process_sets": ["dev"]},
            "unknown set 'dev' (the dataset's sets: train)",
        ),
        ({"name": "D", "archive": "nowhere.tar.zst"}, "datasets[0].archive: the file"),
        ({"name": "D", "artifacts": [{"path": "x"}]}, "datasets[0].artifacts[0]: missing 'file'"),
        ({"name": "D", "colour": 1}, "datasets[0]: unknown key 'colour'"),
    ],
)
def test_dataset_section_errors(dataset, expected):
    content = {"corpus": {"name": "C"}, "elements": [{"name": "Page", "type": "page"}], "datasets": [dataset]}
    with pytest.raises(CorpusError) as info:
        load_corpus(content)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)
