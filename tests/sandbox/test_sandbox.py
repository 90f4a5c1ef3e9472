"""The control plane: lifecycle, state files, several sandboxes, inspection, serve and report."""

import sqlite3
import threading

import pytest
import requests
from arkindex import ArkindexClient

from arkworker.sandbox import Sandbox, StateFileError
from arkworker.sandbox.report import format_report, shorten
from arkworker.sandbox.serve import serve_forever


def tiny(name, *pages):
    return {"corpus": {"name": name}, "elements": [{"name": page, "type": "page"} for page in pages]}


def test_url_and_env_need_a_started_server(tmp_path):
    sandbox = Sandbox(tiny("T", "P"), db_path=tmp_path / "state.sqlite")
    with pytest.raises(RuntimeError, match="call start"):
        sandbox.url  # noqa: B018 - the property raises
    assert sandbox.objects("elements")[0]["name"] == "P"
    with sandbox:
        assert sandbox.url.startswith("http://127.0.0.1:")
        assert sandbox.env() == {
            "ARKINDEX_API_URL": sandbox.url,
            "ARKINDEX_API_TOKEN": sandbox.token,
            "ARKINDEX_WORKER_RUN_ID": sandbox.worker_run_id,
            "ARKINDEX_CORPUS_ID": sandbox.corpus_id,
        }
        with pytest.raises(RuntimeError, match="already serving"):
            sandbox.start()
    sandbox.stop()


def test_restart_keeps_the_state(tmp_path):
    sandbox = Sandbox(tiny("T", "P"), db_path=tmp_path / "state.sqlite")
    with sandbox:
        client = ArkindexClient(base_url=sandbox.url, token=sandbox.token)
        client.request("CreateTranscription", id=sandbox.process_element_ids()[0], body={"text": "kept"})
    with sandbox:
        client = ArkindexClient(base_url=sandbox.url, token=sandbox.token)
        (item,) = client.paginate("ListTranscriptions", id=sandbox.process_element_ids()[0])
        assert item["text"] == "kept"


def test_db_path_is_reused_as_is(tmp_path):
    path = tmp_path / "state.sqlite"
    with Sandbox(tiny("Reused", "P"), db_path=path) as first:
        client = ArkindexClient(base_url=first.url, token=first.token)
        client.request("CreateTranscription", id=first.process_element_ids()[0], body={"text": "survives"})
        run_id = first.worker_run_id
    second = Sandbox(tiny("Other corpus", "Q"), db_path=path)
    assert second.corpus_name == "Reused" and second.worker_run_id == run_id
    assert [row["text"] for row in second.objects("transcriptions")] == ["survives"]
    second.reset()
    assert second.corpus_name == "Other corpus"
    assert second.objects("transcriptions") == []


def test_an_empty_file_is_seeded(tmp_path):
    path = tmp_path / "empty.sqlite"
    path.touch()
    assert Sandbox(tiny("Seeded", "P"), db_path=path).corpus_name == "Seeded"


def test_foreign_state_files_are_refused(tmp_path):
    foreign = tmp_path / "foreign.sqlite"
    with sqlite3.connect(foreign) as connection:
        connection.execute("CREATE TABLE things (id INTEGER)")
    with pytest.raises(StateFileError, match=r"not an arkworker sandbox state .* things"):
        Sandbox(db_path=foreign)
    text = tmp_path / "notes.sqlite"
    text.write_text("not a database at all, but long enough to be read as a header " * 4)
    with pytest.raises(StateFileError, match="is not a SQLite database"):
        Sandbox(db_path=text)


def test_other_schema_versions_are_refused(tmp_path):
    path = tmp_path / "state.sqlite"
    Sandbox(tiny("V", "P"), db_path=path)
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE sandbox_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StateFileError, match="schema version 99"):
        Sandbox(db_path=path)


def test_two_sandboxes_at_once(tmp_path):
    with (
        Sandbox(tiny("First", "A1", "A2")) as first,
        Sandbox(tiny("Second", "B1"), db_path=tmp_path / "second.sqlite") as second,
    ):
        assert first.url != second.url and first.corpus_id != second.corpus_id
        clients = [ArkindexClient(base_url=sb.url, token=sb.token) for sb in (first, second)]
        errors = []

        def hammer(sandbox, client):
            try:
                for _ in range(15):
                    for element_id in sandbox.process_element_ids():
                        client.request("RetrieveElement", id=element_id)
                    client.request("CreateTranscription", id=element_id, body={"text": sandbox.corpus_name})
            except Exception as error:  # reported below, in the test's thread
                errors.append(error)

        threads = [
            threading.Thread(target=hammer, args=pair) for pair in zip((first, second), clients, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert {row["text"] for row in first.objects("transcriptions")} == {"First"}
        assert {row["text"] for row in second.objects("transcriptions")} == {"Second"}
        assert len(second.objects("transcriptions")) == 15
        with pytest.raises(requests.HTTPError):
            # A token is only valid on its own sandbox.
            response = requests.get(
                f"{first.url}/api/v1/corpus/{first.corpus_id}/",
                headers={"Authorization": f"Token {second.token}"},
                timeout=5,
            )
            response.raise_for_status()


def test_objects_filters_and_errors(sb, named):
    pages = sb.objects("elements", type="page")
    assert [row["name"] for row in pages] == ["Page 1", "Page 2", "Page 3"]
    assert set(pages[0]) >= {"id", "corpus_id", "image_id", "polygon", "worker_run_id", "created"}
    assert sb.objects("elements", image_id=None, worker_run_id=None)[0]["name"] == "Volume 1"
    assert sb.objects("secrets")[0]["name"] == "demo/api-key.txt"
    with pytest.raises(ValueError, match=r"Unknown kind 'element'; valid kinds: .*elements"):
        sb.objects("element")
    with pytest.raises(ValueError, match="elements have no column 'kind'; columns: id, corpus_id"):
        sb.objects("elements", kind="page")


def test_created_defaults_to_the_sandbox_run(sb, client, named):
    assert sb.created() == {}
    client.request(
        "CreateTranscription", id=named("Page 2"), body={"text": "t", "worker_run_id": sb.worker_run_id}
    )
    client.request("CreateTranscription", id=named("Page 2"), body={"text": "manual"})
    assert [row["text"] for row in sb.created()["transcriptions"]] == ["t"]
    assert sb.created("00000000-0000-4000-8000-000000000000") == {}


def test_format_report(sb, client, named):
    assert format_report(sb) == f"Worker run {sb.worker_run_id} created nothing."
    long_text = "A very long transcription that goes on and on, well beyond the width of the table"
    client.request(
        "CreateTranscription",
        id=named("Line 1", parent="Page 1"),
        body={"text": long_text, "worker_run_id": sb.worker_run_id, "confidence": 0.925},
    )
    client.request(
        "CreateTranscription",
        id=named("Page 2"),
        body={"text": "Short\ntext", "worker_run_id": sb.worker_run_id, "orientation": "vertical-lr"},
    )
    assert format_report(sb).splitlines() == [
        f"Created by worker run {sb.worker_run_id}: 2 transcriptions",
        "Transcriptions",
        "  Element           Text                                                Confidence  Orientation",
        f"  text_line Line 1  {shorten(long_text)}  0.93        horizontal-lr",
        "  page Page 2       Short text                                          -           vertical-lr",
    ]
    assert shorten(long_text).endswith("…") and len(shorten(long_text)) == 50


def test_serve_forever(tmp_path):
    corpus = tmp_path / "corpus.yml"
    corpus.write_text("corpus: {name: Served}\nelements: [{name: P, type: page}, {name: Q, type: page}]\n")
    lines: list[str] = []
    stop = threading.Event()
    serving = threading.Event()

    def echo(line):
        lines.append(line)
        if line == "Press Ctrl+C to stop.":
            serving.set()

    thread = threading.Thread(
        target=serve_forever,
        args=(corpus,),
        kwargs={"db_path": tmp_path / "s.sqlite", "echo": echo, "stop": stop},
    )
    thread.start()
    assert serving.wait(10)
    url = lines[0].rsplit(" ", 1)[-1]
    assert lines[0] == f"Arkindex sandbox serving corpus 'Served' (2 elements) at {url}"
    exports = dict(line.strip().removeprefix("export ").split("=", 1) for line in lines if "export " in line)
    assert set(exports) == {
        "ARKINDEX_API_URL",
        "ARKINDEX_API_TOKEN",
        "ARKINDEX_WORKER_RUN_ID",
        "ARKINDEX_CORPUS_ID",
    }
    client = ArkindexClient(base_url=exports["ARKINDEX_API_URL"], token=exports["ARKINDEX_API_TOKEN"])
    assert client.request("RetrieveCorpus", id=exports["ARKINDEX_CORPUS_ID"])["name"] == "Served"
    assert f"State: {tmp_path / 's.sqlite'}" in lines
    stop.set()
    thread.join(10)
    assert not thread.is_alive()
    assert lines[-1] == "Sandbox stopped."
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/api/v1/openapi/", timeout=5)


def test_db_path_directories_are_created(tmp_path):
    sandbox = Sandbox(tiny("Nested", "P"), db_path=tmp_path / "a" / "b" / "state.sqlite")
    assert sandbox.db_path.is_file() and sandbox.corpus_name == "Nested"
