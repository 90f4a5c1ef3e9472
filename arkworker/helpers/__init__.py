"""Families of helpers available on the run context (``ctx``), one mixin class per family."""
