"""The CPU summary of a segmentation model's logits, compiled kernel against PyTorch's
operations; prints one JSON object.

    python benchmarks/summary.py [--frames 4] [--size 2048x1024] [--input-size 512x256]

LRASPP with the bundled demo model's trained weights (``trained``) and with seeded random
weights (``random``) runs on ``--frames`` generated frames at ``--input-size`` (the CPU
pre-labeling default) on one torch thread; its logits are then summarized at map
resolution (``--size`` / 2) by :meth:`Predictor.summarize
<roadmark.models.predictor.Predictor.summarize>` both ways: the compiled one-pass kernel
(``kernel_ms``: milliseconds a frame, the best of ``--repeats``; ``kernel_ms_channels_last``
on the logits as the predictor's channels-last model hands them over) and PyTorch's
operations in row stripes, where the kernel is not built (``torch_ms``). ``forward_ms`` is
the model's forward pass a frame as the predictor runs it (batch norms folded,
channels-last). The maps are compared: ``labels_differ`` and ``levels_differ`` (share of
pixels whose label differs, and whose confidence, margin or entropy differ, by at most
``max_level_difference``).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from roadmark.demo.drive import generate_drive
from roadmark.io.schema_files import load_schema
from roadmark.models import cpu_summary
from roadmark.models.create import new_torchvision_model
from roadmark.models.demo_model import demo_model_path
from roadmark.models.files import load_model
from roadmark.models.predictor import Predictor


def _best_ms(run: Callable[[], object], frames: int, repeats: int) -> float:
    run()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return round(best / frames * 1000, 2)


def measure(predictor: Predictor, frames: torch.Tensor, size: tuple[int, int],
            repeats: int) -> dict[str, object]:
    count = int(frames.shape[0])
    with torch.inference_mode():
        x = predictor.prepare(frames)
        output = predictor.forward(x)
        logits = (output["out"] if isinstance(output, dict) else output).float()
        forward_ms = _best_ms(lambda: predictor.forward(x), count, repeats)
        dense = logits.contiguous()

        def torch_path() -> dict[str, torch.Tensor]:
            kernel, cpu_summary.fast_summary = cpu_summary.fast_summary, None
            try:
                return predictor.summarize(dense, size)
            finally:
                cpu_summary.fast_summary = kernel

        figures: dict[str, object] = {"forward_ms": forward_ms,
                                      "torch_ms": _best_ms(torch_path, count, repeats)}
        if cpu_summary.fast_summary is None:
            figures["kernel"] = "not built"
            return figures
        fused = predictor.summarize(dense, size)
        reference = torch_path()
        figures["kernel_ms"] = _best_ms(lambda: predictor.summarize(dense, size), count, repeats)
        figures["kernel_ms_channels_last"] = _best_ms(
            lambda: predictor.summarize(logits, size), count, repeats)
    labels = (fused["label_ids"] != reference["label_ids"]).float().mean()
    levels = [(fused[key].int() - reference[key].int()).abs()
              for key in ("confidence", "margin", "entropy")]
    figures["labels_differ"] = f"{float(labels) * 100:.4f} %"
    figures["levels_differ"] = f"{float(torch.stack(levels).ne(0).float().mean()) * 100:.4f} %"
    figures["max_level_difference"] = int(max(int(level.max()) for level in levels))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=4)
    parser.add_argument("--size", default="2048x1024", help="frame size WxH")
    parser.add_argument("--input-size", default="512x256", help="model input WxH")
    parser.add_argument("--repeats", type=int, default=4)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    in_w, in_h = (int(v) for v in args.input_size.split("x"))
    torch.set_num_threads(1)
    schema = load_schema("cityscapes")
    images = np.stack([frame.image for frame in generate_drive(
        frames=args.frames, width=in_w, height=in_h, seed=7)])
    frames = torch.from_numpy(images)
    out: dict[str, object] = {"frames": args.frames, "size": args.size,
                              "input_size": args.input_size, "torch_threads": 1}
    with tempfile.TemporaryDirectory(prefix="summary-bench-") as folder:
        demo = load_model(demo_model_path())
        weights = Path(folder) / "demo-weights.pt"
        torch.save(demo.module.state_dict(), weights)
        for name, extra in (("trained", {"classes": demo.manifest.classes, "weights": weights}),
                            ("random", {})):
            model = new_torchvision_model(
                Path(folder) / f"{name}.roadmodel", "lraspp_mobilenet_v3_large", schema=schema,
                input_size=(in_h, in_w), seed=0, **extra)
            predictor = Predictor(model, schema, device="cpu")
            out[name] = measure(predictor, frames, (height, width), args.repeats)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
