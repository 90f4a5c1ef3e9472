"""Families of ``ctx`` helpers, one mixin class per module, inherited by the run context."""
