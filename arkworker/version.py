"""The installed arkworker's version, importable from any layer (``arkworker --version``)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("arkworker")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
