"""The installed version of arkworker, in a module of its own so that any layer can read it."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("arkworker")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
