"""Exports never damage the project or its images; every OS error is one line."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from roadmark.io.formats.errors import FormatError
from roadmark.io.formats.jobs import export_dataset
from roadmark.io.store import Project
from tests.helpers import region
from tests.hostile.conftest import one_line_error, run_cli
from tests.io.formats.conftest import label, project_with


def _tree_digest(folder: Path) -> dict[str, str]:
    """Every file's digest (SQLite's -wal/-shm side files, which any reader may make,
    aside)."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.name.endswith(("-wal", "-shm"))
    }


@pytest.fixture
def project(tmp_path: Path) -> Path:
    images = tmp_path / "work" / "images"
    images.mkdir(parents=True)
    rng = np.random.default_rng(0)
    files = []
    for index in range(2):
        path = images / f"frame{index}.png"
        cv2.imwrite(str(path), rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
        files.append(path)
    car = label("car")
    made = project_with(
        tmp_path / "work" / "p.roadmark",
        [(files[0], [region(car, 4, 4, 30, 30)]), (files[1], [])],
    )
    made.close()
    return tmp_path / "work" / "p.roadmark"


@pytest.mark.parametrize(
    "where",
    ["project folder", "images folder", "above the project", "inside the frame cache", "symlink"],
)
def test_an_export_over_the_project_or_its_images_is_refused_and_touches_nothing(
    tmp_path: Path, project: Path, where: str
):
    work = project.parent
    (work / "p-frames").mkdir()
    link = tmp_path / "link"
    link.symlink_to(work, target_is_directory=True)
    target = {
        "project folder": work,
        "images folder": work / "images",
        "above the project": tmp_path,
        "inside the frame cache": work / "p-frames" / "out",
        "symlink": link,
    }[where]
    before = _tree_digest(tmp_path)
    result = run_cli("export", str(project), "--format", "cityscapes", str(target), "--overwrite")
    one_line_error(result, "refused", str(target))
    assert _tree_digest(tmp_path) == before
    assert not [p for p in tmp_path.rglob("*.partial")]


def test_a_coco_target_linked_to_the_project_file_is_refused(tmp_path: Path, project: Path):
    link = tmp_path / "out.json"
    link.symlink_to(project)
    before = project.read_bytes()
    with Project.open(project, read_only=True) as opened:
        with pytest.raises(FormatError, match="refused: the export target is"):
            export_dataset(opened, "coco", link, overwrite=True)
        export_dataset(opened, "coco", tmp_path / "fine.json")
    assert project.read_bytes() == before and link.is_symlink()
    assert (tmp_path / "fine.json").is_file()


def _source_png(path: Path, kind: str) -> Path:
    rng = np.random.default_rng(1)
    if kind == "16-bit":
        cv2.imwrite(str(path), rng.integers(0, 65535, (48, 64, 3), dtype=np.uint16))
    elif kind == "gray":
        cv2.imwrite(str(path), rng.integers(0, 255, (48, 64), dtype=np.uint8))
    elif kind == "rgba":
        cv2.imwrite(str(path), rng.integers(0, 255, (48, 64, 4), dtype=np.uint8))
    elif kind == "palette":
        Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).convert(
            "P", palette=Image.Palette.ADAPTIVE
        ).save(path)
    else:
        cv2.imwrite(str(path), rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    return path


def _ihdr(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:26]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return head[24], head[25]


def test_left_images_are_8bit_rgb_copies_never_sharing_the_source(tmp_path: Path):
    kinds = ["rgb", "16-bit", "gray", "rgba", "palette"]
    images = tmp_path / "images"
    images.mkdir()
    sources = [_source_png(images / f"{kind}.png", kind) for kind in kinds]
    project_with(tmp_path / "p.roadmark", [(path, []) for path in sources]).close()
    out = tmp_path / "cs"
    assert run_cli("export", str(tmp_path / "p.roadmark"), "--format", "cityscapes",
                   str(out)).returncode == 0  # fmt: skip
    left = sorted((out / "leftImg8bit").rglob("*.png"))
    assert len(left) == len(kinds)
    source_inodes = {path.stat().st_ino for path in sources}
    for path in left:
        assert _ihdr(path) == (8, 2), path  # 8-bit, RGB
        assert path.stat().st_ino not in source_inodes
        assert path.stat().st_nlink == 1
    # Editing an exported image leaves the source as it was.
    rgb_source = sources[0].read_bytes()
    rgb_left = next(p for p in left if sources[0].read_bytes() == p.read_bytes())
    rgb_left.write_bytes(b"changed")
    assert sources[0].read_bytes() == rgb_source
    # --link-images keeps the fast path for the 8-bit RGB source, on request only.
    linked = tmp_path / "linked"
    assert run_cli("export", str(tmp_path / "p.roadmark"), "--format", "cityscapes",
                   str(linked), "--link-images").returncode == 0  # fmt: skip
    inodes = {p.stat().st_ino for p in (linked / "leftImg8bit").rglob("*.png")}
    assert sources[0].stat().st_ino in inodes and len(inodes & source_inodes) == 1


def test_staging_of_a_killed_export_is_removed_by_the_next_one(tmp_path: Path, project: Path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".cs.{dead_pid}.abc_1.partial"
    legacy = tmp_path / ".cs.k2j3h4.partial"
    live = tmp_path / f".cs.{os.getppid()}.zz9.partial"  # a running process: left alone
    other = tmp_path / f".other.{dead_pid}.abc.partial"  # another target: left alone
    for folder in (stale, legacy, live, other):
        (folder / "gtFine").mkdir(parents=True)
    result = run_cli("export", str(project), "--format", "cityscapes", str(tmp_path / "cs"))
    assert result.returncode == 0, result.stderr
    assert not stale.exists() and not legacy.exists()
    assert live.exists() and other.exists()


def test_os_errors_on_the_target_are_one_line_and_leave_nothing(tmp_path: Path, project: Path):
    one_line_error(
        run_cli("export", str(project), "--format", "coco", "/proc/roadmark-test.json"),
        "/proc",
    )
    one_line_error(
        run_cli("export", str(project), "--format", "cityscapes", "/proc/self/roadmark-out"),
    )
    # A source image that vanished.
    gone = project.parent / "images" / "frame1.png"
    saved = gone.read_bytes()
    gone.unlink()
    one_line_error(
        run_cli("export", str(project), "--format", "cityscapes", str(tmp_path / "cs")),
        "frame1.png",
    )
    assert not (tmp_path / "cs").exists() and not list(tmp_path.glob(".cs.*"))
    gone.write_bytes(saved)


def test_a_full_disk_is_one_error_and_leaves_nothing(
    tmp_path: Path, project: Path, monkeypatch: pytest.MonkeyPatch
):
    def full(*_args, **_kw):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "leftImg8bit")

    monkeypatch.setattr(shutil, "copyfile", full)
    with Project.open(project, read_only=True) as opened:
        with pytest.raises(FormatError, match="No space left on device"):
            export_dataset(opened, "cityscapes", tmp_path / "cs")
    assert not (tmp_path / "cs").exists() and not list(tmp_path.glob(".cs.*"))
