"""API payloads as dictionaries with attribute access.

Arkindex answers are JSON objects; workers written for the reference library read them as
``element.zone.image.url`` as well as ``element["zone"]["image"]["url"]``, and build models
from plain dicts in their tests. These classes keep both working: a model *is* a ``dict``
(serialisable, comparable to a dict) whose nested objects are models too.

The image methods import :mod:`arkworker.images` when called: it brings Pillow, requests and
the API client, which a worker's import and its ``--help`` (through the options' UUID
check) do not need.
"""

from __future__ import annotations

import contextlib
import inspect
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from PIL.Image import Image

    from arkworker.images.downloads import DownloadSettings


class LocalExport(Protocol):
    """What a dataset needs of its corpus export on disk (the dataset loop attaches one, from storage)."""

    path: Path

    def open_database(self, name: str | None = None) -> sqlite3.Connection: ...


class LocalArchive(LocalExport, Protocol):
    """What a dataset needs of its archive on disk (the dataset loop attaches one, from storage)."""

    def extract(self, destination: str | Path | None = None) -> Path: ...


def _wrap(value: Any) -> Any:
    if isinstance(value, ApiModel):
        return value
    if isinstance(value, Mapping):
        return ApiModel(value)
    if isinstance(value, list):
        return [_wrap(item) for item in value]
    return value


class ApiModel(dict):
    """A dict whose keys are also attributes; nested mappings are wrapped on the way in."""

    def __init__(self, data: Mapping[str, Any] | Iterable[tuple[str, Any]] = (), **kwargs: Any) -> None:
        super().__init__()
        self.update(data, **kwargs)

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, _wrap(value))

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | {key for key in self if isinstance(key, str)})

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict.__repr__(self)})"

    def __str__(self) -> str:
        return f"{type(self).__name__} ({self.get('id')})"


class PrefetchesImage:
    """An element's image downloaded ahead of its handler (``prefetch_images``), handed over once.

    The run downloads the image while earlier elements are processed and leaves it on the
    element: the handler's first ``open_image()`` with the same arguments takes it (later
    calls download again), so memory holds at most the images of the elements fetched ahead.
    Mixed into :class:`Element` and the cache's element.
    """

    if TYPE_CHECKING:

        def open_image(self, *args: Any, **kwargs: Any) -> Any: ...

    def prefetch_image(self, **arguments: Any) -> None:
        """Download the image ``open_image(**arguments)`` gives, and keep it for that call."""
        image = self.open_image(**arguments)
        self.__dict__["_prefetched_image"] = (self._image_call(arguments), image)

    def _take_prefetched(self, arguments: dict[str, Any]) -> Any:
        """The image kept for ``open_image(**arguments)``, once; None when there is none for them."""
        kept = self.__dict__.pop("_prefetched_image", None)
        if kept is None or kept[0] != self._image_call(arguments):
            return None
        return kept[1]

    def _image_call(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """``arguments`` with the defaults of ``open_image`` filled in: two spellings of one call match."""
        bound = inspect.signature(self.open_image).bind(**arguments)
        bound.apply_defaults()
        return dict(bound.arguments)


class Element(PrefetchesImage, ApiModel):
    """An element as returned by RetrieveElement or a listing.

    An element handed out by a run carries the run's download settings (:attr:`downloads`),
    so its images download under the run's retry policy and timeout in any thread; one built
    by hand follows :func:`arkworker.images.downloads.current_settings`.
    """

    @property
    def downloads(self) -> DownloadSettings | None:
        """The settings this element's images download under; None: the current ones."""
        return self.__dict__.get("_downloads")

    def attach_downloads(self, settings: DownloadSettings | None) -> Element:
        """Set the download settings of this element (the run's) and return it; used by the run."""
        self.__dict__["_downloads"] = settings
        return self

    def __str__(self) -> str:
        kind = self.get("type")
        if isinstance(kind, Mapping):
            kind = kind.get("display_name") or kind.get("slug")
        return f"{kind} {self.get('name')} ({self.get('id')})"

    @property
    def polygon(self) -> list[list[float]]:
        """The element's polygon; a ValueError when the element has no zone."""
        zone = self.get("zone")
        if not zone:
            raise ValueError(f"Element {self.get('id')} has no zone")
        return zone["polygon"]

    def resize_zone_url(self, size: str = "full") -> str:
        """The IIIF URL of the element's zone at another IIIF size (``"500,"``, ``"!200,200"``...)."""
        zone = self.get("zone")
        if not zone:
            raise ValueError(f"Element {self.get('id')} has no zone")
        if size == "full":
            return zone["url"]
        region, _size, rotation, quality = zone["url"].rsplit("/", 3)
        return "/".join((region, size, rotation, quality))

    # -- image (see arkworker.images) ------------------------------------------------------------

    def image_url(self, size: str = "full") -> str | None:
        """The IIIF URL of the whole image at ``size`` (the S3 URL when set), None without a zone."""
        from arkworker import images

        zone = images.api_zone(self)
        if zone is None:
            return None
        return zone.s3_url or images.iiif_url(zone.url, "full", size)

    @property
    def requires_tiles(self) -> bool:
        """Whether the element's full-resolution crop is larger than its image server allows.

        An S3 URL does not change the answer: it only serves ``use_full_image``, crops still
        come from the IIIF server (the reference said False whenever an S3 URL was set, yet
        asked the IIIF server for the crop).
        """
        from arkworker import images

        zone = images.api_zone(self)
        if zone is None:
            return False
        return zone.exceeds_server(*zone.region()[2:])

    def open_image(
        self,
        mode: str | None = "RGB",
        *,
        max_width: int | None = None,
        max_height: int | None = None,
        use_full_image: bool = False,
        image_format: str = "jpg",
    ) -> Image:
        """The element's pixels as a Pillow image, oriented like the element.

        The polygon's bounding box (the whole image with ``use_full_image``), scaled down
        to fit ``max_width`` x ``max_height`` with its ratio kept; ``image_format="png"``
        asks the IIIF server for lossless pixels. Raises ValueError without a zone and
        :class:`arkworker.images.ImageError` when the image cannot be downloaded or read.
        """
        arguments = {
            "mode": mode,
            "max_width": max_width,
            "max_height": max_height,
            "use_full_image": use_full_image,
            "image_format": image_format,
        }
        prefetched = self._take_prefetched(arguments)
        if prefetched is not None:
            return prefetched
        from arkworker import images

        return images.open_zone(
            images.element_zone(self),
            mode,
            max_width=max_width,
            max_height=max_height,
            use_full_image=use_full_image,
            image_format=image_format,
            settings=self.downloads,
        )

    @contextlib.contextmanager
    def open_image_tempfile(self, format: str = "jpeg", **kwargs: Any) -> Iterator[IO[bytes]]:
        """:meth:`open_image` saved in a temporary file (``.name`` is its path), deleted on exit."""
        from arkworker import images

        zone = images.element_zone(self)
        with images.open_zone_tempfile(zone, format, settings=self.downloads, **kwargs) as file:
            yield file


class Transcription(ApiModel):
    """A transcription payload."""


class Artifact(ApiModel):
    """A task artifact, as listed by ListArtifacts: ``id``, ``path``, ``size``, ``content_type``..."""


class CorpusExport(ApiModel):
    """A SQLite export of a corpus, as ListExports lists it: ``id``, ``state``, ``dataset_id``, ``created``..."""


class Dataset(ApiModel):
    """A dataset (RetrieveDataset payload); shown as ``Dataset (<id>)``.

    While a run processes its sets, the dataset's data is on disk. On today's Arkindex it is
    a SQLite export of the dataset's corpus: ``downloaded_export`` is its path (a key, as the
    reference names it) and ``export_id`` the export's id. On an instance without exports it
    is the dataset's ``.tar.zst`` archive: :attr:`archive` is its path, :meth:`extract`
    unpacks it safely. :meth:`open_database` opens the SQLite database of either. The
    framework removes what it downloaded or extracted once the run moves on.
    """

    @property
    def filepath(self) -> str:
        """The archive's file name, ``<dataset id>.tar.zst``, in the extras directory and as an artifact."""
        return f"{self.get('id')}.tar.zst"

    @property
    def archive(self) -> Path:
        """The local path of the dataset's archive (only while its sets are processed)."""
        return self._local_archive().path

    def extract(self, destination: str | Path | None = None) -> Path:
        """Unpack the archive safely into ``destination`` (default: a directory removed with it)."""
        return self._local_archive().extract(destination)

    def open_database(self, name: str | None = None) -> sqlite3.Connection:
        """Open the dataset's SQLite database read-only: its corpus export, or the one in its archive.

        An archive is extracted first; ``name`` picks a database when it holds several
        (``db.sqlite``). The connection is closed when the run moves to another dataset.
        """
        data = self.__dict__.get("_export") or self.__dict__.get("_archive")
        if data is None:
            raise RuntimeError(self._unavailable("database"))
        return data.open_database(name)

    def attach_archive(self, archive: LocalArchive | None) -> None:
        """Set (or clear, with None) the local archive; used by the dataset loop."""
        self.__dict__["_archive"] = archive

    def attach_export(self, export: LocalExport | None) -> None:
        """Set (or clear, with None) the corpus export on disk and ``downloaded_export``; used by the loop."""
        self.__dict__["_export"] = export
        if export is None:
            self.pop("downloaded_export", None)
        else:
            self["downloaded_export"] = export.path

    def _local_archive(self) -> LocalArchive:
        archive = self.__dict__.get("_archive")
        if archive is None:
            if self.__dict__.get("_export") is not None:
                raise RuntimeError(
                    f"{self} comes from a corpus export, not an archive (this Arkindex builds no dataset "
                    "archives): its SQLite file is dataset.downloaded_export, which "
                    "dataset.open_database() opens."
                )
            raise RuntimeError(self._unavailable("archive"))
        return archive

    def _unavailable(self, what: str) -> str:
        return (
            f"The {what} of {self} is only available while the run processes its sets "
            "(in a @app.dataset_set handler)."
        )


class Set(ApiModel):
    """A dataset set: its ``name`` and its :class:`Dataset` (``dataset``)."""

    def __str__(self) -> str:
        dataset = self.get("dataset")
        return f"Set ({self.get('name')}) from {Dataset(dataset) if dataset else 'no dataset'}"


def normalise_uuid(value: Any) -> str | None:
    """The canonical text of a UUID (lowercase, dashed), or None if ``value`` is not one."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        return None
