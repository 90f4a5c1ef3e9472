"""The results viewer's pages, over real HTTP: the demo corpus after examples/lines.py, and a hostile corpus.

``lines_sandbox`` (conftest.py) ran ``examples/lines.py --lines 4`` on the demo corpus: four
text lines on each of the three pages, each transcribed and classified, beside the corpus
file's own lines.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from PIL import Image

from arkworker import Worker
from arkworker.cli.sandbox import sandbox_environment
from arkworker.cli.viewer import report_reader
from arkworker.cli.worker import invoke_app
from arkworker.enums import MetaType
from arkworker.sandbox import Sandbox
from tests.html_tree import Node, parse

HOSTILE = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def page(sandbox: Sandbox, path: str, status: int = 200) -> Node:
    answer = requests.get(sandbox.url + path, timeout=10)
    assert answer.status_code == status, answer.text
    assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in answer.headers["Content-Security-Policy"]
    return parse(answer.text)


def element_id(sandbox: Sandbox, name: str) -> str:
    (row,) = sandbox.objects("elements", name=name, worker_run_id=None)
    return row["id"]


def points(polygon: list[list[float]]) -> str:
    return " ".join(f"{x:g},{y:g}" for x, y in polygon)


def test_the_front_page_counts_what_each_source_made(lines_sandbox: Sandbox) -> None:
    root = page(lines_sandbox, "/")
    assert root.one("h1").text == "Demo corpus"
    counts = root.one("table", class_="counts")
    headers = [cell.text for cell in counts.one("thead").find("th")]
    assert headers == ["Source", "elements", "transcriptions", "classifications"]
    rows = {row.attrs["data-source"]: [cell.text for cell in row.find("td")] for row in counts.find("tr")[1:]}
    assert rows == {"manual": ["9", "3", "0"], lines_sandbox.worker_run_id: ["12", "12", "12"]}


def test_the_tree_lists_folders_and_pages_with_what_each_run_made_below_them(lines_sandbox: Sandbox) -> None:
    tree = page(lines_sandbox, "/").one("table", class_="tree")
    run = lines_sandbox.worker_run_id
    rows = [
        (
            row.one("td", class_="name").attrs["style"],
            row.one("a").text,
            row.one("td", data_source="manual").text,
            row.one("td", data_source=run).text,
        )
        for row in tree.find("tr", class_="node")
    ]
    assert rows == [
        (
            "--depth: 0",
            "Volume 1",
            "3 page 5 text_line 3 transcriptions",
            "12 text_line 12 transcriptions 12 classifications",
        ),
        (
            "--depth: 1",
            "Page 1",
            "2 text_line 3 transcriptions",
            "4 text_line 4 transcriptions 4 classifications",
        ),
        ("--depth: 1", "Page 2", "2 text_line", "4 text_line 4 transcriptions 4 classifications"),
        ("--depth: 1", "Page 3", "1 text_line", "4 text_line 4 transcriptions 4 classifications"),
    ]
    links = [row.one("a").attrs["href"] for row in tree.find("tr", class_="node")]
    assert links[1] == f"/view/element/{element_id(lines_sandbox, 'Page 1')}"


def test_a_page_shows_its_image_and_every_line_polygon_with_its_text(lines_sandbox: Sandbox) -> None:
    page_id = element_id(lines_sandbox, "Page 1")
    root = page(lines_sandbox, f"/view/element/{page_id}")
    (pane,) = root.find("section", class_="pane")
    assert pane.attrs["data-source"] == "all"
    (image_row,) = lines_sandbox.objects("images", name="demo-scan-1")
    image = pane.one("img")
    assert image.attrs["src"] == f"/iiif/{image_row['id']}/0,0,400,600/!400,600/0/default.jpg"
    assert pane.one("svg").attrs["viewbox"] == "0 0 400 600"

    children = {row["child_id"] for row in lines_sandbox.objects("element_paths", parent_id=page_id)}
    lines = [row for row in lines_sandbox.objects("elements", type="text_line") if row["id"] in children]
    assert len(lines) == 2 + 4
    drawn = {
        shape.attrs["data-element"]: shape.one("polygon").attrs["points"]
        for shape in pane.find("g", class_="shape")
    }
    assert drawn == {line["id"]: points(line["polygon"]) for line in lines}
    assert (lines[0]["name"], drawn[lines[0]["id"]]) == ("Line 1", "40,60 360,60 360,90 40,90 40,60")

    entries = {item.attrs["data-element"]: item for item in pane.find("li", class_="item")}
    assert set(entries) == set(drawn)
    run_lines = [line for line in lines if line["worker_run_id"] == lines_sandbox.worker_run_id]
    for index, line in enumerate(run_lines):
        entry = entries[line["id"]]
        assert entry.one("p", class_="text").text.startswith(f"Line {index + 1} of Page 1 0.80")
        assert entry.one("li", class_="class").text == ("handwritten" if index % 2 else "printed") + " 0.70"
        assert f"run {lines_sandbox.worker_run_id[:8]}" in entry.one("div", class_="head").text
    manual = entries[lines[1]["id"]]
    assert manual.one("p", class_="text").text == "I received your letter of the 3rd. 1.00"
    assert "manual" in manual.one("div", class_="head").text
    # The page's own transcription, from the corpus file.
    own = pane.one("section", class_="own")
    assert own.one("p", class_="text").text == "Dear Sir, I received your letter of the 3rd."
    # Numbers drawn on the image match the list, and each shape has a tooltip with its text.
    for shape in pane.find("g", class_="shape"):
        number = shape.one("text").text
        assert entries[shape.attrs["data-element"]].one("span", class_="number").text == number
    assert {shape.one("title").text.split(" — ")[-1] for shape in pane.find("g", class_="shape")} >= {
        "Line 1 of Page 1",
        "Dear Sir,",
    }


def test_a_run_filter_keeps_its_rows_and_two_runs_are_shown_side_by_side(lines_sandbox: Sandbox) -> None:
    page_id = element_id(lines_sandbox, "Page 2")
    run = lines_sandbox.worker_run_id
    (pane,) = page(lines_sandbox, f"/view/element/{page_id}?run={run}").find("section", class_="pane")
    assert pane.attrs["data-source"] == run
    assert len(pane.find("polygon")) == 4
    assert all(shape.attrs["class"] == "shape" for shape in pane.find("g", class_="shape"))

    root = page(lines_sandbox, f"/view/element/{page_id}?run=manual&run={run}")
    assert root.one("div", class_="panes").attrs["data-panes"] == "2"
    manual, mine = root.find("section", class_="pane")
    assert (manual.attrs["data-source"], mine.attrs["data-source"]) == ("manual", run)
    assert [shape.attrs["class"] for shape in manual.find("g", class_="shape")] == ["shape manual"] * 2
    assert len(mine.find("polygon")) == 4
    assert manual.one("img").attrs["src"] == mine.one("img").attrs["src"]
    # Page 2's manual lines have no transcription: the manual pane shows none, the run's four.
    assert manual.find("p", class_="text") == []
    assert len(mine.find("p", class_="text")) == 4
    # The form keeps the choice.
    first, second = root.one("form", class_="filter").find("select")
    assert first.one("option", selected="").attrs["value"] == "manual"
    assert second.one("option", selected="").attrs["value"] == run

    root = page(lines_sandbox, f"/view/element/{page_id}?run=0e5d0e5d-0000-4000-8000-000000000000", 404)
    assert "No source '0e5d0e5d-0000-4000-8000-000000000000'" in root.one("p", class_="problem").text


def test_the_image_of_a_page_view_comes_from_the_sandbox_iiif_server(lines_sandbox: Sandbox) -> None:
    page_id = element_id(lines_sandbox, "Page 3")
    root = page(lines_sandbox, f"/view/element/{page_id}")
    source = root.one("img").attrs["src"]
    # demo-scan-3 is 480 x 640, served at most 240 x 320: the view asks for what the server gives.
    assert source.endswith("/0,0,480,640/!240,320/0/default.jpg")
    answer = requests.get(lines_sandbox.url + source, timeout=10)
    assert answer.status_code == 200
    assert Image.open(io.BytesIO(answer.content)).size == (240, 320)
    assert root.one("svg").attrs["viewbox"] == "0 0 480 640"


def test_a_folder_lists_what_it_holds(lines_sandbox: Sandbox) -> None:
    root = page(lines_sandbox, f"/view/element/{element_id(lines_sandbox, 'Volume 1')}")
    assert root.find("img") == []
    browse = root.one("section", class_="browse")
    assert [link.text for link in browse.find("a")] == ["Page 1", "Page 2", "Page 3"]
    assert [span.text for span in browse.find("span", class_="quiet")] == ["6 below", "6 below", "5 below"]
    # A line's page: its crumbs lead back up.
    line = lines_sandbox.objects("elements", name="Line 1", worker_run_id=None)[0]
    crumbs = page(lines_sandbox, f"/view/element/{line['id']}").one("nav", class_="crumbs")
    assert [link.text for link in crumbs.find("a")] == ["Corpus", "Volume 1", "Page 1"]


def test_the_run_page_shows_the_report_and_the_activities(lines_sandbox: Sandbox) -> None:
    root = page(lines_sandbox, "/view/run")
    report = root.one("section", class_="report")
    assert "Worker lines, from" in report.find("p")[0].text
    totals = {cell.attrs["data-total"]: cell.text for cell in report.find("td") if "data-total" in cell.attrs}
    assert totals == {
        "total": "3",
        "completed": "3",
        "failed": "0",
        "skipped": "0",
        "unprocessed": "0",
        "exit_code": "0",
        "interrupted": "-",
    }
    assert "None failed." in report.text
    slowest = report.one("table", class_="slowest").find("tr")[1:]
    assert sorted(row.one("a").text for row in slowest) == ["Page 1", "Page 2", "Page 3"]
    operations = [row.find("td")[0].text for row in report.one("table", class_="calls").find("tr")[1:]]
    assert "CreateElements" in operations and "CreateTranscriptions" in operations
    (activity,) = root.find("section", class_="activity")
    assert activity.attrs["data-source"] == lines_sandbox.worker_run_id
    assert activity.one("span", data_state="processed").text == "3 processed"


def test_the_viewer_is_read_only_loopback_only_and_serves_its_own_files(lines_sandbox: Sandbox) -> None:
    url = lines_sandbox.url
    answer = requests.post(url + "/", timeout=10)
    assert (answer.status_code, answer.headers["Allow"]) == (405, "GET, HEAD")
    answer = requests.get(url + "/", headers={"Host": "viewer.example.com"}, timeout=10)
    assert answer.status_code == 400
    assert requests.get(url + "/", headers={"Host": f"localhost:{url.rsplit(':', 1)[1]}"}, timeout=10).ok
    for name, kind in (("viewer.css", "text/css"), ("viewer.js", "text/javascript")):
        answer = requests.get(f"{url}/view/static/{name}", timeout=10)
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith(kind)
    assert requests.get(f"{url}/view/static/__init__.py", timeout=10).status_code == 404
    assert requests.get(f"{url}/view/static/..%2Fstate.py", timeout=10).status_code == 404
    page(lines_sandbox, "/view/element/0e5d0e5d-0000-4000-8000-000000000000", 404)
    page(lines_sandbox, "/view/nothing", 404)
    # The API beside it is untouched, and viewer requests take no fault.
    lines_sandbox.fail("RetrieveCorpus", 503)
    page(lines_sandbox, "/")
    assert lines_sandbox.pending_faults()[0].target == "RetrieveCorpus"
    lines_sandbox.clear_faults()
    answer = requests.get(url + "/api/v1/openapi/", timeout=10)
    assert answer.ok and "paths" in answer.json()


# -- user data is escaped ------------------------------------------------------------------------

HOSTILE_CORPUS = {
    "corpus": {"name": f"Corpus {HOSTILE}", "description": HOSTILE},
    "types": [{"slug": "folder", "folder": True}, "page", "line"],
    "images": [{"name": "scan", "width": 400, "height": 300}],
    "elements": [
        {
            "name": HOSTILE,
            "type": "folder",
            "children": [
                {
                    "name": "Page 1",
                    "type": "page",
                    "image": "scan",
                    "transcriptions": [HOSTILE],
                    "classifications": [HOSTILE],
                    "metadata": [{"name": HOSTILE, "value": HOSTILE}],
                },
                {"name": "Page 2", "type": "page", "image": "scan"},
            ],
        }
    ],
    "worker_run": {"summary": HOSTILE, "process": {"elements": ["Page 1", "Page 2"]}},
}

hostile = Worker("hostile")


@hostile.element
def write_hostile_things(element, ctx):
    if element.name == "Page 2":
        raise ValueError(HOSTILE)
    line_id = ctx.create_sub_element(element, "line", HOSTILE, [[10, 10], [200, 10], [200, 60], [10, 60]])
    line = ctx.retrieve_element(line_id)
    text = f"Dear {HOSTILE} of Paris"
    transcription = ctx.create_transcription(line, text=text, confidence=0.5)
    ctx.check_required_entity_types([HOSTILE])
    ctx.create_transcription_entity(
        transcription, ctx.entity_types[HOSTILE], text.index(HOSTILE), len(HOSTILE), 0.9
    )
    ctx.create_classification(line, HOSTILE, confidence=0.25)
    ctx.create_metadata(line, MetaType.Text, HOSTILE, HOSTILE)


@pytest.fixture(scope="module")
def hostile_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    report = tmp_path_factory.mktemp("hostile") / "report.json"
    with Sandbox(HOSTILE_CORPUS) as sandbox:
        env = {**sandbox_environment(os.environ, sandbox), "ARKWORKER_RETRY_BACKOFF": "0"}
        arguments = [
            "--report",
            str(report),
            "--progress",
            "none",
            "--element",
            *sandbox.listed_element_ids(),
        ]
        stream = io.StringIO()
        code, _ = invoke_app(hostile, arguments, env=env, stream=stream)
        assert code == 0, stream.getvalue()  # Page 1 completed, Page 2 failed
        sandbox.show_report(report_reader(report))
        yield sandbox


def hostile_pages(sandbox: Sandbox) -> list[str]:
    (page_1,) = sandbox.objects("elements", name="Page 1")
    (line,) = sandbox.objects("elements", name=HOSTILE, type="line")
    folder = sandbox.objects("elements", name=HOSTILE, type="folder")[0]
    return [
        "/",
        f"/view/element/{folder['id']}",
        f"/view/element/{page_1['id']}",
        f"/view/element/{page_1['id']}?run=manual&run={sandbox.worker_run_id}",
        f"/view/element/{line['id']}",
        "/view/run",
    ]


def test_everything_from_the_corpus_is_escaped(hostile_sandbox: Sandbox) -> None:
    for path in hostile_pages(hostile_sandbox):
        html = requests.get(hostile_sandbox.url + path, timeout=10).text
        assert HOSTILE not in html, path
        assert ESCAPED in html, path
        assert html.count("<script") == 1, path  # the viewer's own, from /view/static/
        assert '<script src="/view/static/viewer.js" defer></script>' in html


def test_hostile_names_and_texts_show_as_text(hostile_sandbox: Sandbox) -> None:
    (page_1,) = hostile_sandbox.objects("elements", name="Page 1")
    root = page(hostile_sandbox, f"/view/element/{page_1['id']}?run={hostile_sandbox.worker_run_id}")
    (item,) = root.find("li", class_="item")
    assert item.one("a").text == HOSTILE
    text = item.one("p", class_="text")
    mark = text.one("mark")
    assert mark.text == HOSTILE  # the entity span, highlighted
    assert mark.attrs["title"].startswith(f"{HOSTILE} (0.90, {HOSTILE} · run")
    assert mark.attrs["style"] == "--entity: #ff0000"
    assert text.text == f"Dear {HOSTILE} of Paris 0.50"
    assert item.one("li", class_="class").text == f"{HOSTILE} 0.25"
    metadata = item.one("dl", class_="metadata")
    assert (metadata.one("dt").text, metadata.one("dd").text) == (f"{HOSTILE} text", HOSTILE)
    assert root.one("g", class_="shape").one("polygon").attrs["points"] == "10,10 200,10 200,60 10,60 10,10"


def test_a_failure_and_its_error_show_on_the_run_page(hostile_sandbox: Sandbox) -> None:
    root = page(hostile_sandbox, "/view/run")
    report = root.one("section", class_="report")
    (row,) = report.one("table", class_="failed").find("tr")[1:]
    link, error, duration = row.find("td")
    assert link.one("a").text == "Page 2"
    assert error.text.endswith(f"ValueError('{HOSTILE}')")
    assert duration.text.endswith("ms")
    (activity,) = root.find("section", class_="activity")
    assert activity.one("span", data_state="error").text == "1 error"
    assert [link.text for link in activity.find("a")] == ["Page 2"]


def test_a_missing_report_is_one_line_on_the_run_page(tmp_path: Path) -> None:
    with Sandbox() as sandbox:
        assert "No run report" in page(sandbox, "/view/run").one("section", class_="report").text
        sandbox.show_report(report_reader(tmp_path / "later.json"))
        problem = page(sandbox, "/view/run").one("p", class_="problem").text
        assert problem == (
            f"The run report {tmp_path / 'later.json'} does not exist: give the file an earlier run wrote with --report."
        )
        (tmp_path / "later.json").write_text('{"format": "something else"}')
        problem = page(sandbox, "/view/run").one("p", class_="problem").text
        assert problem.startswith(f"The run report {tmp_path / 'later.json'} is not an arkworker run report")


def test_overlapping_entity_spans_each_keep_their_text() -> None:
    from arkworker.sandbox.viewer.state import segments

    first = {"offset": 0, "length": 9, "type": "a"}
    second = {"offset": 5, "length": 10, "type": "b"}
    beyond = {"offset": 12, "length": 50, "type": "c"}
    pieces = segments("Dear Paris folk", [first, second, beyond])
    assert [(piece.text, [span["type"] for span in piece.spans]) for piece in pieces] == [
        ("Dear ", ["a"]),
        ("Pari", ["a", "b"]),
        ("s f", ["b"]),
        ("olk", ["b", "c"]),  # the span past the text, clipped
    ]
    assert "".join(piece.text for piece in pieces) == "Dear Paris folk"
