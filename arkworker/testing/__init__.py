"""Testing workers: the pytest plugin that runs them on a sandbox."""
