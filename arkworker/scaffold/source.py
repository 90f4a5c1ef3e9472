"""Where a generated project gets arkworker from (``arkworker new --arkworker-source``).

arkworker is on no package index yet, so a project depending on ``arkworker>=0.1.0,<0.2``
installs nowhere but on the machine that made it. A project must name a source that pip
reaches wherever the project is installed: the author's machine, its CI job and its Docker
build, which see nothing but the project's own files and the network. So a source is one of

- a **URL**, ``git+https://…@v0.1.0`` or ``https://…/arkworker-0.1.0-py3-none-any.whl``: the
  direct reference ``arkworker @ URL``, reachable from anywhere with the network (a ``git+``
  URL also needs git, which the CI job and the Dockerfile then install);
- a **local source**, a checkout or a wheel or sdist file: its wheel (built from a checkout
  by pip) is copied into the project as ``vendor/arkworker-<version>-py3-none-any.whl``, and
  the project depends on it through hatchling's ``{root:uri}``, the project's own folder.
  A ``file://`` URL to the checkout would exist neither in CI nor in a Docker build;
- ``index``: the plain requirement ``arkworker>=0.1.0,<0.2``, for when the package index pip
  uses has arkworker.

Without ``--arkworker-source`` (:func:`default_source`) the project gets the arkworker that
runs the command: its checkout when it runs from one (an editable install, or a clone on
``PYTHONPATH``), else what pip recorded installing it (PEP 610's ``direct_url.json``: the
folder, wheel or URL it came from), else the index with a note saying so.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

from arkworker.errors import BadInput

#: The folder of a project that holds arkworker's wheel or sdist, when it is vendored.
VENDOR = "vendor"

#: The ``--arkworker-source`` value that stands for the package index.
INDEX = "index"

#: What a vendored file may be: arkworker's wheel, or its sdist.
ARCHIVE_NAME = re.compile(r"arkworker-[0-9][^-/]*(?:-[^/]+\.whl|\.tar\.gz)")

#: The URL schemes pip installs a direct reference from, without an index, wherever it runs
#: (``git+file`` is left out: like a ``file://`` path, it exists only on this machine).
URL_SCHEMES = ("git+https", "git+ssh", "git+http", "https", "http")

#: The endings of an archive URL pip can install (before any ``#fragment``).
ARCHIVE_SUFFIXES = (".whl", ".tar.gz", ".zip")


@dataclass(frozen=True)
class ArkworkerSource:
    """How a project depends on arkworker: the line of its ``dependencies`` and what comes with it.

    :param requirement: the requirement in ``pyproject.toml``.
    :param origin: where it comes from, in words, for the project's README and the command's output.
    :param vendored: the path of arkworker's wheel or sdist in the project, when it is copied there.
    :param content: that file's bytes.
    :param note: what the user should know about this source, or ``""``.
    """

    requirement: str
    origin: str
    vendored: str = ""
    content: bytes = b""
    note: str = ""

    @property
    def kind(self) -> str:
        """``vendored``, ``url`` or ``index``: what the generated files do about it."""
        if self.vendored:
            return "vendored"
        return "url" if " @ " in self.requirement else "index"

    @property
    def needs_git(self) -> bool:
        """Whether pip needs the git program to install it (CI and Docker images lack it)."""
        return self.requirement.startswith("arkworker @ git+")


def index_requirement(version: str) -> str:
    """``arkworker`` pinned to the running release's compatible range (``>=0.1.0,<0.2``)."""
    parts = re.match(r"(\d+)\.(\d+)", version)
    if parts is None:
        return "arkworker"
    major, minor = int(parts[1]), int(parts[2])
    upper = f"{major}.{minor + 1}" if major == 0 else f"{major + 1}"
    return f"arkworker>={version},<{upper}"


def index_source(version: str, note: str = "") -> ArkworkerSource:
    """The plain requirement, for a package index that has arkworker."""
    return ArkworkerSource(index_requirement(version), "the package index", note=note)


def url_source(url: str) -> ArkworkerSource:
    """``arkworker @ URL``; a ``file://`` URL is a local source (see :func:`path_source`)."""
    scheme = url.partition("://")[0].lower()
    if scheme == "file":
        return path_source(Path(url2pathname(unquote(urlparse(url).path))))
    if scheme not in URL_SCHEMES or re.search(r"[\s\"'\\;]", url):
        raise BadInput(
            f"Unusable --arkworker-source {url!r}: give a git URL (git+https://host/arkworker.git@v0.1.0), "
            f"a URL ending in {', '.join(ARCHIVE_SUFFIXES)}, a local checkout, wheel or sdist, or {INDEX!r}."
        )
    if not scheme.startswith("git+") and not url.partition("#")[0].endswith(ARCHIVE_SUFFIXES):
        raise BadInput(
            f"--arkworker-source {url!r} is not an archive pip can install: give a URL ending in "
            f"{', '.join(ARCHIVE_SUFFIXES)}, or a git URL (git+{url})."
        )
    note = ""
    if scheme.startswith("git+") and "@" not in urlparse(url.partition("#")[0]).path:
        note = (
            "The git URL names no tag or commit: every install takes the branch's latest commit. "
            "Add @<tag> to pin it."
        )
    return ArkworkerSource(f"arkworker @ {url}", url, note=note)


def path_source(path: Path) -> ArkworkerSource:
    """arkworker's wheel or sdist ``path``, or the wheel built from the checkout ``path``, vendored."""
    shown = os.fspath(path)
    if path.is_dir():
        name, content = build_wheel(path)
        origin = f"built from {shown}"
    elif path.is_file():
        if not ARCHIVE_NAME.fullmatch(path.name):
            raise BadInput(
                f"--arkworker-source {shown} is not arkworker's wheel or sdist "
                "(arkworker-<version>-….whl or arkworker-<version>.tar.gz): give one, a checkout, a URL, "
                f"or {INDEX!r}."
            )
        name, content = path.name, path.read_bytes()
        origin = f"copied from {shown}"
    else:
        raise BadInput(
            f"--arkworker-source {shown} does not exist: give arkworker's checkout, a wheel or sdist, "
            f"a URL, or {INDEX!r}."
        )
    vendored = f"{VENDOR}/{name}"
    return ArkworkerSource(
        f"arkworker @ {{root:uri}}/{vendored}", f"{vendored}, {origin}", vendored=vendored, content=content
    )


def build_wheel(checkout: Path) -> tuple[str, bytes]:
    """The name and bytes of arkworker's wheel built from ``checkout`` (``pip wheel``)."""
    with tempfile.TemporaryDirectory(prefix="arkworker-wheel-") as folder:
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", folder]
        completed = subprocess.run(
            [*command, os.fspath(checkout)],
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode != 0:
            lines = [line.strip() for line in completed.stderr.splitlines() if line.strip()]
            errors = [line for line in lines if line.startswith("ERROR")] or lines or ["no output"]
            raise BadInput(
                f"Cannot build arkworker's wheel from {checkout} ({errors[-1]}): give --arkworker-source a "
                f"wheel file, a URL, or {INDEX!r}."
            )
        built = sorted(Path(folder).glob("*.whl"))
        if len(built) != 1 or not ARCHIVE_NAME.fullmatch(built[0].name):
            names = ", ".join(path.name for path in built) or "nothing"
            raise BadInput(
                f"--arkworker-source {checkout} is not arkworker's checkout (it builds {names}): give "
                f"arkworker's, a wheel file, a URL, or {INDEX!r}."
            )
        return built[0].name, built[0].read_bytes()


def resolve_source(value: str | None, version: str) -> ArkworkerSource:
    """The source ``--arkworker-source value`` names (None: :func:`default_source`)."""
    if value is None:
        return default_source(version)
    if value == INDEX:
        return index_source(version)
    if not value.strip():
        raise BadInput(
            f"--arkworker-source is empty: give arkworker's checkout, a wheel or sdist, a URL, or {INDEX!r}."
        )
    if "://" in value:
        return url_source(value)
    return path_source(Path(value).expanduser().absolute())


def running_checkout() -> Path | None:
    """The checkout the running arkworker is imported from, if it is one (not an installed wheel)."""
    root = Path(__file__).resolve().parents[2]
    if (root / "pyproject.toml").is_file() and (root / "templates").is_dir():
        return root
    return None


def default_source(version: str) -> ArkworkerSource:
    """The running arkworker: its checkout, else where pip installed it from, else the index."""
    checkout = running_checkout()
    if checkout is not None:
        return path_source(checkout)
    installed = installed_from()
    if installed is not None:
        return installed
    return index_source(
        version,
        note=(
            "arkworker was installed from a package index: the project depends on "
            f"{index_requirement(version)!r}, which installs only where that index is used. Give "
            "--arkworker-source (a checkout, a wheel, a URL) to make it install anywhere."
        ),
    )


def installed_from() -> ArkworkerSource | None:
    """The source pip recorded installing arkworker from (PEP 610), if it is still reachable."""
    try:
        text = metadata.distribution("arkworker").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    if not text:
        return None
    try:
        recorded = json.loads(text)
        url = str(recorded["url"])
    except (ValueError, KeyError, TypeError):
        return None
    vcs = recorded.get("vcs_info") or {}
    if vcs.get("vcs") == "git" and not url.startswith("file:"):
        commit = vcs.get("commit_id")
        return url_source(f"git+{url}@{commit}" if commit else f"git+{url}")
    if url.startswith("file:"):
        path = Path(url2pathname(unquote(urlparse(url).path)))
        return path_source(path) if path.exists() else None
    return url_source(url) if url.partition("#")[0].endswith(ARCHIVE_SUFFIXES) else None
