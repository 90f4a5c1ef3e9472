"""A run of a worker: its options and inputs, configuration, logging, the loops and the context."""
