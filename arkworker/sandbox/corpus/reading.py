"""Reading a corpus file: JSON, or YAML that refuses duplicate keys; errors as :class:`CorpusError`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from arkworker.sandbox.corpus.values import CorpusError


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML that refuses duplicate keys instead of silently keeping the last one."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    mapping = loader.construct_mapping(node, deep=deep)
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return mapping


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_corpus_file(path: Path, label: str) -> Any:
    """The data of a ``.yml``, ``.yaml`` or ``.json`` file, unchecked; ``label`` names it in errors."""
    suffix = path.suffix.lower()
    if suffix not in (".yml", ".yaml", ".json"):
        raise CorpusError(
            f"{label}: unsupported file extension {suffix or '(none)'!r}: use .yml, .yaml or .json"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise CorpusError(f"{label}: not UTF-8 text (byte {error.start})") from None
    except OSError as error:
        raise CorpusError(f"{label}: cannot read the corpus file ({error.strerror or error})") from None
    if suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise CorpusError(
                f"{label}: line {error.lineno}, column {error.colno}: invalid JSON ({error.msg})"
            ) from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass: safe
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = " ".join(str(getattr(error, "problem", None) or error).split())
        raise CorpusError(f"{label}: {where}invalid YAML ({problem})") from None
