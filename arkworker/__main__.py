"""``python -m arkworker``: the same as the ``arkworker`` command."""

from arkworker.cli import main

main()
