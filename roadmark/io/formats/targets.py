"""Export targets: what an export may never touch, and its staging folders.

An export writes into a staging folder ``.OUT.<pid>.<random>.partial`` beside the target
and moves it into place at the end; with ``--overwrite`` the old target is moved aside and
deleted. So a target must never be, contain or lie inside a path the project needs:
:func:`check_target_is_safe` refuses a target that overlaps the project file, its SQLite
side files (``-wal``, ``-shm``, ``-journal``), the extracted video frames beside it, or the
source file of any frame (so also any folder holding one), before anything is written.

Staging folders left behind by an export that was killed (its process is gone) are removed
by the next export to the same place (:func:`remove_stale_staging`).
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from roadmark.io.formats.errors import FormatError

SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
# ``.OUT.<pid>.<random>.partial``; ``.OUT.<random>.partial`` (earlier roadmark versions)
# names no process and is always stale.
_STAGING = re.compile(r"^\.(?P<name>.+?)\.(?:(?P<pid>\d+)\.)?[a-z0-9_]+\.(?:partial|old)$")


def _absolute(path: Path) -> Path:
    """``path`` made absolute with every symbolic link resolved (it need not exist)."""
    return Path(os.path.realpath(path))


def protected_paths(project_file: str | Path | None, sources: Iterable[Path]) -> list[Path]:
    """The paths an export must leave alone: the project file (and side files, cache
    folders) and the frames' source files.

    Args:
        project_file: The ``.roadmark`` file (``None`` for a database URL).
        sources: Every frame's image or video file.
    """
    out: list[Path] = []
    if project_file is not None:
        from roadmark.io.video_cache import frame_folder

        project = Path(project_file)
        out.append(project)
        out.extend(project.with_name(project.name + suffix) for suffix in SQLITE_SIDE_FILES)
        out.append(frame_folder(project))
    out.extend(sources)
    return out


def check_target_is_safe(target: Path, protected: Iterable[Path]) -> None:
    """Refuse a target that is, contains or lies inside a protected path.

    Paths are compared with every symbolic link resolved (a frame file that is a link
    protects the file it points to). Folders are resolved once each, so a project of
    100,000 frames is checked in well under a second.

    Raises:
        FormatError: Naming the target and the path it would damage.
    """
    resolved = os.fspath(_absolute(target))
    above = {os.fspath(parent) for parent in Path(resolved).parents}
    inside = resolved.rstrip(os.sep) + os.sep
    for candidate in _resolved(protected):
        if candidate == resolved:
            conflict = "is"
        elif candidate in above:
            conflict = "lies inside"
        elif candidate.startswith(inside):
            conflict = "contains"
        else:
            continue
        raise FormatError(
            f"refused: the export target {conflict} {candidate}, which the project needs "
            "(the project file, its side files or a frame's source); choose another target",
            path=str(target),
        )


def _resolved(paths: Iterable[Path]) -> Iterator[str]:
    """Each path with its folder's links resolved (once per folder), and the path itself
    resolved where it is a link."""
    folders: dict[str, str] = {}
    for path in paths:
        head, name = os.path.split(os.path.abspath(path))
        real_head = folders.get(head)
        if real_head is None:
            real_head = folders[head] = os.path.realpath(head)
        full = os.path.join(real_head, name)
        yield os.path.realpath(full) if os.path.islink(full) else full


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError as error:
        return error.errno != errno.ESRCH
    return True


def remove_stale_staging(target: Path) -> list[Path]:
    """Remove the staging and set-aside folders of killed exports to ``target``.

    A folder counts as stale when the process named in it no longer runs; an export in
    progress elsewhere is left alone.

    Returns:
        The folders removed.
    """
    removed: list[Path] = []
    try:
        entries = list(target.parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _STAGING.match(entry.name)
        if not match or match["name"] != target.name or entry.is_symlink():
            continue
        if match["pid"] is not None and _process_alive(int(match["pid"])):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        if not entry.exists():
            removed.append(entry)
    return removed


def make_staging(target: Path, kind: str = "partial") -> Path:
    """A new hidden folder beside ``target`` that names this process (``kind``:
    ``partial`` for what is written, ``old`` for a replaced target set aside)."""
    return Path(
        tempfile.mkdtemp(
            prefix=f".{target.name}.{os.getpid()}.", suffix=f".{kind}", dir=target.parent
        )
    )
