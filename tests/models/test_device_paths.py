"""The GPU paths' correctness, in the parts a CPU can check: NaN outputs, a shared model
left alone, programs moved to another device (``meta`` stands in for a GPU), events on
the right device's stream, precision from the compute capability, cuDNN flags restored,
decoding workers scaled to shared memory, and training steps with every pixel ignored."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from roadmark.core.errors import RoadmarkError
from roadmark.core.schema import LabelSchema
from roadmark.io.demo_project import build_demo_project
from roadmark.io.schema_files import load_schema
from roadmark.io.store import Project
from roadmark.models import device as device_module
from roadmark.models import runner, train_data
from roadmark.models.create import wrap_program
from roadmark.models.device import (
    all_finite,
    amp_dtype,
    baked_devices,
    cudnn_autotune,
    fold_batch_norms,
    loader_plan,
    placed_module,
    record_event,
)
from roadmark.models.errors import ClassMappingError, ModelError
from roadmark.models.files import LoadedModel, load_model
from roadmark.models.manifest import InputSpec, ModelManifest, parse_class_list
from roadmark.models.predictor import AutocastBackbone, Predictor
from roadmark.models.training import TrainOptions, train

CLASSES = parse_class_list("__background__=,road,car,sky")


@pytest.fixture(scope="module")
def schema() -> LabelSchema:
    return load_schema("cityscapes")


class PoisonedSegmenter(nn.Module):
    """Finite logits except one NaN (or inf) pixel in the second image."""

    def __init__(self, bad: float) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.bad = bad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.conv(x)
        poison = torch.zeros_like(logits)
        poison[1, 2, 3, 3] = self.bad
        return logits + poison


class PoisonedDetector(nn.Module):
    """One box per image; the last image's box is NaN."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b = x.shape[0]
        boxes = torch.tensor([[4.0, 4.0, 20.0, 30.0]]).repeat(b, 1, 1) + 0 * x.mean()
        boxes[-1, 0, 2] = float("nan")
        return boxes, torch.full((b, 1), 0.9), torch.full((b, 1), 2, dtype=torch.int64)


class ClockColumns(nn.Module):
    """Uses a factory op with a fixed CPU device and a lifted constant, as exported
    programs often do; moving only the module leaves both on the CPU."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        columns = torch.arange(x.shape[-1], device="cpu").float() / 100
        return self.conv(x) + columns + torch.tensor([0.5])


class FixedOnCuda(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.arange(x.shape[-1], device=torch.device("cuda")).float()


class FollowsInput(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.arange(x.shape[-1], device=x.device).float()


def _manifest(task: str, kind: str = "torchvision", output: str = "logits") -> ModelManifest:
    return ModelManifest(
        name=f"tiny-{task}",
        kind=kind,
        task=task,
        classes=tuple(CLASSES),
        input=InputSpec((0.5, 0.5, 0.5), (0.25, 0.25, 0.25), None, None),
        output=output,
    )


def _frames(n: int = 2, h: int = 16, w: int = 24) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(0).integers(0, 255, (n, h, w, 3), np.uint8))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_logits_fail_the_batch(schema: LabelSchema, bad: float):
    model = LoadedModel(
        _manifest("segmentation", kind="torchscript"),
        PoisonedSegmenter(bad).eval(),
        Path("poisoned.roadmodel"),
        "0" * 64,
    )
    predictor = Predictor(model, schema, device="cpu")
    batch = predictor.to_host(predictor.infer(_frames()))
    with pytest.raises(ModelError, match=r"poisoned.roadmodel: output: .*NaN or infinite"):
        predictor.unpack(batch, [1, 2])


def test_non_finite_boxes_fail_the_batch(schema: LabelSchema):
    model = LoadedModel(
        _manifest("detection", kind="torchscript", output="tensors"),
        PoisonedDetector(),
        Path("boxes.roadmodel"),
        "0" * 64,
    )
    predictor = Predictor(model, schema, device="cpu", flip=False)
    with pytest.raises(ModelError, match="NaN or infinite"):
        predictor.unpack(predictor.to_host(predictor.infer(_frames())), [1, 2])


def test_a_detector_class_past_the_manifest_is_caught_after_the_copy(schema: LabelSchema):
    class Stray(nn.Module):
        def forward(self, x: torch.Tensor):
            b = x.shape[0]
            boxes = torch.tensor([[1.0, 1.0, 5.0, 5.0]]).repeat(b, 1, 1) + 0 * x.mean()
            return boxes, torch.full((b, 1), 0.9), torch.full((b, 1), 7, dtype=torch.int64)

    model = LoadedModel(
        _manifest("detection", kind="torchscript", output="tensors"),
        Stray(),
        Path("stray.roadmodel"),
        "0" * 64,
    )
    predictor = Predictor(model, schema, device="cpu")
    batch = predictor.to_host(predictor.infer(_frames()))  # no host sync, no error yet
    with pytest.raises(ClassMappingError, match="predicts class 7 but its manifest lists only 4"):
        predictor.unpack(batch, [1, 2])


def test_a_predictor_on_another_device_leaves_the_shared_model_alone(schema: LabelSchema):
    module = nn.Sequential(nn.Conv2d(3, 4, 1))
    module.train()  # a caller's model in training mode stays in training mode
    model = LoadedModel(_manifest("segmentation"), module, Path("shared.roadmodel"), "0" * 64)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    meta = Predictor(model, schema, device="meta")
    assert next(meta.module.parameters()).device.type == "meta"
    assert model.module is module and module.training
    assert all(p.device.type == "cpu" for p in module.parameters())
    cpu = Predictor(model, schema, device="cpu")  # a later CPU run still works
    assert not cpu.module.training and module.training
    (prediction,) = cpu.unpack(cpu.to_host(cpu.infer(_frames(1))), [1])
    assert prediction.maps is not None and prediction.maps.shape == (8, 12)
    for key, value in module.state_dict().items():
        assert torch.equal(value, before[key])


def test_export_programs_are_moved_with_the_device_pass(tmp_path: Path, schema: LabelSchema):
    source = tmp_path / "clock.pt2"
    program = torch.export.export(ClockColumns(), (torch.zeros(1, 3, 16, 24),))
    torch.export.save(program, str(source))
    out = tmp_path / "clock.roadmodel"
    wrap_program(
        out, source, kind="export", task="segmentation", classes=CLASSES, schema=schema,
        input_size=(16, 24), batch=1,
    )  # fmt: skip
    model = load_model(out)
    naive = model.module.to("meta")  # what moving the module alone does
    with pytest.raises(RuntimeError):
        naive(torch.zeros(1, 3, 16, 24, device="meta"))
    model = load_model(out)
    moved = placed_module(model, torch.device("meta"))
    tensors = [*moved.parameters(), *moved.buffers()]
    tensors += [v for v in vars(moved).values() if isinstance(v, torch.Tensor)]
    assert tensors and {t.device.type for t in tensors} == {"meta"}
    result = moved(torch.zeros(1, 3, 16, 24, device="meta"))
    assert result.device.type == "meta" and result.shape == (1, 4, 16, 24)
    # the loaded model itself still runs on the CPU, and its program was not moved
    cpu_out = model.module(torch.zeros(1, 3, 16, 24))
    assert cpu_out.device.type == "cpu"
    assert {t.device.type for t in model.program.state_dict.values()} == {"cpu"}
    assert {t.device.type for t in model.program.constants.values()
            if isinstance(t, torch.Tensor)} <= {"cpu"}
    rerun = model.program.module()(torch.zeros(1, 3, 16, 24))  # (a factory op fixed to the CPU)
    assert rerun.device.type == "cpu"


def test_torchscript_with_a_baked_in_device_is_refused(schema: LabelSchema):
    fixed = torch.jit.script(FixedOnCuda())
    follows = torch.jit.script(FollowsInput())
    assert baked_devices(fixed) == {"cuda"}
    assert baked_devices(follows) == set()
    model = LoadedModel(
        _manifest("segmentation", kind="torchscript"), fixed, Path("fixed.pt"), "0" * 64
    )
    with pytest.raises(ModelError, match=r"fixed.pt: device: .*\['cuda'\].*cannot run on cpu"):
        placed_module(model, torch.device("cpu"))
    ok = LoadedModel(
        _manifest("segmentation", kind="torchscript"), follows, Path("ok.pt"), "0" * 64
    )
    assert placed_module(ok, torch.device("cpu")) is follows


class _FakeEvent:
    def __init__(self) -> None:
        self.stream = None

    def record(self, stream=None) -> None:
        self.stream = stream


def test_the_copy_event_is_recorded_on_the_jobs_device(monkeypatch):
    streams = {}

    def current_stream(device=None):
        streams.setdefault(str(device), object())
        return streams[str(device)]

    monkeypatch.setattr(torch.cuda, "Event", _FakeEvent)
    monkeypatch.setattr(torch.cuda, "current_stream", current_stream)
    event = record_event(torch.device("cuda:1"))
    assert event.stream is streams["cuda:1"]
    assert record_event(torch.device("cpu")) is None


def test_bf16_only_where_the_gpu_computes_it(monkeypatch):
    asked = []

    def capability(device=None):
        asked.append(str(device))
        return {"cuda:0": (7, 5), "cuda:1": (9, 0)}[str(device)]

    monkeypatch.setattr(torch.cuda, "get_device_capability", capability)
    assert amp_dtype(torch.device("cuda:0")) == torch.float16  # T4: emulated bf16
    assert amp_dtype(torch.device("cuda:1")) == torch.bfloat16  # H100
    assert asked == ["cuda:0", "cuda:1"]  # each device asked about itself
    assert amp_dtype(torch.device("cpu")) is None


def test_cudnn_autotune_is_restored_after_the_block():
    before = torch.backends.cudnn.benchmark
    with cudnn_autotune(torch.device("cuda:0")):
        assert torch.backends.cudnn.benchmark
    assert torch.backends.cudnn.benchmark == before
    with cudnn_autotune(torch.device("cpu")):
        assert torch.backends.cudnn.benchmark == before


def test_autocast_backbone_hands_on_fp32_features():
    backbone = nn.Conv2d(3, 2, 1)
    wrapped = AutocastBackbone(backbone, torch.bfloat16)
    out = wrapped(torch.ones(1, 3, 4, 4))
    assert out.dtype == torch.float32


def test_decoding_workers_fit_the_work_and_the_shared_memory():
    frame = 2048 * 1024 * 3
    # a container's default 64 MB of /dev/shm holds no 25 MB batch per worker ahead
    assert loader_plan(14, 100, 4 * frame, shm_free=64 << 20).workers == 0
    roomy = loader_plan(14, 100, 4 * frame, shm_free=64 << 30)
    assert roomy.workers == 14 and roomy.prefetch == 4
    tight = loader_plan(14, 100, 4 * frame, shm_free=2 << 30)
    held = tight.workers * (tight.prefetch + 1) * 4 * frame
    assert 0 < tight.workers < 14 and held <= (2 << 30) * device_module.SHM_SHARE
    assert loader_plan(14, 5, frame, shm_free=64 << 30).workers == 3  # 5 batches


@pytest.mark.parametrize("cpus", [2, 4, 8, 16, 64])
def test_a_gpu_runs_cores_go_to_decoding_and_writing_without_oversubscribing(
    monkeypatch: pytest.MonkeyPatch, cpus: int
) -> None:
    """On a GPU the cores are shared by decoding and writing (one left for the loop and one
    for storing); where the device decodes, the writer gets what the readers leave."""
    monkeypatch.setattr(runner, "cpu_budget", lambda: cpus)
    gpu = torch.device("cuda")
    readers, writers = runner.default_workers(gpu, decoding_on_device=True)
    decoders, writers_beside = runner.default_workers(gpu)
    assert readers == 2 and writers >= writers_beside >= 2 and decoders >= 2
    if cpus >= 8:  # enough cores: none oversubscribed, none idle
        assert readers + writers + 2 == cpus and decoders + writers_beside + 2 == cpus
        assert abs(decoders - writers_beside) <= 1
    assert runner.default_workers(torch.device("cpu")) == (max(1, min(4, cpus // 2)), 1)


def test_training_skips_steps_whose_crops_are_all_ignored(tmp_path: Path, monkeypatch):
    path = tmp_path / "tiny.roadmark"
    build_demo_project(path, frames=5, labeled=4, width=128, height=64).close()
    original = train_data.target_map
    blanked = []

    def every_other_blank(item, classes, size):
        target = original(item, classes, size)
        if item.frame.id % 2:
            blanked.append(item.frame.id)
            target[:] = train_data.IGNORE
        return target

    monkeypatch.setattr(train_data, "target_map", every_other_blank)
    options = TrainOptions(
        device="cpu", batch_size=1, min_epoch_samples=6, epochs=1, lr=2e-3, workers=1
    )
    with Project.open(path) as project:
        result = train(project, tmp_path / "seg.roadmodel", options)
    assert blanked
    assert 0 < len(result.losses) < 6  # blank steps skipped, not "diverged"
    assert all(np.isfinite(result.losses))
    assert result.out is not None and load_model(result.out).manifest.training["epoch"] == 1


def _jpeg_project(tmp_path: Path, count: int = 4) -> Project:
    from roadmark.demo.drive import write_drive
    from roadmark.io.frames import read_image, write_image
    from roadmark.io.store import FrameSpec

    written = write_drive(tmp_path / "png", frames=count, width=256, height=128)
    specs = []
    for index, (path, _) in enumerate(written):
        jpeg = tmp_path / f"frame{index}.jpg"
        write_image(jpeg, read_image(path))
        specs.append(FrameSpec(jpeg, None, 256, 128, "drive", index))
    project = Project.create(tmp_path / "jpeg.roadmark")
    project.add_frames(specs)
    return project


def test_jpeg_frames_decoded_where_the_model_runs_match_the_workers(tmp_path: Path):
    from roadmark.io.predictions import read_prediction
    from roadmark.models.demo_model import demo_model_path
    from roadmark.models.runner import PrelabelOptions, prelabel

    model = load_model(demo_model_path())
    with _jpeg_project(tmp_path) as project:
        first = prelabel(project, model, PrelabelOptions(device="cpu", decode="workers"))
        maps = {f.id: read_prediction(project, f.id).maps.label_ids for f in project.frames()}
        again = PrelabelOptions(device="cpu", decode="device", force=True)
        second = prelabel(project, model, again)
        assert first.predicted == second.predicted == 4
        for frame in project.frames():
            ours = read_prediction(project, frame.id).maps
            assert ours.shape == maps[frame.id].shape == (64, 128)
            # two JPEG decoders and two resizes: nearly the same labels
            assert (ours.label_ids == maps[frame.id]).mean() > 0.9


def test_decoding_on_the_device_names_a_corrupt_jpeg_and_refuses_png(tmp_path: Path):
    from roadmark.io.errors import FrameSourceError
    from roadmark.models.demo_model import demo_model_path
    from roadmark.models.runner import PrelabelOptions, prelabel

    model = load_model(demo_model_path())
    with _jpeg_project(tmp_path, count=2) as project:
        broken = project.frame_file(project.frames()[1])
        broken.write_bytes(broken.read_bytes()[:200])
        options = PrelabelOptions(device="cpu", decode="device", batch_size=2)
        with pytest.raises(FrameSourceError, match=r"frame1\.jpg: is not a readable image"):
            prelabel(project, model, options)
    png = tmp_path / "png_only"
    png.mkdir()
    with build_demo_project(png / "p.roadmark", frames=1, labeled=0, width=64, height=32) as p:
        with pytest.raises(RoadmarkError, match="JPEG image files only"):
            prelabel(p, model, PrelabelOptions(device="cpu", decode="device"))


def test_batch_norms_are_folded_into_a_copy_on_the_cpu(schema: LabelSchema):
    generator = torch.Generator().manual_seed(3)
    net = nn.Sequential(
        nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU()),
        nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), nn.BatchNorm2d(8)),
        nn.Conv2d(8, len(CLASSES), 1),
    )
    for norm in (m for m in net.modules() if isinstance(m, nn.BatchNorm2d)):
        norm.running_mean.uniform_(-0.5, 0.5, generator=generator)
        norm.running_var.uniform_(0.5, 2.0, generator=generator)
        norm.weight.data.uniform_(0.5, 1.5, generator=generator)
    net.train()  # the caller's model, left in its mode
    kept = {k: v.clone() for k, v in net.state_dict().items()}
    model = LoadedModel(_manifest("segmentation"), net, Path("m.roadmodel"), "0" * 64)
    predictor = Predictor(model, schema, device="cpu")
    assert predictor.channels_last
    assert not any(isinstance(m, nn.BatchNorm2d) for m in predictor.module.modules())
    assert net.training and sum(isinstance(m, nn.BatchNorm2d) for m in net.modules()) == 2
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in kept.items())
    x = predictor.prepare(_frames())
    with torch.inference_mode():
        expected = net.eval()(x)
    assert torch.allclose(predictor.forward(x), expected, atol=1e-5)


def test_a_sequential_with_its_own_forward_keeps_its_batch_norm():
    class Both(nn.Sequential):  # uses the convolution's output past the norm too
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            features = self[0](x)
            return self[1](features) + features

    net = nn.Sequential(Both(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4)),
                        nn.Sequential(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4))).eval()
    assert fold_batch_norms(net) == 1
    assert isinstance(net[0][1], nn.BatchNorm2d) and isinstance(net[1][1], nn.Identity)


@pytest.mark.parametrize(
    ("poison", "finite"),
    [(None, True), ([float("nan")], False), ([float("inf")], False),
     ([float("-inf")], False), ([float("inf"), float("-inf")], False),
     ([3e38, 3e38, 3e38], True)],  # finite values whose sum overflows: checked one by one
)
def test_all_finite_from_the_sum_and_value_by_value(poison, finite):
    values = torch.randn(2, 3, 8, 8).contiguous(memory_format=torch.channels_last)
    for i, value in enumerate(poison or []):
        values[1, i, 4, 5] = value
    assert bool(all_finite(values)) is finite
    assert bool(torch.isfinite(values).all()) is finite
