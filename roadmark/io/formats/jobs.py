"""Import and export jobs: a format plus the project work around it.

:func:`import_dataset` streams the dataset: frames are read, checked and written a chunk
at a time (memory stays flat in the dataset's size), adding the referenced images as
frames when the project does not have them, all inside one transaction: a problem found
anywhere (a bad field in the last file, an unknown label) or a cancel rolls everything
back, and the project is as it was. :func:`export_dataset` writes into a hidden staging
folder next to the target and moves it into place at the end; a failed or cancelled
export leaves nothing behind.

Both are Qt-free and take a :class:`~roadmark.io.formats.common.Job` for progress and
cancellation, so the command line and a GUI worker thread call them the same way.
"""

from __future__ import annotations

import dataclasses
import gc
import shutil
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roadmark.core.annotation import Frame, utc_now
from roadmark.core.frame_spec import parse_frame_spec
from roadmark.io.formats import Capability, get_format, targets
from roadmark.io.formats import sources as import_sources
from roadmark.io.formats.common import (
    ExportContext,
    ExportFrame,
    FormatWarning,
    ImportContext,
    ImportedFrame,
    Job,
    LabelMapper,
    WarningLog,
    checked_attributes,
    common_root,
)
from roadmark.io.formats.errors import FormatError
from roadmark.io.formats.parallel import raise_collection_threshold, uses_processes
from roadmark.io.formats.stored_frame import OBJECTS_READ, StoredFrame, read_frame
from roadmark.io.frames import VideoReader, scan
from roadmark.io.predictions import read_prediction
from roadmark.io.store import FrameSpec, Project


@dataclass
class ImportReport:
    """What an import did.

    Attributes:
        format: Format id.
        source: What was read.
        frames: Frames in the dataset.
        frames_added: Frames new to the project.
        objects: Objects written.
        labels_added: Labels added to the schema (``--add-labels``).
        warnings: Repairs and other changes to report.
    """

    format: str
    source: str
    frames: int
    frames_added: int
    objects: int
    labels_added: list[str]
    warnings: list[FormatWarning] = field(default_factory=list)


@dataclass
class ExportReport:
    """What an export wrote.

    Attributes:
        format: Format id.
        target: The file or folder made.
        frames: Frames written.
        objects: Live objects on those frames.
        warnings: What could not be written exactly.
        stats: The format's own figures (polygon counts, agreement measures).
    """

    format: str
    target: str
    frames: int
    objects: int
    warnings: list[FormatWarning] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)


def import_dataset(
    project: Project,
    format_id: str,
    source: str | Path,
    *,
    images: str | Path | None = None,
    add_labels: bool = False,
    mapping: Mapping[str, str] | None = None,
    replace: bool = False,
    masks: str | Path | None = None,
    job: Job | None = None,
) -> ImportReport:
    """Import a dataset into ``project`` in one transaction.

    Args:
        project: An open, writable project.
        format_id: A registered format that can import.
        source: The dataset's file or folder.
        images: Folder to find the images in (default: relative to ``source``).
        add_labels: Add labels the schema lacks instead of failing.
        mapping: Dataset label name -> schema label name.
        replace: Replace the objects of frames that have some; by default imported objects
            go on top of them.
        masks: Folder of the dataset's mask files (COCO panoptic PNGs), where the format
            would not find them by default.
        job: Progress and cancellation.

    Raises:
        FormatError: Bad input (file and field named), unknown labels, a missing image.
        JobCancelled: Cancelled; nothing was written.
    """
    job = job or Job()
    fmt = get_format(format_id, Capability.IMPORT)
    source = Path(source)
    image_folder = Path(images) if images is not None else None
    if image_folder is not None and not image_folder.is_dir():
        raise FormatError("no such folder", path=str(image_folder), field="--images")
    mask_folder = Path(masks) if masks is not None else None
    if mask_folder is not None and not fmt.mask_files:
        raise FormatError(f"the {fmt.id} format reads no mask files", field="--masks")
    if mask_folder is not None and not mask_folder.is_dir():
        raise FormatError("no such folder", path=str(mask_folder), field="--masks")
    original_schema = project.schema
    mapper = LabelMapper(original_schema, mapping, add_missing=add_labels)
    context = ImportContext(
        labels=mapper,
        images=image_folder,
        user=project.user,
        now=utc_now(),
        source=f"import:{fmt.id}",
        warnings=WarningLog(),
        job=job,
        masks=mask_folder,
    )
    totals = {"frames": 0, "added": 0, "objects": 0}
    seen: dict[tuple[Path, int | None], str] = {}
    had_frame: set[tuple[str, int | None]] = set()  # frames the project had before
    schema_labels = len(mapper.added)
    with project.transaction() as conn, _bulk_allocation():
        # The project's frames by path and video frame, kept up to date as chunks add
        # frames (listing every frame again for each chunk made large imports quadratic).
        known = _frames_by_key(project)
        originals = import_sources.Recorder(conn, fmt.id)
        for chunk in _chunks(fmt.read(source, context), fmt.import_chunk):
            for imported in chunk:
                imported.objects = [
                    checked_attributes(
                        obj,
                        mapper.schema,
                        context.warnings,
                        where=imported.where,
                        field=f"object {index}",
                    )
                    for index, obj in enumerate(imported.objects)
                ]
            _check_unique_images(chunk, seen)
            if len(mapper.added) != schema_labels:  # labels the chunk's objects use
                project.set_schema(mapper.schema)
                schema_labels = len(mapper.added)
            specs, keys, present = _frame_specs(project, chunk, job, known)
            had_frame.update(present)
            if specs:
                ids, _ = project.add_frames(specs)
                if len(ids) == len(specs):
                    for key, frame_id, spec in zip(keys, ids, specs, strict=True):
                        known[key] = (frame_id, spec.width, spec.height)
                else:  # some were there after all (another writer, the same file twice)
                    known = _frames_by_key(project)
                totals["added"] += len(specs)
            job.begin("writing", totals["frames"] + len(chunk))  # the total known so far
            for position, imported in enumerate(chunk, start=totals["frames"] + 1):
                job.check()
                key = (project.relative_path(imported.image), imported.video_frame)
                frame_id = known[key][0]
                if replace:
                    stored = project.replace_objects(frame_id, imported.objects)
                else:
                    if key in had_frame and len(project.objects(frame_id)):
                        context.warnings.warn(
                            "the frame had objects already; imported ones are on top of "
                            "them (use --replace to replace them)",
                            path=imported.where,
                        )
                    stored = project.add_objects(frame_id, imported.objects)
                if imported.originals:
                    originals.record(stored, imported.originals)
                totals["objects"] += len(stored)
                job.report(position, totals["frames"] + len(chunk))
            totals["frames"] += len(chunk)
        mapper.check(str(source))  # unknown labels: everything above rolls back
    return ImportReport(
        format=fmt.id,
        source=str(source),
        frames=totals["frames"],
        frames_added=totals["added"],
        objects=totals["objects"],
        labels_added=list(mapper.added),
        warnings=list(context.warnings),
    )


@contextmanager
def _bulk_allocation() -> Iterator[None]:
    """Fewer cyclic garbage collections while a dataset is read or written: parsing makes
    millions of lists and tuples that live until their chunk is stored, and every full
    collection walks all of them (about 15 % of a Cityscapes import; an export reads every
    frame's objects); reference counting frees them anyway. The threshold is restored
    afterwards."""
    before = raise_collection_threshold()
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _chunks(frames: Iterator[ImportedFrame], size: int) -> Iterator[list[ImportedFrame]]:
    chunk: list[ImportedFrame] = []
    for imported in frames:
        chunk.append(imported)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _check_unique_images(
    frames: Sequence[ImportedFrame], seen: dict[tuple[Path, int | None], str]
) -> None:
    for imported in frames:
        key = (imported.image, imported.video_frame)
        if key in seen:
            raise FormatError(
                f"annotates the same image as {seen[key]} ({imported.image})",
                path=imported.where,
                field="image",
            )
        seen[key] = imported.where


FrameKey = tuple[str, int | None]  # a frame's stored path and video frame


def _frames_by_key(project: Project) -> dict[FrameKey, tuple[int, int, int]]:
    """The project's frames: ``(path, video_frame) -> (id, width, height)``."""
    return {(f.path, f.video_frame): (f.id, f.width, f.height) for f in project.frames()}


def _frame_specs(
    project: Project,
    frames: Sequence[ImportedFrame],
    job: Job,
    known: dict[FrameKey, tuple[int, int, int]],
) -> tuple[list[FrameSpec], list[FrameKey], dict[FrameKey, int]]:
    """Specs of the frames to add with their keys, and the ids of those the project has
    (``known``, see :func:`_frames_by_key`; sizes checked)."""
    present: dict[FrameKey, int] = {}
    new_images: list[tuple[FrameKey, ImportedFrame]] = []
    specs: list[FrameSpec] = []
    keys: list[FrameKey] = []
    for imported in frames:
        key = (project.relative_path(imported.image), imported.video_frame)
        frame = known.get(key)
        if frame is not None:
            _check_size(imported, frame[1], frame[2])
            present[key] = frame[0]
        elif imported.video_frame is not None:
            specs.append(_in_sequence(_video_spec(imported), imported))
            keys.append(key)
        else:
            new_images.append((key, imported))
    if new_images:
        job.begin("checking images", len(new_images))
        # The dataset declares each size; the header confirms it (no full decode).
        scanned = scan(
            [imported.image for _, imported in new_images], progress=job.report, decode=False
        )
        for (key, imported), spec in zip(new_images, scanned, strict=True):
            _check_size(imported, spec.width, spec.height)
            specs.append(_in_sequence(spec, imported))
            keys.append(key)
    return specs, keys, present


def _in_sequence(spec: FrameSpec, imported: ImportedFrame) -> FrameSpec:
    """``spec`` in the sequence the dataset names for it, if it names one."""
    if imported.sequence is None:
        return spec
    index = imported.sequence_index if imported.sequence_index is not None else 0
    return dataclasses.replace(spec, sequence=imported.sequence, sequence_index=index)


def _video_spec(imported: ImportedFrame) -> FrameSpec:
    reader = VideoReader(imported.image)
    try:
        if imported.video_frame is None or not 0 <= imported.video_frame < reader.frame_count:
            raise FormatError(
                f"frame {imported.video_frame} is outside the video ({reader.frame_count} frames)",
                path=imported.where,
                field="video_frame",
            )
        spec = FrameSpec(
            imported.image.resolve(),
            imported.video_frame,
            reader.width,
            reader.height,
            imported.image.stem,
            imported.video_frame,
        )
    finally:
        reader.close()
    _check_size(imported, spec.width, spec.height)
    return spec


def _check_size(imported: ImportedFrame, width: int, height: int) -> None:
    if imported.width is not None and imported.height is not None:
        if (imported.width, imported.height) != (width, height):
            raise FormatError(
                f"says the image is {imported.width}x{imported.height} but "
                f"{imported.image} is {width}x{height}",
                path=imported.where,
                field="size",
            )


def export_dataset(
    project: Project,
    format_id: str,
    target: str | Path,
    *,
    frames: str | Sequence[int] | None = None,
    overwrite: bool = False,
    link_images: bool = False,
    job: Job | None = None,
) -> ExportReport:
    """Export frames of ``project`` to a new file or folder.

    Args:
        project: An open project (read-only is fine).
        format_id: A registered format that can export.
        target: The folder (or, for a file format, the file) to make.
        frames: ``--frames`` spec (``"0-9,15"``) or positions in project order; all frames
            by default.
        overwrite: Replace an existing target (only once the new one is complete).
        link_images: Let formats that copy source images hard-link them instead (the
            export then shares the source files: editing one edits the other).
        job: Progress and cancellation.

    Raises:
        FormatError: Bad target or spec, a target that would touch the project or its
            sources (see :mod:`~roadmark.io.formats.targets`), an OS error on the target,
            or something the format cannot write.
        JobCancelled: Cancelled; nothing was written.
    """
    job = job or Job()
    fmt = get_format(format_id, Capability.EXPORT)
    target = Path(target)
    everything = project.frames()
    if frames is None or isinstance(frames, str):
        positions = parse_frame_spec(frames, len(everything))
    else:
        positions = sorted(set(frames))
        if positions and not 0 <= positions[0] <= positions[-1] < len(everything):
            raise FormatError(f"positions must be 0..{len(everything) - 1}", field="--frames")
    selected = [everything[i] for i in positions]
    if not selected:
        raise FormatError("the project has no frames to export", path=project.location)
    _check_target(fmt.output, fmt.suffix, target, overwrite)
    companions = fmt.companions(target)
    for companion in companions:
        _check_target("folder", "", companion, overwrite)
    all_files = [project.frame_file(frame) for frame in everything]
    protected = targets.protected_paths(_project_file(project), all_files)
    for path in (target, *companions):
        targets.check_target_is_safe(path, protected)
    files = {frame.id: project.frame_file(frame).resolve() for frame in selected}
    context = ExportContext(
        schema=project.schema,
        frames=selected,
        files=files,
        image_root=common_root(list(files.values())),
        warnings=WarningLog(),
        job=job,
        prediction=lambda frame_id: read_prediction(project, frame_id),
        link_images=link_images,
    )
    counter = {"objects": 0}
    try:
        targets.remove_stale_staging(target)
        staging = targets.make_staging(target)
    except OSError as error:
        raise _os_error(error, target) from error
    try:
        written = staging if fmt.output == "folder" else staging / target.name
        project_file = _project_file(project)
        if fmt.reads_in_workers and project_file is not None and uses_processes(len(selected)):
            # the worker processes read each frame's objects themselves (stored_frame)
            stored = _stored_frames(project, project_file, fmt.id, context)
            fmt.write_stored(stored, written, context)
            counter["objects"] += context.stats.pop(OBJECTS_READ, 0)
        else:
            with _bulk_allocation():  # reading every frame's objects: few collections
                fmt.write(_export_frames(project, fmt.id, context, counter), written, context)
        job.check()
        for companion in companions:
            _move_into_place(written.parent / companion.name, companion, overwrite)
        _move_into_place(written, target, overwrite)
    except OSError as error:
        raise _os_error(error, target) from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ExportReport(
        format=fmt.id,
        target=str(target),
        frames=len(selected),
        objects=counter["objects"],
        warnings=list(context.warnings),
        stats=dict(context.stats),
    )


def _project_file(project: Project) -> Path | None:
    return None if "://" in project.location else Path(project.location)


def _os_error(error: OSError, target: Path) -> FormatError:
    """One line for an OS error met while exporting (nothing is left behind)."""
    where = error.filename or target
    reason = error.strerror or type(error).__name__
    return FormatError(f"cannot write the export ({reason}: {where})", path=str(target))


def _check_target(output: str, suffix: str, target: Path, overwrite: bool) -> None:
    if not target.parent.is_dir():
        raise FormatError("the folder to write into does not exist", path=str(target.parent))
    if output == "file" and suffix and target.suffix.lower() != suffix:
        raise FormatError(f"must be a {suffix} file", path=str(target))
    if target.exists() or target.is_symlink():
        if not overwrite:
            raise FormatError(
                "exists already; choose a new name or use --overwrite", path=str(target)
            )
        if output == "file" and target.is_dir():
            raise FormatError("is a folder; expected a file to replace", path=str(target))
        if output == "folder" and not target.is_dir():
            raise FormatError("is a file; expected a folder to replace", path=str(target))


def _export_frames(
    project: Project, format_id: str, context: ExportContext, counter: dict[str, int]
) -> Iterator[ExportFrame]:
    for frame, has_sources in _frames_in_turn(project, context):
        item = read_frame(project, frame, project.frame_file(frame), format_id, has_sources)
        counter["objects"] += sum(not obj.deleted for obj in item.objects)
        yield item


def _stored_frames(
    project: Project, project_file: Path, format_id: str, context: ExportContext
) -> Iterator[StoredFrame]:
    """:func:`_export_frames` for a writer whose workers read the objects (the project is
    a file); they count the objects they read under ``stats[OBJECTS_READ]``."""
    location = str(project_file.resolve())
    for frame, has_sources in _frames_in_turn(project, context):
        yield StoredFrame(frame, project.frame_file(frame), location, format_id, has_sources)


def _frames_in_turn(project: Project, context: ExportContext) -> Iterator[tuple[Frame, bool]]:
    """The export's frames in order, each after a cancellation check and reported done
    when the next is asked for, with whether the project keeps imported originals."""
    job = context.job
    job.begin("writing", len(context.frames))
    with project.reading() as conn:  # the store's read connection (same package)
        has_sources = import_sources.present(conn)
    for done, frame in enumerate(context.frames, start=1):
        job.check()
        yield frame, has_sources
        job.report(done, len(context.frames))


def _move_into_place(written: Path, target: Path, overwrite: bool) -> None:
    if not (overwrite and (target.exists() or target.is_symlink())):
        written.rename(target)
        return
    old = targets.make_staging(target, "old")
    aside = old / target.name
    target.rename(aside)
    try:
        written.rename(target)
    except BaseException:
        aside.rename(target)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)
