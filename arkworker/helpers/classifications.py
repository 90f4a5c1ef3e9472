"""Classifications: the corpus's ML classes, and classifications of elements."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any

from arkindex.exceptions import ErrorResponse

from arkworker.api.client import LANDED_EARLIER
from arkworker.helpers import validation as check
from arkworker.helpers.base import DEFAULT_BATCH_SIZE, HelperMixin, batches, logger
from arkworker.models import Element
from arkworker.storage.cache import Cache, CachedElement

#: The name of the lock under which a run loads and creates ML classes.
_CLASSES = "ML classes"

#: What Arkindex answers when a worker run classifies an element twice with one class.
DUPLICATE = "The fields element, worker_run, ml_class must make a unique set."


def _is_duplicate(error: ErrorResponse) -> bool:
    """Whether a 400 is the duplicate classification, in the old or the current error format."""
    if error.status_code != 400 or not isinstance(error.content, Mapping):
        return False
    details = list(error.content.get("non_field_errors") or [])
    details += [
        entry.get("detail") for entry in error.content.get("errors") or [] if isinstance(entry, Mapping)
    ]
    return DUPLICATE in details


class ClassificationMixin(HelperMixin):
    """ML classes of the corpus and classifications of elements."""

    @property
    def classes(self) -> dict[str, str]:
        """The corpus's ML classes loaded so far, ``{name: id}`` (replaced, never changed, when one is added)."""
        return self.__dict__.setdefault("_classes", {})

    @classes.setter
    def classes(self, value: dict[str, str]) -> None:
        self.__dict__["_classes"] = dict(value)

    def load_corpus_classes(self) -> None:
        """Load every ML class of the corpus into :attr:`classes`."""
        with self._run_locks(_CLASSES):
            self.classes = {
                item["name"]: item["id"] for item in self.paginate("ListCorpusMLClasses", id=self.corpus_id)
            }
        logger.info("Loaded %d ML classes in corpus (%s)", len(self.classes), self.corpus_id)

    def get_ml_class_id(self, ml_class: str) -> str | None:
        """The id of an ML class, created in the corpus if it does not exist (None in read-only mode then).

        Threads of a run asking for one missing class create it once: the first creates it,
        the others wait and find it.
        """
        check.text(ml_class, "ml_class")
        known = self.classes.get(ml_class)
        if known is not None:
            return known
        with self._run_locks(_CLASSES):
            if not self.classes:
                self.load_corpus_classes()
            if ml_class in self.classes:
                return self.classes[ml_class]
            if self._read_only_skip(f"ML class {ml_class!r}"):
                return None
            try:
                created = self.request("CreateMLClass", id=self.corpus_id, body={"name": ml_class})
            except ErrorResponse as error:
                if error.status_code != 400:
                    raise
                # Another worker created it meanwhile: its id is in the corpus now.
                logger.info("Reloading corpus classes to see if %s already exists", ml_class)
                self.load_corpus_classes()
                if ml_class not in self.classes:
                    raise check.fail(
                        f"Missing class {ml_class} even after reloading the corpus classes"
                    ) from error
                return self.classes[ml_class]
            self.classes = {**self.classes, ml_class: created["id"]}
        logger.info("Created a new ML class %s", created["id"])
        return created["id"]

    def retrieve_ml_class(self, ml_class_id: str) -> str:
        """The name of the ML class with this id."""
        if not self.classes:
            with self._run_locks(_CLASSES):  # loaded by one thread while the others wait
                if not self.classes:
                    self.load_corpus_classes()
        for name, class_id in self.classes.items():
            if class_id == ml_class_id:
                return name
        raise check.fail(f"Missing class with id ({ml_class_id}) in corpus ({self.corpus_id})")

    def create_classification(
        self,
        element: Element | CachedElement,
        ml_class: str,
        confidence: float,
        high_confidence: bool = False,
    ) -> dict[str, Any] | None:
        """Classify ``element`` with the class named ``ml_class`` (created if missing).

        A class this worker run already set on the element is a warning, and None; so is a
        classification whose answer was lost and whose repeat found it created.
        """
        check.element(element)
        check.text(ml_class, "ml_class")
        check.confidence(confidence)
        check.boolean(high_confidence, "high_confidence")
        if self._read_only_skip("classification"):
            return None
        body = {
            "element": check.element_id(element),
            "ml_class": self.get_ml_class_id(ml_class),
            "worker_run_id": self.worker_run_id,
            "confidence": confidence,
            "high_confidence": high_confidence,
        }
        with self._write_step():
            try:
                # The API refuses a second classification of the element with one class by one
                # worker run: sending it again after a lost answer cannot duplicate it.
                created = self.request("CreateClassification", body=body, accept_after_repeat=_is_duplicate)
            except ErrorResponse as error:
                if not _is_duplicate(error):
                    raise
                logger.warning("This worker run has already set %s on element %s", ml_class, body["element"])
                return None
            if created is LANDED_EARLIER:  # its answer, with the id, was lost
                return None
            self._cache_write(
                "classification",
                lambda db: db.CachedClassification.create(
                    id=created["id"],
                    element=body["element"],
                    class_name=ml_class,
                    confidence=created["confidence"],
                    state=created["state"],
                    worker_run_id=self.worker_run_id,
                ),
            )
        return created

    def create_classifications(
        self,
        element: Element | CachedElement,
        classifications: list[dict[str, Any]],
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> list[dict[str, Any]] | None:
        """Classify ``element`` with several classes (``ml_class`` name, ``confidence``, ``high_confidence``).

        Sent ``batch_size`` at a time; the created classifications in input order, each with
        its ``class_name``.
        """
        check.element(element)
        items = []
        for index, item in enumerate(check.non_empty_list(classifications, "classifications")):
            prefix = check.item_prefix("Classification", index, "classifications")
            item = dict(check.mapping(item, prefix))
            check.text(item.get("ml_class"), "ml_class", prefix)
            check.confidence(item.get("confidence"), prefix=prefix)
            if "high_confidence" in item:
                check.boolean(item["high_confidence"], "high_confidence", prefix)
            items.append(item)
        size = check.batch_size(batch_size)
        if self._read_only_skip("classifications"):
            return None
        parent = check.element_id(element)
        created: list[dict[str, Any]] = []
        for batch in batches(items, size):
            body = [{**item, "ml_class": self.get_ml_class_id(item["ml_class"])} for item in batch]
            with self._write_step():
                answer = self.request(
                    "CreateClassifications",
                    body={"parent": parent, "worker_run_id": self.worker_run_id, "classifications": body},
                )
                rows = [
                    {**row, "class_name": self.retrieve_ml_class(row["ml_class"])}
                    for row in answer["classifications"]
                ]
                self._cache_write(
                    "classifications", partial(self._cache_classifications, element_id=parent, rows=rows)
                )
            created.extend(rows)
        return created

    def _cache_classifications(self, db: Cache, element_id: str, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            db.CachedClassification.create(
                id=row["id"],
                element=element_id,
                class_name=row["class_name"],
                confidence=row["confidence"],
                state=row["state"],
                worker_run_id=self.worker_run_id,
            )
