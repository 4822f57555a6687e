"""Click-to-mask speed and effort; prints JSON.

    QT_QPA_PLATFORM=offscreen python benchmarks/promptable.py [--clicks 30] [--noc-objects 60]
    python benchmarks/promptable.py --sam-decoder-only [--clicks 30]
    QT_QPA_PLATFORM=offscreen python benchmarks/promptable.py --skip-sam --video-frames 0 \
        [--click-model M] [--baseline-click-model B] [--untiled]

``--click-model`` measures another click model file than the bundled one;
``--baseline-click-model`` measures a second one in the same run, each figure of the two in
turn (its figures under ``baseline``): before/after on the same load. Thin objects are
decoded through tiles along them (``ClickModel.tiled``) by the measured model;
``--untiled`` turns that off for it, and the baseline is always untiled:
``--baseline-click-model`` the bundled file compares the two decodes of one model.

``--sam-decoder-only`` prints SAM ViT-B's decoder alone, on a random embedding, through the
prepared decoder (``decoder_*``, what ``decode`` runs) and through the module's own
``forward`` (``module_forward_*``, the path before it), clicks taken in turn.

Figures:

- ``decoder_p95_ms``: SAM ViT-B (the real-size ``transformers.SamConfig()``, random weights
  at a trained network's scale: see :func:`trained_scale`) prompt decoder on a cached
  embedding, one click after another on a 1024 x 512 frame, CPU; ``decoder_p50_ms`` beside
  it;
- ``embed_s_per_frame``: the image encoder per frame, for that SAM config
  (``sam_vit_b``) and the bundled click model (``click``), CPU;
- ``click_decoder_p95_ms``: the bundled click model's decoder per click;
- ``video_propagate_s_per_frame``: SAM 2.1 Hiera-Tiny as a video model (the real-size
  ``transformers.Sam2VideoConfig()``, random weights at a trained scale) carrying three
  object masks through following frames of the 1024 x 512 demo drive, CPU: the mean time
  per following frame once the prompt frame and the first tracked frame are done (image
  encoder, memory attention, mask decoder and memory encoder of each frame;
  ``--video-frames``);
- ``click_to_preview_p95_ms``: in the editor (offscreen window, bundled model, the
  frame's embedding cached by the background thread): from the mouse click to the
  repainted canvas showing the mask;
- ``noc85`` / ``noc90``: the bundled click model on held-out generated frames, mean clicks
  to IoU 0.85 / 0.90 with the standard simulated clicker (``roadmark.models.clicker``; at
  most 20), over ``noc_objects`` objects; ``noc_by_size`` the same per object size: small
  (under 2,000 pixels), medium, large (over 20,000 pixels), thin (box sides over 5:1);
  ``noc_decode_p50_ms`` / ``noc_decode_p95_ms``: the decoder per click over those sessions
  (later clicks and thin objects included), one after another on this process's threads;
- ``gpu_embeddings_per_s``: with CUDA, SAM ViT-B embeddings per second in float16
  (batch 8);
- ``*_cpu_p95_ms``: the same decodes as CPU time of the process (all its threads), which
  other processes' load does not inflate;
- ``cpu_threads``, ``load_average_1min``: so that figures from a busy machine can be read
  for what they are.

Targets (issue 14): decoder p95 <= 50 ms, click-to-preview p95 <= 80 ms, NoC@85 <= 3.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import torch

START = time.perf_counter()


def log(text: str) -> None:
    print(f"[{time.perf_counter() - START:7.1f} s] {text}", file=sys.stderr, flush=True)


def p(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 2)


def demo_image() -> np.ndarray:
    from roadmark.demo.drive import render_frame

    return render_frame(20, frames=160, seed=31).image


def clicks(rng: np.random.Generator, count: int, width: int, height: int) -> list:
    return [(float(rng.uniform(0, width)), float(rng.uniform(0, height))) for _ in range(count)]


def bench_decoder(model, image: np.ndarray, count: int) -> dict[str, float]:
    from roadmark.models.promptable import Prompts

    embedding = model.encode([image])[0]
    model.decode(embedding, Prompts(points=((10.0, 10.0, True),)))  # warm-up (first call is slow)
    rng = np.random.default_rng(0)
    times, cpu = [], []
    points: list[tuple[float, float, bool]] = []
    for index, (x, y) in enumerate(clicks(rng, count, image.shape[1], image.shape[0])):
        points = [*points[-3:], (x, y, index % 4 != 3)] if index % 5 else [(x, y, True)]
        if not any(pt[2] for pt in points):
            points[0] = (points[0][0], points[0][1], True)
        start, start_cpu = time.perf_counter(), time.process_time()
        model.decode(embedding, Prompts(points=tuple(points)))
        times.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    return {"p50": p(times, 50), "p95": p(times, 95), "cpu_p95": p(cpu, 95)}


def trained_scale(module: torch.nn.Module) -> torch.nn.Module:
    """Random weights at the scale a trained network has, so that they cost what trained
    ones cost: every matrix and kernel drawn as PyTorch draws a new ``Linear``/``Conv``
    layer's (Kaiming-uniform, fan-in). The weights ``transformers`` gives a model built
    from a config alone are about 1e-10 (its ``_init_weights`` is meant to be overwritten
    by a checkpoint): activations then fall into float32's subnormal range, where the CPU
    is 10-15x slower (SAM ViT-B's encoder took 111-240 s a frame that way, 14-20 s with
    these weights), which no trained checkpoint does."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in module.parameters():
            if parameter.dim() >= 2 and parameter.dtype.is_floating_point:
                fan_in = parameter[0].numel()
                bound = 1.0 / fan_in**0.5
                parameter.copy_(torch.rand(parameter.shape, generator=generator) * 2 * bound
                                - bound)
    return module


def bench_sam_decoder_paths(count: int) -> dict[str, dict[str, float]]:
    """SAM ViT-B's decoder on a cached embedding, through the prepared decoder
    (``roadmark.models.sam_decoder``, what ``decode`` runs) and through the module's own
    ``forward`` (the path before it), one click each in turn so that both see the same
    load. The embedding is random (the decoder's cost does not depend on its values), so
    the 14-20 s encoder is left out."""
    import transformers

    from roadmark.models.promptable import Prompts
    from roadmark.models.sam import FAMILIES, TransformersModel

    torch.manual_seed(0)
    model = TransformersModel(trained_scale(transformers.SamModel(transformers.SamConfig())),
                              FAMILIES["sam"], name="sam-vit-b", digest="-")
    prepared = model.fast
    embedding = {"emb0": (torch.randn(256, 64, 64) * 0.5).half().numpy(),
                 "frame_size": np.array([512, 1024], dtype=np.int64)}
    rng = np.random.default_rng(0)
    times: dict[str, tuple[list[float], list[float]]] = {"prepared": ([], []), "module": ([], [])}
    points: list[tuple[float, float, bool]] = []
    for index, (x, y) in enumerate(clicks(rng, count + 3, 1024, 512)):
        points = [*points[-3:], (x, y, index % 4 != 3)] if index % 5 else [(x, y, True)]
        if not any(pt[2] for pt in points):
            points[0] = (points[0][0], points[0][1], True)
        for name in ("prepared", "module") if index % 2 else ("module", "prepared"):
            model.fast = prepared if name == "prepared" else None
            start, start_cpu = time.perf_counter(), time.process_time()
            model.decode(embedding, Prompts(points=tuple(points)))
            if index >= 3:  # the first decodes warm up
                times[name][0].append((time.perf_counter() - start) * 1000)
                times[name][1].append((time.process_time() - start_cpu) * 1000)
    return {name: {"p50": p(wall, 50), "p95": p(wall, 95), "cpu_p95": p(cpu, 95)}
            for name, (wall, cpu) in times.items()}


def bench_encoder(model, image: np.ndarray, repeats: int, *, warm_up: bool = True) -> float:
    if warm_up:
        model.encode([image])
    start = time.perf_counter()
    for _ in range(repeats):
        model.encode([image])
    return round((time.perf_counter() - start) / repeats, 3)


def sam_vit_b(folder: Path):
    import transformers

    from roadmark.models.promptable import load_promptable
    from roadmark.models.sam import wrap_transformers

    torch.manual_seed(0)
    source = folder / "sam-vit-b"
    trained_scale(transformers.SamModel(transformers.SamConfig())).save_pretrained(str(source))
    wrap_transformers(folder / "sam-vit-b.roadmodel", source)
    return load_promptable(folder / "sam-vit-b.roadmodel")


def sam2_video_tiny(folder: Path):
    import transformers

    from roadmark.models.sam import wrap_transformers
    from roadmark.models.sam_video import load_tracker

    torch.manual_seed(0)
    source = folder / "sam2-video-tiny"
    video = transformers.Sam2VideoModel(transformers.Sam2VideoConfig())
    trained_scale(video).save_pretrained(str(source))
    wrap_transformers(folder / "sam2-video-tiny.roadmodel", source)
    return load_tracker(folder / "sam2-video-tiny.roadmodel", device="cpu")


def bench_video(tracker, count: int) -> float:
    from roadmark.demo.drive import render_frame

    frames = [render_frame(20 + k, frames=160, seed=31).image for k in range(count + 1)]
    height, width = frames[0].shape[:2]
    masks = []
    for x0, y0, x1, y1 in ((0.1, 0.5, 0.3, 0.8), (0.4, 0.4, 0.5, 0.6), (0.6, 0.55, 0.9, 0.95)):
        mask = np.zeros((height, width), bool)
        mask[int(y0 * height) : int(y1 * height), int(x0 * width) : int(x1 * width)] = True
        masks.append(mask)
    stamps: list[float] = []
    tracker.track(frames, masks, progress=lambda _done, _total: stamps.append(time.perf_counter()))
    steady = np.diff(stamps)  # from the second tracked frame on
    return round(float(steady.mean()), 3)


def click_to_preview(image: np.ndarray, folder: Path, count: int,
                     model_path: Path | None = None) -> dict[str, float]:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from roadmark.app.main_window import MainWindow
    from roadmark.app.run import application
    from roadmark.io.frames import scan, write_image
    from roadmark.io.store import Project

    app = application()
    folder.mkdir(exist_ok=True)
    write_image(folder / "f0.png", image)
    write_image(folder / "f1.png", image[:, ::-1].copy())
    path = folder / "bench.roadmark"
    with Project.create(path) as project:
        project.add_frames(scan([folder / "f0.png", folder / "f1.png"]))
    window = MainWindow.open_project(str(path), prefetch=False)
    window.resize(1400, 900)
    window.show()
    app.processEvents()
    window.canvas.fit()
    smart = window.smart
    smart.set_model(model_path)
    smart.activate()
    deadline = time.time() + 600
    while len(smart.embedded_frames) < 2 and time.time() < deadline:
        app.processEvents()
        time.sleep(0.01)
    if len(smart.embedded_frames) < 2:
        raise RuntimeError(f"the background embeddings did not finish: {window.last_error}")
    rng = np.random.default_rng(1)
    viewport = window.canvas.viewport()
    times = []
    for x, y in clicks(rng, count, image.shape[1], image.shape[0]):
        smart.tool.cancel()
        app.processEvents()
        at = window.canvas.view_point(x, y).toPoint()
        start = time.perf_counter()
        QTest.mouseClick(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at)
        while smart.tool.pending is not None:
            app.processEvents()
            time.sleep(0.0005)
        window.canvas.refresh()
        viewport.repaint()
        times.append((time.perf_counter() - start) * 1000)
    window.close()
    return {"p50": p(times, 50), "p95": p(times, 95)}


class TimedDecodes:
    """A promptable model whose decodes are timed (wall ms): the decoder per click over
    the NoC sessions, thin objects and later clicks included (random first clicks on the
    demo frame rarely hit a thin object)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.times: list[float] = []

    def encode(self, images: Any) -> Any:
        return self.model.encode(images)

    def decode(self, embedding: Any, prompts: Any) -> Any:
        start = time.perf_counter()
        found = self.model.decode(embedding, prompts)
        self.times.append((time.perf_counter() - start) * 1000)
        return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clicks", type=int, default=30, help="clicks per latency figure")
    parser.add_argument("--noc-objects", type=int, default=60, help="objects scored for NoC")
    parser.add_argument("--skip-sam", action="store_true", help="leave out SAM ViT-B")
    parser.add_argument("--sam-decoder-only", action="store_true",
                        help="only SAM ViT-B's decoder, prepared vs the module's forward")
    parser.add_argument("--video-frames", type=int, default=4,
                        help="following frames tracked by SAM 2 (0: leave it out)")
    parser.add_argument("--click-model", type=Path,
                        help="the click model file to measure (default: the bundled one)")
    parser.add_argument("--baseline-click-model", type=Path,
                        help="also measure this click model, in turn in the same run")
    parser.add_argument("--untiled", action="store_true",
                        help="no tiles along thin objects (ClickModel.tiled) for the measured "
                             "click model; the baseline is always untiled")
    args = parser.parse_args(argv)

    if args.sam_decoder_only:
        paths = bench_sam_decoder_paths(args.clicks)
        print(json.dumps({
            "decoder_p50_ms": paths["prepared"]["p50"],
            "decoder_p95_ms": paths["prepared"]["p95"],
            "decoder_cpu_p95_ms": paths["prepared"]["cpu_p95"],
            "module_forward_p50_ms": paths["module"]["p50"],
            "module_forward_p95_ms": paths["module"]["p95"],
            "module_forward_cpu_p95_ms": paths["module"]["cpu_p95"],
            "cpu_threads": torch.get_num_threads(),
            "load_average_1min": round(os.getloadavg()[0], 2),
        }))
        return 0
    from roadmark.models.click_training import noc_by_size, validation_frames
    from roadmark.models.promptable import bundled_click_model, load_promptable

    image = demo_image()
    out: dict[str, object] = {"frame": f"{image.shape[1]}x{image.shape[0]}",
                              "cpu_threads": torch.get_num_threads()}
    click_path = args.click_model or bundled_click_model()
    click = load_promptable(click_path)
    from roadmark.models.click_model import ClickModel

    if isinstance(click, ClickModel):
        click.tiled = not args.untiled
        out["tiled"] = click.tiled
    baseline = (load_promptable(args.baseline_click_model)
                if args.baseline_click_model is not None else None)
    if isinstance(baseline, ClickModel):
        baseline.tiled = False
    before: dict[str, object] = {}
    log("click model: encoder")
    embed: dict[str, float] = {"click": bench_encoder(click, image, 5)}
    log("click model: decoder")
    click_decoder = bench_decoder(click, image, args.clicks)
    out["click_decoder_p50_ms"] = click_decoder["p50"]
    out["click_decoder_p95_ms"] = click_decoder["p95"]
    out["click_decoder_cpu_p95_ms"] = click_decoder["cpu_p95"]
    if baseline is not None:
        log("baseline click model: decoder")
        decoded = bench_decoder(baseline, image, args.clicks)
        before.update({"click_model": str(args.baseline_click_model),
                       "click_decoder_p50_ms": decoded["p50"],
                       "click_decoder_p95_ms": decoded["p95"],
                       "click_decoder_cpu_p95_ms": decoded["cpu_p95"]})
    with tempfile.TemporaryDirectory(prefix="roadmark-promptable-") as tmp:
        if not args.skip_sam:
            log("SAM ViT-B: building and wrapping")
            sam = sam_vit_b(Path(tmp))
            log("SAM ViT-B: encoder")
            embed["sam_vit_b"] = bench_encoder(sam, image, 1, warm_up=False)
            log("SAM ViT-B: decoder")
            decoder = bench_decoder(sam, image, args.clicks)
            out["decoder_p50_ms"] = decoder["p50"]
            out["decoder_p95_ms"] = decoder["p95"]
            out["decoder_cpu_p95_ms"] = decoder["cpu_p95"]
            if torch.cuda.is_available():
                sam.to("cuda")
                batch = [image] * 8
                sam.encode(batch)
                torch.cuda.synchronize()
                start = time.perf_counter()
                for _ in range(3):
                    sam.encode(batch)
                torch.cuda.synchronize()
                out["gpu_embeddings_per_s"] = {
                    "sam_vit_b": round(24 / (time.perf_counter() - start), 1)
                }
            del sam
        if args.video_frames > 1:
            log("SAM 2 Hiera-Tiny video: building, wrapping, tracking")
            tracker = sam2_video_tiny(Path(tmp))
            out["video_propagate_s_per_frame"] = bench_video(tracker, args.video_frames)
            del tracker
        out["embed_s_per_frame"] = embed
        log("editor: click to preview")
        from roadmark.models.click_model import ClickModel

        default = ClickModel.tiled  # the editor loads its own instance
        try:
            ClickModel.tiled = not args.untiled
            preview = click_to_preview(image, Path(tmp), args.clicks, args.click_model)
        finally:
            ClickModel.tiled = default
        out["click_to_preview_p50_ms"] = preview["p50"]
        out["click_to_preview_p95_ms"] = preview["p95"]
        if args.baseline_click_model is not None:
            log("editor: click to preview, baseline click model")
            try:
                ClickModel.tiled = False
                preview = click_to_preview(image, Path(tmp) / "baseline", args.clicks,
                                           args.baseline_click_model)
            finally:
                ClickModel.tiled = default
            before.update({"click_to_preview_p50_ms": preview["p50"],
                           "click_to_preview_p95_ms": preview["p95"]})
    log("NoC")
    frames = validation_frames()
    for model, into in ((click, out), (baseline, before)):
        if model is None:
            continue
        timed_model = TimedDecodes(model)
        by_size = noc_by_size(timed_model, frames, limit=args.noc_objects)
        every = by_size.pop("all")
        into.update({"noc85": every["noc85"], "noc90": every["noc90"],
                     "noc_objects": int(every["objects"]), "noc_by_size": by_size})
        if timed_model.times:
            into.update({"noc_decode_p50_ms": p(timed_model.times, 50),
                         "noc_decode_p95_ms": p(timed_model.times, 95)})
    if before:
        out["baseline"] = before
    out["targets"] = {"decoder_p95_ms": 50, "click_to_preview_p95_ms": 80, "noc85": 3}
    out["load_average_1min"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
