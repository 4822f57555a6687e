"""Handlers of the ``roadmark`` sub-commands, one module per group."""
