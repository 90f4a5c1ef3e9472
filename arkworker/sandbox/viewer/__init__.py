"""The sandbox's results viewer: what a worker made, and where on the page, in a web browser.

The sandbox serves it at ``/`` beside its API (:mod:`arkworker.sandbox.server` routes ``/``
and ``/view/...`` here):

* ``/``: the corpus, what each source (the corpus file, each worker run) made, and the tree
  of folders and pages with those counts on every row;
* ``/view/element/<id>``: an element's page: its image from the sandbox's own IIIF server,
  the polygon of every element below it drawn over it in SVG (coloured by type, numbered),
  and beside it each one's transcriptions (entities highlighted), classifications and
  metadata. ``?run=<key>`` (``manual`` or a worker run id) keeps one source; repeated, the
  sources are shown side by side, to compare two runs on the same page;
* ``/view/run``: the run summary: the worker activities by state and the elements in error,
  what each source made, and the run report when the viewer has one (:meth:`Viewer.report`).

Pages are rendered on the server with Jinja2, autoescaping everything (element names and
texts are user data), with a stylesheet and a small script shipped in this package: no build
step, nothing fetched from elsewhere, so it works offline. The viewer is read-only (GET and
HEAD only) and answers only requests addressed to the loopback interface, which a page of
another site cannot make through a DNS name of its own (DNS rebinding).
"""

from __future__ import annotations

import functools
import importlib.resources
import mimetypes
from collections.abc import Callable, Mapping
from typing import Any

import jinja2
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from arkworker.errors import UserError
from arkworker.sandbox.store import Store
from arkworker.sandbox.viewer import runs, state

#: Where the viewer's pages live besides ``/`` (the API, IIIF, uploads and storage have their own prefixes).
PREFIX = "/view/"
#: The files under ``/view/static/``: nothing else of the package is ever served.
STATIC_FILES = ("viewer.css", "viewer.js")
#: Hosts the viewer answers (any port): the loopback interface, by address or name.
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]"}
#: Scripts and styles from the viewer only; images from the sandbox or the corpus's IIIF servers.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' http: https:; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)

#: Returns the run report to show, or raises a :class:`UserError` whose line the run page shows.
ReportReader = Callable[[], Mapping[str, Any]]


def is_viewer_path(path: str) -> bool:
    """Whether the sandbox routes ``path`` to the viewer."""
    return path == "/" or path.startswith(PREFIX)


def is_loopback(host: str) -> bool:
    """Whether a ``Host`` header (``127.0.0.1:8765``, ``[::1]``...) names the loopback interface."""
    name = host.rpartition(":")[0] if host.rfind(":") > host.rfind("]") else host
    return name.lower() in LOOPBACK_HOSTS


@functools.cache
def templates() -> jinja2.Environment:
    """The templates, compiled once per process; a misspelt variable is an error, not an empty string."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("arkworker.sandbox.viewer", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["confidence"] = lambda value: "-" if value is None else f"{value:.2f}"
    environment.filters["seconds"] = _seconds
    environment.filters["plural"] = state.plural
    environment.globals["kinds_of"] = _kinds_of
    environment.globals["MANUAL"] = state.MANUAL
    return environment


def _kinds_of(counts: Mapping[str, Mapping[str, int]]) -> list[str]:
    """Every kind any source made, in the order they first appear."""
    return list(dict.fromkeys(kind for by_kind in counts.values() for kind in by_kind))


def _seconds(value: Any) -> str:
    if not isinstance(value, int | float):
        return "-"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


class Viewer:
    """The viewer of one sandbox state; ``report`` (settable) gives the run page its run report."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.report: ReportReader | None = None
        self.url_map = Map(
            [
                Rule("/", endpoint="index"),
                Rule(f"{PREFIX}element/<element_id>", endpoint="element"),
                Rule(f"{PREFIX}run", endpoint="run"),
                Rule(f"{PREFIX}static/<name>", endpoint="static"),
            ]
        )

    def respond(self, request: Request) -> Response:
        """The answer to a request for ``/`` or a path under :data:`PREFIX`."""
        if not is_loopback(request.host):
            return self._page(
                "error.html",
                400,
                title="Not on the loopback interface",
                message="Open the viewer at 127.0.0.1.",
            )
        if request.method not in ("GET", "HEAD"):
            answer = self._page(
                "error.html", 405, title="Read-only", message="The viewer only shows the state."
            )
            answer.headers["Allow"] = "GET, HEAD"
            return answer
        try:
            endpoint, values = self.url_map.bind_to_environ(request.environ).match()
        except NotFound:
            return self._not_found(f"No page at {request.path}.")
        except HTTPException as error:  # a redirect (a missing slash...)
            return error.get_response(request.environ)
        if endpoint == "static":
            return _static(values["name"])
        if endpoint == "element":
            return self._element(values["element_id"], request.args.getlist("run"))
        if endpoint == "run":
            return self._run()
        return self._index()

    # -- pages ---------------------------------------------------------------------------------

    def _index(self) -> Response:
        with self.store.session():
            facts = state.corpus_facts()
            sources = state.sources()
            counts = state.created_counts()
            nodes = state.tree()
        return self._page("index.html", corpus=facts, sources=sources, counts=counts, nodes=nodes)

    def _element(self, element_id: str, keys: list[str]) -> Response:
        keys = list(dict.fromkeys(key for key in keys if key))  # an empty choice means "not this pane"
        try:
            with self.store.session():
                view = state.page_view(element_id, keys)
                sources = state.sources()
        except LookupError as error:
            return self._not_found(f"No source {error.args[0]!r} in this sandbox: pick one in the list.")
        if view is None:
            return self._not_found(f"No element {element_id} in this sandbox.")
        by_run = {source.worker_run_id: source for source in sources}
        return self._page("element.html", view=view, sources=sources, chosen=keys, by_run=by_run)

    def _run(self) -> Response:
        report = problem = None
        if self.report is not None:
            try:
                report = self.report()
            except UserError as error:
                problem = str(error)
        with self.store.session():
            sources = state.sources()
            counts = state.created_counts()
            activities = state.activities()
            elements = state.element_names(runs.item_ids(report)) if report else {}
        shown = runs.report_view(report, elements) if report else None
        return self._page(
            "run.html",
            sources=sources,
            counts=counts,
            activities=activities,
            report=shown,
            problem=problem,
            has_reader=self.report is not None,
        )

    def _not_found(self, message: str) -> Response:
        return self._page("error.html", 404, title="Not found", message=message)

    @staticmethod
    def _page(template: str, status: int = 200, **values: Any) -> Response:
        html = templates().get_template(template).render(**values)
        response = Response(html, status=status, mimetype="text/html")
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"  # the state changes while a run writes
        return response


def _static(name: str) -> Response:
    if name not in STATIC_FILES:
        return Response(f"No static file {name!r}", status=404, mimetype="text/plain")
    content = importlib.resources.files(__package__).joinpath("static").joinpath(name).read_bytes()
    response = Response(content, mimetype=mimetypes.guess_type(name)[0] or "application/octet-stream")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-cache"
    return response
