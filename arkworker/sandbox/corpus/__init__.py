"""Corpus files: the data a sandbox is seeded with, validated with one-line errors.

A corpus file is YAML (``.yml``/``.yaml``) or JSON (``.json``). Only ``corpus.name`` is
required at the top; every section has a default, and inside a section only what
identifies an entry is required (an element's ``name`` and ``type``, an image's ``width``
and ``height``, a transcription's ``text``, a type's ``slug``). Every id is optional: a
missing id is derived with ``uuid5`` from the corpus name and the entry's position, so the
same file always gives the same ids (tests and ``--element`` arguments can rely on them)::

    api_level: current                   # or legacy: the Arkindex generation to serve
    corpus: {name: Demo corpus}          # also id, description, public
    types:                               # default: the types the elements use, named after
                                         # their slug; only "folder" is a folder type
      - {slug: folder, display_name: Folder, folder: true}
      - page                             # shorthand for {slug: page}
    images:
      - {name: scan-1, width: 2000, height: 3000, url: https://iiif.example.com/iiif/2/scan-1}
      - {name: scan-2, path: scans/2.jpg}  # a local file (relative to this file), served by
                                           # the sandbox's IIIF server; size read from the file
    elements:                            # a tree; image: an image's id or name
      - name: Volume 1
        type: folder
        children:
          - name: Page 1
            type: page
            image: scan-1                # polygon defaults to the full image
            transcriptions: ["Manual text", {text: Other, confidence: 0.5}]
    worker_run:                          # all optional: a default run and process exist; see .run
      process: {mode: workers, activity_state: ready, skip_elements_json: false, elements: [Page 1]}
      worker: {slug: demo, name: Demo}
      version: {configuration: {configuration: {threshold: 0.5}}}   # fields: see .configuration
    secrets: {path/to/key.json: '{"api": "xyz"}'}
    tasks: [{slug: init}, {slug: worker, parents: [init]}]   # see .tasks
    datasets:                            # see .datasets
      - {name: Lines, sets: {train: [Page 1]}, archive: lines.tar.zst}
    models:                              # see .models
      - {name: Line detector, versions: [{tag: v1}]}

Annotation sections (``classes``, ``entity_types``, ``entities`` at the top; ``classifications``
and ``metadata`` on elements) are described in :mod:`.annotations`.

Every problem raises :class:`CorpusError` whose message is one line naming the file and
the location, e.g. ``demo.yml: elements[0].children[2].type: unknown type 'paeg'
(declared: folder, page, line)``.

The package reads files (:mod:`.reading`), checks values (:mod:`.values`), parses the core
sections (:mod:`.parser`, :mod:`.run`, :mod:`.local_images`) and runs the optional ones, each a
:class:`~.section.Section` in its own module (:mod:`.secrets`, :mod:`.tasks`,
:mod:`.datasets`, :mod:`.annotations`, :mod:`.models`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from arkworker.sandbox.corpus.parser import Parser
from arkworker.sandbox.corpus.reading import read_corpus_file
from arkworker.sandbox.corpus.spec import CorpusSpec
from arkworker.sandbox.corpus.values import ID_NAMESPACE, CorpusError

__all__ = ["DEMO_CORPUS", "ID_NAMESPACE", "CorpusError", "CorpusSpec", "load_corpus"]

DEMO_CORPUS = Path(__file__).parent.parent / "demo" / "corpus.yml"


def load_corpus(
    source: str | Path | Mapping[str, Any] | CorpusSpec | None,
    declared_fields: Sequence[Mapping[str, Any]] = (),
) -> CorpusSpec:
    """Validate a corpus file (YAML or JSON by extension), a mapping, or None for the demo corpus.

    ``declared_fields`` are the worker's own configuration fields (in the format of a
    declaration file's ``configuration`` list): their defaults and secret flags serve the
    keys the corpus leaves unset (see :mod:`.configuration`). A parsed ``CorpusSpec`` is
    returned as it is.
    """
    if isinstance(source, CorpusSpec):
        return source
    if source is None:
        source = DEMO_CORPUS
    if isinstance(source, Mapping):
        return Parser("<corpus mapping>", declared_fields=declared_fields).parse(source)
    return Parser(str(source), Path(source).parent, declared_fields).parse(
        read_corpus_file(Path(source), str(source))
    )
