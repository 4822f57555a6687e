"""The Cityscapes label maps decode to the same pixels as the maps roadmark wrote before
the PNG encoding was tuned for speed (filter "none" instead of libpng's adaptive filters:
other bytes, the same pixels)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np

from roadmark.io.demo_project import build_demo_project
from roadmark.io.formats.jobs import export_dataset
from roadmark.io.store import Project

# sha256 of (dtype, shape, pixels) of every map of the demo drive below, as written by
# roadmark before the encoding changed (cv2 PNG compression 1, adaptive filters).
BEFORE = {
    "000000_color": "5ad4caf5ce2e121976112c935c9cc309c08b284a8b3f47521f7e4a57c5814ef6",
    "000000_instanceIds": "9d0135c6f7554c4f261b71a144ef1434fb9256570dbc70185cbfba52a901b6e7",
    "000000_labelIds": "ef5cedfef1645f85f39a18d95e2f645d0048d86154f088d4807dc87529627473",
    "000000_labelTrainIds": "e389bfdc1636e0b2c4e81e2bbf28b932c323b45cbf5bdf9c949a6e1533ce7631",
    "000001_color": "779528c30c3f1618d42c6e9236d5c34751441b3616bd114c906ffb6c98e092de",
    "000001_instanceIds": "eadb3286ddf038b3de3848d8be2f588bbe06c8d544b99dd035dd90229a7c3ee2",
    "000001_labelIds": "41d09c0cdec4f49002af6fc90365ddfef32f2ff54908b557b70fb83f95199f20",
    "000001_labelTrainIds": "f51ade6851a211a0d835a362b72258c0f775229431daf61a6ae04394df1a085e",
    "000002_color": "6ac803ee946a8772031dbf87d577dbbfe6ac115c64624a69304d9d35d69706fb",
    "000002_instanceIds": "5f206c018b0a4bce57ce1e7e391aba0d1ac1dd2031238bc2d85b602a30083651",
    "000002_labelIds": "7d7ea75b99a1c8d195abaa57e509ff1bae7450bd9ddeaa42c448bd505d7f12f3",
    "000002_labelTrainIds": "ccbefe7d471727bf3cd6114f627c7120a9efd55ba0524979212dc74847abd5e7",
}


def _key(name: str) -> str:
    """``demo_000000_000001_gtFine_color.png`` -> ``000001_color``."""
    return name.removeprefix("demo_000000_").removesuffix(".png").replace("_gtFine", "")


def _pixels(path: Path) -> str:
    array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert array is not None, path
    header = f"{array.dtype}{array.shape}".encode()
    return hashlib.sha256(header + np.ascontiguousarray(array).tobytes()).hexdigest()


def test_decoded_maps_are_unchanged(tmp_path: Path):
    path = tmp_path / "drive.roadmark"
    build_demo_project(path, frames=3, labeled=3, width=256, height=128).close()
    with Project.open(path, read_only=True) as project:
        export_dataset(project, "cityscapes", tmp_path / "out")
    maps = sorted((tmp_path / "out" / "gtFine").rglob("*_gtFine_*.png"))
    found = {_key(p.name): _pixels(p) for p in maps}
    assert len(found) == 12
    assert found == BEFORE
