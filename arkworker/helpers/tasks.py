"""``ctx`` helpers about the task: its parents' files, parent archives, the model and extras directories."""

from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from arkworker.api.client import Api
from arkworker.environment import Environment
from arkworker.errors import BadInput, ConfigurationError
from arkworker.storage.archives import ArchiveLimits, extract_tar_zst
from arkworker.storage.tasks import parent_file_paths, retrieve_parents

if TYPE_CHECKING:
    from arkworker.helpers.base import RunLocks

logger = logging.getLogger("arkworker")


class ExtrasDirNotFoundError(ConfigurationError):
    """The extras directory is not given, or does not exist (exit 1: the run is misconfigured)."""


class ExtrasDirInputError(ExtrasDirNotFoundError, BadInput):
    """The extras directory the user named (``--extras-dir``, the ``--config`` file) does not exist.

    A usage error like any bad command-line value: exit 2, not the exit 1 of a production
    run whose configuration came from Arkindex.
    """

    exit_code = 2


class TaskMixin:
    """Parent tasks and extra files (mixed into the run context)."""

    environment: Environment
    api: Api
    args: SimpleNamespace

    if TYPE_CHECKING:
        archive_limits: ArchiveLimits
        _run_locks: RunLocks

        @property
        def config(self) -> dict[str, Any]: ...

        @property
        def is_read_only(self) -> bool: ...

    @property
    def task_parents(self) -> list[str]:
        """The ids of the parent tasks, in order.

        ``TASK_PARENTS`` gives them without any call when set (a task bootstrapped outside
        Ponos); otherwise, in a Ponos task, ``RetrieveTask`` (``RetrieveTaskFromAgent`` on an
        instance without it); otherwise there are none. Asked once per run, by the first
        thread that needs them (the others wait for its answer).
        """
        with self._run_locks("task parents"):
            if "_task_parents" not in self.__dict__:
                self.__dict__["_task_parents"] = self._retrieve_task_parents()
        parents: list[str] = self.__dict__["_task_parents"]
        return parents

    def _retrieve_task_parents(self) -> list[str]:
        if self.environment.task_parents is not None:
            return list(self.environment.task_parents)
        if self.environment.ponos_task is None:
            return []
        return retrieve_parents(self.api, self.environment.ponos_task)

    def find_parents_file_paths(self, filename: str | Path) -> list[Path]:
        """The files named ``filename`` that the parent tasks left, in parent order.

        With ``ARKINDEX_TASK_CHUNK=<n>`` the chunk's variant (``name_<n>.ext``) is looked
        for too, right after the plain name in each parent.
        """
        return parent_file_paths(
            self.environment.task_data_dir, self.task_parents, str(filename), self.environment.task_chunk
        )

    def extract_parent_archives(self, archive_name: str | Path, destination: str | Path) -> list[Path]:
        """Extract every parent's ``archive_name`` (a ``.tar.zst``) into ``destination``.

        Archives are extracted in parent order, so a later parent's file replaces an earlier
        one with the same path. Returns the archives extracted. Unsafe or corrupt archives
        raise :class:`~arkworker.storage.archives.ArchiveError` naming the file.
        """
        archives = self.find_parents_file_paths(archive_name)
        for archive in archives:
            extract_tar_zst(archive, destination, limits=self.archive_limits)
        return archives

    @cached_property
    def model_dir(self) -> Path | None:
        """The directory of the worker run's model (``ARKINDEX_MODEL_DIR``), None when unset.

        A directory that does not exist is a warning, not an error (arkindex-base-worker's
        rule): the worker may not need it, and :attr:`extras_dir` then looks further.
        """
        path = self.environment.model_dir
        if path is None:
            logger.debug("Missing ARKINDEX_MODEL_DIR environment variable, using extra_files old mode")
        elif not path.is_dir():
            logger.warning("Model directory %s is missing: check ARKINDEX_MODEL_DIR", path)
        return path

    @property
    def extras_dir(self) -> Path:
        """The directory of extra files (models, dictionaries...) the worker was given.

        In a Ponos task: the model directory (``ARKINDEX_MODEL_DIR``) when it exists, else
        ``<task data dir>/extra_files`` when it exists, else the work directory. Locally: the
        configuration's ``extras_dir`` when the key is present (even empty), else
        ``--extras-dir``.
        """
        if self.environment.ponos_task is not None:
            if self.model_dir is not None and self.model_dir.is_dir():
                return self.model_dir
            extra_files = self.environment.task_data_dir / "extra_files"
            return extra_files if extra_files.is_dir() else self.environment.work_dir
        value = self.config.get("extras_dir", self.args.extras_dir)
        if not value:
            raise ExtrasDirNotFoundError(
                "No extras directory: set 'extras_dir' in the configuration file or pass --extras-dir."
            )
        path = Path(value)
        if not path.is_dir():
            # In read-only mode the configuration is the user's --config file.
            from_user = self.is_read_only or "extras_dir" not in self.config
            raise (ExtrasDirInputError if from_user else ExtrasDirNotFoundError)(
                f"The extras directory {path} does not exist or is not a directory: fix 'extras_dir' "
                "or --extras-dir."
            )
        return path
