"""The desktop GUI (the only package that imports PySide6)."""

from roadmark.app import qt_refcounts  # noqa: F401  (guards against a PySide6 6.12 bug first)
