"""Dataset formats: a registry of small modules, each with a stable id, a version and
capabilities (after CVAT's ``dataset_manager/formats/registry.py``).

A format is a subclass of :class:`DatasetFormat` decorated with :func:`register_format`;
registering a second class under an id raises :class:`DuplicateFormatError`. The built-in
formats live in the modules of :data:`BUILTIN_FORMAT_MODULES` and are imported the first
time the registry is asked for them, so ``import roadmark.io.formats`` stays cheap. A
format that only exports (model predictions, for example) declares
:attr:`Capability.EXPORT` without :attr:`Capability.IMPORT`.

Formats read and write plain data (:class:`~roadmark.io.formats.common.ImportedFrame`,
:class:`~roadmark.io.formats.common.ExportFrame` and :mod:`roadmark.core` objects); the
jobs in :mod:`roadmark.io.formats.jobs` do the project work around them.
"""

from __future__ import annotations

import importlib
import re
from abc import ABC
from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, TypeVar

from roadmark.io.formats.common import ExportContext, ExportFrame, ImportContext, ImportedFrame
from roadmark.io.formats.errors import DuplicateFormatError, FormatError

if TYPE_CHECKING:
    from roadmark.io.formats.stored_frame import StoredFrame

BUILTIN_FORMAT_MODULES: tuple[str, ...] = (
    "roadmark.io.formats.coco",
    "roadmark.io.formats.cityscapes",
    "roadmark.io.formats.kitti",
    "roadmark.io.formats.bdd100k",
    "roadmark.io.formats.predictions",
    "roadmark.io.formats.coco_panoptic",
    "roadmark.io.formats.yolo",
)
_ID = re.compile(r"^[a-z][a-z0-9_-]*$")


class Capability(StrEnum):
    """What a format can carry."""

    IMPORT = "import"
    EXPORT = "export"
    BOXES = "boxes"
    REGIONS = "regions"
    HOLES = "holes"
    CROWD = "crowd"
    Z_ORDER = "z_order"
    SOFT_DELETE = "soft_delete"
    ATTRIBUTES = "attributes"
    TRACKS = "tracks"
    SCORES = "scores"
    PROVENANCE = "provenance"
    LABEL_MAPS = "label_maps"


class DatasetFormat(ABC):
    """A dataset format: override :meth:`read` and/or :meth:`write`.

    Attributes:
        id: Stable id used on the command line (``--format ID``) and in stored data.
        version: Version of this format module's reading/writing rules.
        title: One line for menus and help.
        capabilities: What it imports/exports and carries.
        output: ``"folder"`` or ``"file"``: what ``roadmark export ... OUT`` makes.
        suffix: Expected suffix of an output file (``".json"``), if any.
        mask_files: Import reads mask files from a folder that ``--masks`` may name.
        import_chunk: Frames an import reads, checks and stores together. A reader whose
            worker processes work ahead takes fewer, so that its workers keep busy while
            a chunk is stored.
        reads_in_workers: The writer hands frames to worker processes, which can read
            each frame's objects from the project file themselves: an export of enough
            frames from a project file calls :meth:`write_stored` instead of
            :meth:`write` (see :mod:`roadmark.io.formats.stored_frame`).
    """

    id: ClassVar[str]
    version: ClassVar[str]
    title: ClassVar[str]
    capabilities: ClassVar[frozenset[Capability]]
    output: ClassVar[str] = "folder"
    suffix: ClassVar[str] = ""
    mask_files: ClassVar[bool] = False
    import_chunk: ClassVar[int] = 64
    reads_in_workers: ClassVar[bool] = False

    def can(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def read(self, source: Path, context: ImportContext) -> Iterator[ImportedFrame]:
        """Read a dataset, yielding its frames with their objects.

        Raises:
            FormatError: Bad input, naming the file and the entry.
        """
        raise FormatError(f"the {self.id} format cannot be imported", field="--format")

    def write(self, frames: Iterable[ExportFrame], target: Path, context: ExportContext) -> None:
        """Write ``frames`` to ``target`` (a new folder or file; the job moves it into place).

        Raises:
            FormatError: Something cannot be written.
        """
        raise FormatError(f"the {self.id} format cannot be exported", field="--format")

    def write_stored(
        self, frames: Iterable[StoredFrame], target: Path, context: ExportContext
    ) -> None:
        """:meth:`write` of frames whose objects the worker processes read themselves
        (:meth:`StoredFrame.load`); only for formats with :attr:`reads_in_workers`."""
        raise FormatError(f"the {self.id} format's writer does not read frames in workers")

    def companions(self, target: Path) -> list[Path]:
        """Paths an export to ``target`` also makes beside it (COCO panoptic's PNG folder).

        :meth:`write` writes them beside the staged target (same names); the export job
        refuses to replace them unless asked and moves them into place with the target.
        """
        return []


F = TypeVar("F", bound=type[DatasetFormat])
_REGISTRY: dict[str, type[DatasetFormat]] = {}
_builtins_loaded = False


def register_format(cls: F) -> F:
    """Class decorator adding a format to the registry.

    Raises:
        DuplicateFormatError: Another class is registered under the same id.
        ValueError: The class lacks an id, version or capabilities, or its id is malformed.
    """
    for name in ("id", "version", "title", "capabilities"):
        if not hasattr(cls, name):
            raise ValueError(f"format class {cls.__name__} has no {name!r}")
    if not _ID.match(cls.id):
        raise ValueError(f"format id {cls.id!r} must be lowercase letters, digits, - or _")
    if cls.output not in ("folder", "file"):
        raise ValueError(f"format {cls.id!r}: output must be 'folder' or 'file'")
    if not {Capability.IMPORT, Capability.EXPORT} & set(cls.capabilities):
        raise ValueError(f"format {cls.id!r} neither imports nor exports")
    existing = _REGISTRY.get(cls.id)
    if existing is not None and _qualified(existing) != _qualified(cls):
        raise DuplicateFormatError(
            f"format id {cls.id!r} is registered twice: {_qualified(existing)} and "
            f"{_qualified(cls)}"
        )
    _REGISTRY[cls.id] = cls
    return cls


def unregister_format(format_id: str) -> None:
    """Remove a format (for tests and plugins that replace one)."""
    _REGISTRY.pop(format_id, None)


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _load_builtins() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        for module in BUILTIN_FORMAT_MODULES:
            importlib.import_module(module)
        _builtins_loaded = True


def registered_formats(capability: Capability | None = None) -> dict[str, type[DatasetFormat]]:
    """Registered format classes by id (sorted), optionally only those with ``capability``."""
    _load_builtins()
    return {
        format_id: cls
        for format_id, cls in sorted(_REGISTRY.items())
        if capability is None or capability in cls.capabilities
    }


def get_format(format_id: str, capability: Capability | None = None) -> DatasetFormat:
    """An instance of the format registered as ``format_id``.

    Raises:
        FormatError: No such format, or it lacks ``capability``.
    """
    known = registered_formats(capability)
    cls = known.get(format_id)
    if cls is None:
        what = f" that can {capability.value}" if capability else ""
        raise FormatError(
            f"unknown format {format_id!r}; formats{what}: {', '.join(known) or 'none'}",
            field="--format",
        )
    return cls()


__all__ = [
    "BUILTIN_FORMAT_MODULES",
    "Capability",
    "DatasetFormat",
    "DuplicateFormatError",
    "get_format",
    "register_format",
    "registered_formats",
    "unregister_format",
]
