"""Model files never run code the user did not choose to trust."""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from pathlib import Path

import pytest
import torch
from torch import nn

from roadmark.io.schema_files import load_schema
from roadmark.io.store import Project
from roadmark.models.create import wrap_program
from roadmark.models.errors import ModelFileError, UnsafeModelFileError
from roadmark.models.files import load_model, load_program, read_manifest
from roadmark.models.manifest import parse_class_list
from roadmark.models.programs import program_digest
from tests.helpers import make_image
from tests.hostile.conftest import one_line_error, run_cli

CLASSES = parse_class_list("__background__=,road,car,sky")


class WithConstant(nn.Module):
    """Segmentation logits with a lifted tensor constant (a ``tensor_*`` archive member)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.offset = torch.ones(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + self.offset.view(1, 4, 1, 1)


class Boom:
    """Unpickling this runs code: it creates the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _rewrite(src: Path, dst: Path, changes: dict[str, bytes]) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, changes.get(info.filename, zin.read(info.filename)))


def _constants_config(path: Path) -> tuple[str, dict]:
    with zipfile.ZipFile(path) as archive:
        name = next(n for n in archive.namelist() if n.endswith("_constants_config.json"))
        return name, json.loads(archive.read(name))


@pytest.fixture
def exported(tmp_path: Path) -> Path:
    path = tmp_path / "prog.pt2"
    torch.export.save(torch.export.export(WithConstant(), (torch.zeros(1, 3, 8, 8),)), str(path))
    return path


def _double_entry_exploit(source: Path, out: Path, marker: Path) -> Path:
    """The constant's member named twice: once raw (skipped by a naive check), once pickled."""
    config_name, config = _constants_config(source)
    ((key, entry),) = config["config"].items()
    config["config"] = {"evil": dict(entry, use_pickle=True), key: entry}
    member = config_name.rsplit("/", 1)[0] + "/" + entry["path_name"]
    payload = pickle.dumps(Boom(marker), protocol=2)
    payload += b"\0" * (-len(payload) % 16)
    _rewrite(source, out, {config_name: json.dumps(config).encode(), member: payload})
    return out


def test_pt2_member_named_pickled_and_raw_is_refused_and_runs_nothing(
    tmp_path: Path, exported: Path
):
    marker = tmp_path / "pwned"
    evil = _double_entry_exploit(exported, tmp_path / "evil.pt2", marker)
    with pytest.raises(UnsafeModelFileError, match="more than one config entry"):
        load_program(evil, "export")
    assert not marker.exists()
    # From the command line: one line, exit 2, nothing ran, no torch log lines.
    result = run_cli(
        "model",
        "new",
        str(tmp_path / "m.roadmodel"),
        "--exported",
        str(evil),
        "--task",
        "segmentation",
        "--classes",
        "__background__=,road,car,sky",
    )
    one_line_error(result, "evil.pt2", "refused")
    assert not marker.exists() and not (tmp_path / "m.roadmodel").exists()


def test_a_pickled_constant_that_would_run_code_is_refused(tmp_path: Path, exported: Path):
    marker = tmp_path / "pwned"
    config_name, config = _constants_config(exported)
    ((key, entry),) = config["config"].items()
    config["config"] = {key: dict(entry, use_pickle=True)}
    member = config_name.rsplit("/", 1)[0] + "/" + entry["path_name"]
    evil = tmp_path / "evil.pt2"
    _rewrite(
        exported,
        evil,
        {config_name: json.dumps(config).encode(), member: pickle.dumps(Boom(marker))},
    )
    with pytest.raises(UnsafeModelFileError, match="refused to load"):
        load_program(evil, "export")
    assert not marker.exists()


def test_torch_loads_inside_an_archive_are_forced_to_weights_only(tmp_path: Path, exported: Path):
    """Even if the pre-check missed a member, torch's own load may not unpickle code."""
    from roadmark.models.programs import guarded_torch_load

    marker = tmp_path / "pwned"
    import io

    blob = io.BytesIO()
    torch.save({"x": Boom(marker)}, blob)
    with guarded_torch_load(), pytest.raises(pickle.UnpicklingError):
        torch.load(io.BytesIO(blob.getvalue()), weights_only=False)
    assert not marker.exists()
    assert os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD") is None


def test_compiled_native_code_in_an_archive_is_refused(tmp_path: Path, exported: Path):
    """torch.export.load would load an AOTInductor shared library found in the archive."""
    native = tmp_path / "native.pt2"
    _rewrite(exported, native, {})
    prefix = zipfile.ZipFile(exported).namelist()[0].split("/", 1)[0]
    with zipfile.ZipFile(native, "a") as archive:
        archive.writestr(f"{prefix}/data/aotinductor/model/model.wrapper.so", b"\x7fELF")
    with pytest.raises(UnsafeModelFileError, match="compiled native code"):
        load_program(native, "export")


def test_custom_objects_and_legacy_layout_are_refused(tmp_path: Path, exported: Path):
    config_name, config = _constants_config(exported)
    ((key, entry),) = config["config"].items()
    config["config"] = {key: dict(entry, path_name="opaque_obj0")}
    opaque = tmp_path / "opaque.pt2"
    _rewrite(exported, opaque, {config_name: json.dumps(config).encode()})
    with pytest.raises(UnsafeModelFileError, match="custom Python objects"):
        load_program(opaque, "export")
    legacy = tmp_path / "legacy.pt2"
    _rewrite(exported, legacy, {})
    with zipfile.ZipFile(legacy, "a") as archive:
        archive.writestr("version", "8.0")
    with pytest.raises(UnsafeModelFileError, match="legacy"):
        load_program(legacy, "export")


@pytest.mark.parametrize("folder", [False, True])
def test_program_digest_is_recorded_and_a_changed_program_is_refused(
    tmp_path: Path, exported: Path, folder: bool
):
    schema = load_schema("cityscapes")
    out = tmp_path / ("m" if folder else "m.roadmodel")
    made = wrap_program(
        out,
        exported,
        kind="export",
        task="segmentation",
        classes=CLASSES,
        schema=schema,
        folder=folder,
        input_size=(8, 8),
        batch=1,
    )
    program = out / "model.pt2" if folder else out
    assert made.manifest.program_sha256 == program_digest(program)
    assert read_manifest(out).program_sha256 == made.manifest.program_sha256
    load_model(out)  # unchanged: loads
    # Change one weight byte of the program (the manifest stays as it was).
    with zipfile.ZipFile(program) as archive:
        weight = next(n for n in archive.namelist() if "/data/weights/weight" in n)
        data = bytearray(archive.read(weight))
    data[0] ^= 0xFF
    tampered = tmp_path / "tampered.bin"
    _rewrite(program, tampered, {weight: bytes(data)})
    os.replace(tampered, program)
    with pytest.raises(UnsafeModelFileError, match="changed since"):
        load_model(out)
    project = tmp_path / "p.roadmark"
    Project.create(project).close()
    make_image(tmp_path / "f.png", width=8, height=8)
    assert run_cli("add", str(project), str(tmp_path / "f.png")).returncode == 0
    one_line_error(
        run_cli("prelabel", str(project), "--model", str(out), "--device", "cpu"),
        "changed since",
        "program_sha256",
    )
    result = run_cli("model", "info", str(out))
    assert result.returncode == 0 and "code that roadmark runs" in result.stdout


def test_a_program_model_without_a_digest_is_refused(tmp_path: Path):
    schema = load_schema("cityscapes")
    source = tmp_path / "seg.pt"
    with pytest.warns(FutureWarning):
        torch.jit.save(torch.jit.script(WithConstant()), str(source))
    out = tmp_path / "m"
    wrap_program(
        out,
        source,
        kind="torchscript",
        task="segmentation",
        classes=CLASSES,
        schema=schema,
        folder=True,
    )
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["program_sha256"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(UnsafeModelFileError, match="records no program_sha256"):
        load_model(out)
    manifest["program_sha256"] = "x" * 64
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match="64 lower-case hex"):
        load_model(out)


def test_model_new_says_a_program_is_code_and_torch_warnings_stay_quiet(
    tmp_path: Path, exported: Path
):
    out = tmp_path / "m.roadmodel"
    result = run_cli(
        "model",
        "new",
        str(out),
        "--exported",
        str(exported),
        "--task",
        "segmentation",
        "--classes",
        "__background__=,road,car,sky",
        "--input-size",
        "8x8",
        "--batch-size",
        "1",
    )
    assert result.returncode == 0, result.stderr
    assert "is code that roadmark runs" in result.stdout
    assert read_manifest(out).program_sha256 in result.stdout
    assert result.stderr == "", result.stderr
