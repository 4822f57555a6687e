"""Errors about model files, class mappings and devices (no torch needed to import them)."""

from __future__ import annotations

from roadmark.core.errors import RoadmarkError


class ModelError(RoadmarkError):
    """A model cannot be made, loaded or run."""


class ModelFileError(ModelError):
    """A model file or folder is missing, corrupt, or its manifest is malformed."""


class UnsafeModelFileError(ModelFileError):
    """A weights file holds pickled objects that would run code when loaded; refused."""


class ClassMappingError(ModelError):
    """A model's classes do not map onto the project's label schema."""


class DeviceError(ModelError):
    """The requested device does not exist on this machine."""
