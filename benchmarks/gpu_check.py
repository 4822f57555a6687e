"""Correctness of the GPU paths, asserted; the first thing a GPU run executes.

    python benchmarks/gpu_check.py                    # on the first GPU; exit 1 on a failure
    python benchmarks/gpu_check.py --device cpu       # dry run of the script's own logic

Prints one JSON object: each check with ``passed`` and its figures. The checks:

- ``fp32_matches_cpu``: the bundled segmentation model in fp32 with TF32 off gives the
  CPU's answer: labels >= 99.97 % equal, confidence/margin/entropy maps within 1 level at
  the 99th percentile;
- ``detector_fp32_matches_cpu``: a random-weight detector's stages in fp32 with TF32 off
  against the CPU's, on the CPU's proposals: backbone features within 1e-3 of their
  largest value, class probabilities within 1e-3, decoded boxes < 1 px. (Its final boxes
  are reported, not compared: nearly all its scores are tied, so which boxes survive NMS
  and the top-100 cut is decided by rounding; with 1e-6 noise on the weights, as a GPU's
  rounding gives, the features moved by 6e-6 and the boxes by 1e-4 px on the CPU);
- ``bf16_label_flips``: segmentation under bf16 autocast changes <= 0.3 % of the labels;
- ``detection_box_error``: under the precision a run gets (fp32 for detectors, torch's
  own TF32 settings) the boxes decode in fp32 and are < 1 px from the CPU's on the same
  proposals (reported: the same under an explicit bf16 that autocasts the backbone only);
- ``device_decoding``: JPEG frames with EXIF orientations 1, 3, 6 and 8 decoded on the
  device come out upright, within 2 levels on average of the CPU's decoding (torchvision
  turns them on the CPU only: ``roadmark.models.device_decode`` does it);
- ``host_copy``: the asynchronous copy to pinned memory equals a synchronous copy, even
  queued behind a long kernel (values that exist only once it is done, none of them
  zero, as a fresh pinned buffer is); on ``cuda:1`` as well when there are two GPUs;
- ``programs_on_device``: a torchvision model, a TorchScript program and a torch.export
  program (with a factory op fixed to the CPU) run with every tensor on the device;
- ``no_sync_in_segmentation``: ``torch.cuda.set_sync_debug_mode("error")`` around
  segmentation inference (a host sync would raise);
- ``nan_raises``: NaN logits fail the batch with ModelError;
- ``training``: 20 steps in bf16 and in fp16 (with gradient scaling) with finite,
  falling loss and spawned loader workers that do not hang; the checkpoint reloads on
  the CPU and predicts what it predicted on the GPU.

Each check's result is also printed to stderr as it ends, so a run stopped by a time limit
keeps the checks done. On the CPU (``--device cpu``), the comparisons run CPU against CPU
and the GPU-only checks report ``"skipped": "no GPU"``; use it to check the script, not
the GPU (``benchmarks/gpu_run.sh`` runs it first; CI rehearses that on the CPU).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import torch
from PIL import Image
from torch import nn
from torchvision.ops import box_iou

from roadmark.core.schema import LabelSchema
from roadmark.demo.drive import generate_drive
from roadmark.io.demo_project import build_demo_project
from roadmark.io.frames import decode_image
from roadmark.io.image_limits import header_orientation
from roadmark.io.schema_files import load_schema
from roadmark.io.store import Project
from roadmark.models import training as training_module
from roadmark.models.create import new_torchvision_model
from roadmark.models.demo_model import demo_model_path
from roadmark.models.device import on_device, placed_module
from roadmark.models.device_decode import EncodedFrame, decode_on_device
from roadmark.models.errors import ModelError
from roadmark.models.files import LoadedModel, load_model
from roadmark.models.manifest import InputSpec, ModelManifest, parse_class_list
from roadmark.models.predictor import DeviceBatch, Predictor
from roadmark.models.runner import resolve_device
from roadmark.models.training import TrainOptions, train

LABELS_EQUAL = 0.9997
BF16_FLIPS = 0.003
BOX_ERROR_PX = 1.0
FEATURE_ERROR = 1e-3  # fp32 on the GPU against the CPU, relative to the largest feature
PROBABILITY_ERROR = 1e-3
TRAIN_SECONDS = 40  # each precision's 20 training steps, spawned workers included
DECODE_LEVELS = 2.0  # mean difference of device and CPU JPEG decoding, upright
DETECTOR = "fasterrcnn_mobilenet_v3_large_fpn"


def _frames(count: int, width: int, height: int) -> torch.Tensor:
    drive = generate_drive(frames=count, width=width, height=height, seed=3)
    return torch.stack([torch.from_numpy(frame.image) for frame in drive])


def _host(predictor: Predictor, frames: torch.Tensor) -> DeviceBatch:
    batch = predictor.to_host(predictor.infer(frames.to(predictor.device)))
    batch.wait()
    predictor.check(batch)
    return batch


# torch's own TF32 settings, read before any check changes them: what a user's run gets
_TF32_DEFAULTS = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)


def _fp32_strict() -> None:
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


def _tf32_defaults() -> None:
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = _TF32_DEFAULTS


def check_segmentation(
    device: torch.device, schema: LabelSchema, frames: torch.Tensor
) -> dict[str, Any]:
    model = load_model(demo_model_path())
    cpu = _host(Predictor(model, schema, device="cpu", precision="fp32"), frames)
    _fp32_strict()
    gpu = _host(Predictor(model, schema, device=device, precision="fp32"), frames)
    assert cpu.maps is not None and gpu.maps is not None
    equal = float((cpu.maps["label_ids"] == gpu.maps["label_ids"]).float().mean())
    levels = {
        key: float(np.percentile((cpu.maps[key].int() - gpu.maps[key].int()).abs().numpy(), 99))
        for key in ("confidence", "margin", "entropy")
    }
    fp32 = {
        "labels_equal": round(equal, 6),
        "p99_level_difference": levels,
        "passed": equal >= LABELS_EQUAL and max(levels.values()) <= 1,
    }
    if device.type != "cuda":
        return {"fp32_matches_cpu": fp32, "bf16_label_flips": {"skipped": "no GPU"}}
    bf16 = _host(Predictor(model, schema, device=device, precision="bf16"), frames)
    assert bf16.maps is not None
    flips = float((bf16.maps["label_ids"] != gpu.maps["label_ids"]).float().mean())
    return {
        "fp32_matches_cpu": fp32,
        "bf16_label_flips": {"share": round(flips, 6), "passed": flips <= BF16_FLIPS},
    }


def _boxes(batch: DeviceBatch) -> list[torch.Tensor]:
    assert batch.boxes is not None
    return [item["boxes"][item["keep"]] for item in batch.boxes]


def _min_iou(reference: list[torch.Tensor], other: list[torch.Tensor]) -> float:
    """The smallest best-IoU of a reference box among the other boxes of its frame."""
    worst = 1.0
    for ref, got in zip(reference, other, strict=True):
        if not len(ref):
            continue
        if not len(got):
            return 0.0
        worst = min(worst, float(box_iou(ref, got).max(dim=1).values.min()))
    return worst


def _stages(
    predictor: Predictor, frames: torch.Tensor, proposals: list[torch.Tensor] | None = None
) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor, torch.Tensor]:
    """A torchvision detector's stages as the predictor runs them: the backbone's features,
    the proposals (the region proposal network's, or the ones given), and for those
    proposals the box head's decoded boxes (every class) and class probabilities, all on
    the CPU. Given the same proposals, nothing here depends on how ties among scores are
    broken, unlike the final boxes (a random-weight detector's scores are nearly all tied,
    so which boxes survive NMS and the top-100 cut is decided by rounding)."""
    module = predictor.module
    assert isinstance(module, nn.Module)
    with on_device(predictor.device), torch.inference_mode():
        x = predictor.prepare(frames.to(predictor.device))
        with predictor.precision_context():
            images, _ = module.transform(list(x))
            features = module.backbone(images.tensors)
            if proposals is None:
                proposals, _ = module.rpn(images, features)
            else:
                proposals = [p.to(predictor.device) for p in proposals]
            heads = module.roi_heads
            pooled = heads.box_roi_pool(features, proposals, images.image_sizes)
            logits, regression = heads.box_predictor(heads.box_head(pooled))
            boxes = heads.box_coder.decode(regression, proposals)
        probabilities = torch.softmax(logits.float(), -1)
        return ([f.float().cpu() for f in features.values()], [p.cpu() for p in proposals],
                boxes.cpu(), probabilities.cpu())


def _relative(reference: list[torch.Tensor], other: list[torch.Tensor]) -> float:
    """Largest difference of each pair relative to the reference's largest magnitude."""
    return max(float((a - b).abs().max() / a.abs().max().clamp_min(1e-12))
               for a, b in zip(reference, other, strict=True))


def check_detection(
    root: Path, device: torch.device, schema: LabelSchema, frames: torch.Tensor
) -> dict[str, Any]:
    height, width = frames.shape[1:3]
    model = new_torchvision_model(
        root / "det.roadmodel",
        DETECTOR,
        schema=schema,
        input_size=(height, width),
        options={"min_size": height, "max_size": width, "box_score_thresh": 0.0},
        seed=0,
    )
    on_cpu = Predictor(model, schema, device="cpu", flip=False)
    features, proposals, boxes, probabilities = _stages(on_cpu, frames)
    final_cpu = _boxes(_host(on_cpu, frames))
    default = Predictor(model, schema, device=device, flip=False)
    _tf32_defaults()  # the precision a run gets: fp32 for detectors, torch's TF32 settings
    _, _, usual_boxes, _ = _stages(default, frames, proposals)
    _fp32_strict()
    there, _, there_boxes, there_probabilities = _stages(default, frames, proposals)
    feature_error = _relative(features, there)
    probability_error = float((probabilities - there_probabilities).abs().max())
    box_px = float((boxes - there_boxes).abs().max())
    usual_px = float((boxes - usual_boxes).abs().max())
    # the final boxes, reported only: with tied scores they need not be the same boxes
    iou = _min_iou(final_cpu, _boxes(_host(default, frames)))
    out: dict[str, Any] = {
        "detector_fp32_matches_cpu": {
            "proposals": sum(len(p) for p in proposals),
            "feature_relative_error": round(feature_error, 7),
            "probability_error": round(probability_error, 7),
            "box_head_max_px": round(box_px, 5),
            "final_boxes_min_iou_tie_dependent": round(iou, 5),
            "passed": feature_error <= FEATURE_ERROR and probability_error <= PROBABILITY_ERROR
            and box_px < BOX_ERROR_PX,
        },
        "detection_box_error": {
            "precision": str(default.autocast_dtype or torch.float32).replace("torch.", ""),
            "tf32": {"matmul": _TF32_DEFAULTS[0], "cudnn": _TF32_DEFAULTS[1]},
            "boxes_dtype": str(usual_boxes.dtype).replace("torch.", ""),
            "default_precision_max_px": round(usual_px, 5),
            "passed": usual_px < BOX_ERROR_PX and usual_boxes.dtype == torch.float32,
        },
    }
    if device.type == "cuda":  # reported: features from a bf16 backbone, the same proposals
        low = Predictor(model, schema, device=device, flip=False, precision="bf16")
        _, _, low_boxes, _ = _stages(low, frames, proposals)
        out["detection_box_error"]["explicit_bf16_backbone_only_max_px"] = round(
            float((low_boxes - there_boxes).abs().max()), 4)
        out["detection_box_error"]["explicit_bf16_boxes_dtype"] = str(low_boxes.dtype).replace(
            "torch.", "")
    return out


def check_device_decoding(device: torch.device) -> dict[str, Any]:
    """JPEG frames decoded on the device, turned upright by their EXIF orientation, against
    the CPU's decoding (OpenCV; a different JPEG decoder: within a few levels)."""
    (frame,) = generate_drive(frames=1, width=160, height=96, seed=4)
    results = {}
    for orientation in (1, 3, 6, 8):
        stored = frame.image if orientation in (1, 3) else np.ascontiguousarray(
            np.rot90(frame.image))
        encoded = io.BytesIO()
        exif = Image.Exif()
        exif[0x0112] = orientation
        Image.fromarray(stored).save(encoded, "JPEG", quality=95, exif=exif.tobytes())
        data = encoded.getvalue()
        reference = torch.from_numpy(decode_image(data, name=f"exif{orientation}.jpg"))
        size = (int(reference.shape[0]), int(reference.shape[1]))
        tensor = torch.frombuffer(bytearray(data), dtype=torch.uint8)
        with on_device(device):
            ours = decode_on_device([EncodedFrame(tensor, header_orientation(data))],
                                    [f"exif{orientation}.jpg"], size, device)[0].cpu()
        difference = float((ours.int() - reference.int()).abs().float().mean())
        results[str(orientation)] = {"mean_level_difference": round(difference, 3),
                                     "passed": difference <= DECODE_LEVELS}
    return {"orientations": results, "passed": all(r["passed"] for r in results.values())}


def check_host_copy(device: torch.device) -> dict[str, Any]:
    if device.type != "cuda":
        return {"skipped": "no GPU"}
    devices = [device] + ([torch.device("cuda:1")] if torch.cuda.device_count() > 1 else [])
    results = {}
    for target in devices:
        with torch.cuda.device(target):
            big = torch.randn(8192, 8192, device=target)
            for _ in range(8):  # a long kernel queue ahead of the copy
                big = big @ big
                big = big / big.norm()
            # nonzero values that exist only once the kernels ahead are done (a fresh pinned
            # buffer holds zeros: a copy read too early would still match zeros)
            ready = (big[:1024, :1024] != big[:1024, :1024]).to(torch.int32)  # 0 unless NaN
            values = torch.arange(1, 2**20 + 1, device=target, dtype=torch.int32).view(1024, 1024)
            values = values + ready
            schema = load_schema("cityscapes")
            classes = parse_class_list("__background__=,road")
            manifest = ModelManifest(
                name="identity",
                kind="torchscript",
                task="segmentation",
                classes=tuple(classes),
                input=InputSpec((0, 0, 0), (1, 1, 1), None, None),
                output="logits",
            )
            predictor = Predictor(
                LoadedModel(manifest, nn.Identity(), Path("identity"), "0" * 64),
                schema,
                device=target,
            )
            batch = predictor.to_host(DeviceBatch({"v": values}, None, [(1024, 1024)]))
            batch.wait()
            expected = values.cpu()
            results[str(target)] = bool(torch.equal(batch.maps["v"], expected))
    return {"devices": results, "passed": all(results.values())}


class ClockColumns(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        columns = torch.arange(x.shape[-1], device="cpu").float() / 100
        return self.conv(x) + columns + torch.tensor([0.5])


class Follows(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + torch.arange(x.shape[-1], device=x.device).float() / 100


def check_programs(root: Path, device: torch.device, schema: LabelSchema) -> dict[str, Any]:
    frames = _frames(2, 64, 32)
    manifest = ModelManifest(
        name="program",
        kind="torchscript",
        task="segmentation",
        classes=tuple(parse_class_list("road,sky")),
        input=InputSpec((0.5, 0.5, 0.5), (0.25, 0.25, 0.25), None, None),
        output="logits",
    )
    script = torch.jit.script(Follows().eval())
    program = torch.export.export(ClockColumns().eval(), (torch.zeros(2, 3, 32, 64),))
    models = {
        "torchvision": load_model(demo_model_path()),
        "torchscript": LoadedModel(manifest, script, root / "script.pt", "0" * 64),
        "export": LoadedModel(
            replace(manifest, kind="export"),
            program.module(),
            root / "program.pt2",
            "0" * 64,
            program,
        ),
    }
    results = {}
    for kind, model in models.items():
        module = placed_module(model, device)
        tensors = []
        if isinstance(module, nn.Module):
            tensors = [*module.parameters(), *module.buffers()]
            tensors += [v for v in vars(module).values() if isinstance(v, torch.Tensor)]
        stray = {str(t.device) for t in tensors if t.device.type != device.type}
        predictor = Predictor(model, schema, device=device)
        batch = _host(predictor, frames)
        results[kind] = {"stray_devices": sorted(stray), "ran": batch.maps is not None}
    passed = all(not r["stray_devices"] and r["ran"] for r in results.values())
    return {"models": results, "passed": passed}


def check_sync_free(device: torch.device, schema: LabelSchema, frames: torch.Tensor) -> dict:
    if device.type != "cuda":
        return {"skipped": "no GPU"}
    predictor = Predictor(load_model(demo_model_path()), schema, device=device)
    on_device = frames.to(device)
    _host(predictor, on_device)  # warm-up outside the checked region
    torch.cuda.synchronize(device)
    torch.cuda.set_sync_debug_mode("error")
    try:
        batch = predictor.to_host(predictor.infer(on_device))
    finally:
        torch.cuda.set_sync_debug_mode("default")
    batch.wait()
    return {"passed": True}


def check_nan(device: torch.device, schema: LabelSchema) -> dict[str, Any]:
    class Poisoned(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            logits = torch.zeros(x.shape[0], 2, x.shape[2], x.shape[3], device=x.device)
            logits[0, 0, 0, 0] = float("nan")
            return logits + 0 * x.mean()

    manifest = ModelManifest(
        name="poisoned",
        kind="torchscript",
        task="segmentation",
        classes=tuple(parse_class_list("road,sky")),
        input=InputSpec((0.5, 0.5, 0.5), (0.25, 0.25, 0.25), None, None),
        output="logits",
    )
    model = LoadedModel(manifest, Poisoned(), Path("poisoned"), "0" * 64)
    try:
        _host(Predictor(model, schema, device=device), _frames(1, 64, 32))
    except ModelError as error:
        return {"error": str(error), "passed": "NaN" in str(error)}
    return {"passed": False, "error": None}


def check_training(root: Path, device: torch.device) -> dict[str, Any]:
    path = root / "train" / "tiny.roadmark"
    path.parent.mkdir()
    build_demo_project(path, frames=6, labeled=6, width=512, height=256).close()
    dtypes: dict[str, torch.dtype | None] = (
        {"bf16": torch.bfloat16, "fp16": torch.float16} if device.type == "cuda" else {"fp32": None}
    )
    out: dict[str, Any] = {}
    original = training_module.amp_dtype
    for name, dtype in dtypes.items():
        training_module.amp_dtype = lambda _device, dtype=dtype: dtype  # force this precision
        target = root / f"train-{name}.roadmodel"
        options = TrainOptions(
            device=str(device), batch_size=2, epochs=1, min_epoch_samples=40, lr=1e-3, workers=2,
            crop=(128, 256),
        )  # fmt: skip
        done: dict[str, Any] = {}

        def run(options: TrainOptions = options, target: Path = target, done: dict = done) -> None:
            try:
                with Project.open(path) as project:
                    done["result"] = train(project, target, options)
            except BaseException as error:  # reported below
                done["error"] = "".join(traceback.format_exception_only(error)).strip()

        start = time.perf_counter()
        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        thread.join(timeout=TRAIN_SECONDS)
        if thread.is_alive() or "error" in done:
            out[name] = {"passed": False, "hung": thread.is_alive(), "error": done.get("error")}
            continue
        losses = done["result"].losses
        falling = np.mean(losses[-5:]) < np.mean(losses[:5])
        reloaded = load_model(target)
        schema = load_schema("cityscapes")
        frames = _frames(2, 512, 256)
        here = _host(Predictor(reloaded, schema, device="cpu", precision="fp32"), frames)
        there = _host(Predictor(reloaded, schema, device=device, precision="fp32"), frames)
        assert here.maps is not None and there.maps is not None
        agree = float((here.maps["label_ids"] == there.maps["label_ids"]).float().mean())
        out[name] = {
            "steps": len(losses),
            "first_loss": round(losses[0], 4),
            "last_loss": round(losses[-1], 4),
            "seconds": round(time.perf_counter() - start, 1),
            "cpu_gpu_label_agreement": round(agree, 5),
            "passed": len(losses) >= 20
            and bool(np.isfinite(losses).all())
            and bool(falling)
            and agree >= 0.999,
        }
    training_module.amp_dtype = original
    out["passed"] = all(v["passed"] for v in out.values() if isinstance(v, dict))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--size", default="2048x1024", help="frame size WxH for the checks")
    parser.add_argument("--frames", type=int, default=4)
    args = parser.parse_args()
    device = resolve_device(args.device)
    width, _, height = args.size.lower().partition("x")
    frames = _frames(args.frames, int(width), int(height))
    schema = load_schema("cityscapes")
    report: dict[str, Any] = {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "size": args.size,
    }
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        steps: dict[str, Callable[[], dict[str, Any]]] = {
            "segmentation": lambda: check_segmentation(device, schema, frames),
            "detection": lambda: check_detection(root, device, schema, frames),
            "host_copy": lambda: check_host_copy(device),
            "device_decoding": lambda: check_device_decoding(device),
            "programs_on_device": lambda: check_programs(root, device, schema),
            "no_sync_in_segmentation": lambda: check_sync_free(device, schema, frames),
            "nan_raises": lambda: check_nan(device, schema),
            "training": lambda: check_training(root, device),
        }
        for name, step in steps.items():
            try:
                result = step()
            except Exception as error:  # a check that crashes is a failed check
                result = {
                    "passed": False,
                    "error": traceback.format_exc(limit=4),
                    "type": str(error),
                }
            if name in ("segmentation", "detection") and "error" not in result:
                report.update(result)
            else:
                report[name] = result
            # each check as it ends, so that a run stopped by its time limit keeps them
            print(json.dumps({name: result}), file=sys.stderr, flush=True)
    failed = [k for k, v in report.items() if isinstance(v, dict) and v.get("passed") is False]
    report["failed"] = failed
    print(json.dumps(report, indent=1))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
