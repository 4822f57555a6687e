"""Bad input for every registered format (generated from the registry): a missing, empty or
malformed source is refused naming it and writes nothing; a cancelled export leaves nothing;
an existing target is never replaced without --overwrite."""

from __future__ import annotations

from pathlib import Path

import pytest

from roadmark.core.jobs import JobCancelled
from roadmark.io.formats import Capability, get_format, registered_formats
from roadmark.io.formats.common import Job
from roadmark.io.formats.errors import FormatError
from roadmark.io.formats.jobs import export_dataset, import_dataset
from roadmark.io.stats import project_info
from roadmark.io.store import Project
from tests.helpers import CancelAfterChecks

IMPORTERS = sorted(registered_formats(Capability.IMPORT))
ROUND_TRIP = sorted(set(IMPORTERS) & set(registered_formats(Capability.EXPORT)))


@pytest.fixture
def project(tmp_path: Path):
    with Project.create(tmp_path / "p.roadmark") as opened:
        yield opened


def test_the_new_formats_are_covered():
    assert {"kitti", "bdd100k", "coco", "cityscapes"} <= set(ROUND_TRIP)


@pytest.mark.parametrize("format_id", IMPORTERS)
@pytest.mark.parametrize("kind", ["missing", "empty folder", "empty file", "not json", "binary"])
def test_a_bad_source_is_refused_naming_it(
    project: Project, tmp_path: Path, format_id: str, kind: str
):
    source = tmp_path / "source.json"
    if kind == "empty folder":
        source = tmp_path / "folder"
        source.mkdir()
    elif kind == "empty file":
        source.write_text("")
    elif kind == "not json":
        source.write_text("{not: json")
    elif kind == "binary":
        source.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    with pytest.raises(FormatError) as info:
        import_dataset(project, format_id, source)
    assert info.value.path is not None and Path(info.value.path).is_relative_to(tmp_path)
    assert project.frame_count() == 0 and project_info(project)["objects"] == 0


def _target(tmp_path: Path, format_id: str) -> Path:
    fmt = get_format(format_id)
    return tmp_path / ("out" + (fmt.suffix if fmt.output == "file" else ""))


@pytest.mark.parametrize("format_id", ROUND_TRIP)
def test_a_cancelled_export_leaves_nothing_and_targets_are_kept(
    rich_project: Project, tmp_path: Path, format_id: str
):
    folder = tmp_path / "exports"
    folder.mkdir()
    target = _target(folder, format_id)
    with pytest.raises(JobCancelled):  # after the first frame
        export_dataset(rich_project, format_id, target, job=Job(cancel=CancelAfterChecks(1)))
    assert list(folder.iterdir()) == []
    export_dataset(rich_project, format_id, target)
    with pytest.raises(FormatError, match="exists already"):
        export_dataset(rich_project, format_id, target)
    companions = get_format(format_id).companions(target)
    expected = sorted([target.name, *(path.name for path in companions)])
    assert sorted(p.name for p in folder.iterdir()) == expected
