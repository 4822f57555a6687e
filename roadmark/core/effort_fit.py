"""Fitting the effort model to the time a project recorded (numpy only).

The cost model (:mod:`roadmark.core.effort`) starts from assumed numbers. Once people
have resolved regions on enough frames, the time tracker (active seconds per frame) says
what the work really took. Each such frame is one sample:

``seconds = frame_overhead_s + region_fix_s * regions + vertex_s * vertices
+ box_check_s * boxes``

where ``regions`` and ``boxes`` count the frame's resolved pixel regions and uncertain
boxes and ``vertices`` is the sum over its regions of the outline vertices weighted by the
region's uncertainty (exactly what :meth:`CostModel.region_seconds` charges for). The four
seconds are found by least squares with non-negative values: a parameter whose fit would
be negative is held at zero and the rest refitted, a parameter whose column never varies
in the samples (no boxes were ever checked, say) keeps its default. Nothing is fitted
before :data:`MIN_SAMPLES` frames exist, and never more parameters than samples - 2.

:class:`EffortFit` says which parameters were fitted, their standard errors (from the
residual variance and ``(X^T X)^-1``), the root-mean-square error of the fitted model per
frame, and which parameters are still the defaults.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from roadmark.core.effort import DEFAULT_COST_MODEL, CostModel
from roadmark.core.prediction import RegionKind, UncertainRegion

MIN_SAMPLES = 8
PARAMETERS = ("frame_overhead_s", "region_fix_s", "vertex_s", "box_check_s")


@dataclass(frozen=True)
class FrameSample:
    """One frame's recorded time and the review work done on it.

    Attributes:
        frame_id: The frame.
        seconds: Active seconds recorded on it.
        regions: Resolved pixel regions.
        vertices: Uncertainty-weighted outline vertices of those regions.
        boxes: Resolved uncertain boxes.
    """

    frame_id: int
    seconds: float
    regions: int
    vertices: float
    boxes: int

    def row(self) -> list[float]:
        return [1.0, float(self.regions), float(self.vertices), float(self.boxes)]


def frame_sample(
    frame_id: int, seconds: float, resolved: Sequence[UncertainRegion], model: CostModel
) -> FrameSample:
    """The sample of one frame from its resolved regions (vertices as ``model`` counts)."""
    regions = [r for r in resolved if r.kind == RegionKind.PIXELS]
    vertices = sum(
        min(max(r.mean_uncertainty, 0.0), 1.0) * model.outline_vertices(r) for r in regions
    )
    return FrameSample(frame_id, seconds, len(regions), vertices, len(resolved) - len(regions))


@dataclass(frozen=True)
class EffortFit:
    """The cost model fitted to recorded time.

    Attributes:
        model: The cost model to use (fitted values, defaults elsewhere).
        fitted: Parameter -> ``(value, standard error)`` for the fitted ones.
        defaults: Parameters still at their default value.
        samples: Frames the fit used.
        rmse_s: Root-mean-square error of the model per frame, in seconds (of the fit,
            or of the defaults when nothing was fitted; ``None`` without samples).
        reason: Why nothing was fitted (empty when something was).
    """

    model: CostModel = DEFAULT_COST_MODEL
    fitted: dict[str, tuple[float, float]] = field(default_factory=dict)
    defaults: tuple[str, ...] = PARAMETERS
    samples: int = 0
    rmse_s: float | None = None
    reason: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "samples": self.samples,
            "min_samples": MIN_SAMPLES,
            "fitted": {
                name: {"value": round(value, 3), "stderr": round(error, 3)}
                for name, (value, error) in self.fitted.items()
            },
            "defaults": {name: getattr(self.model, name) for name in self.defaults},
            "rmse_s": None if self.rmse_s is None else round(self.rmse_s, 2),
            "note": self.reason,
        }


def _rmse(samples: Sequence[FrameSample], values: dict[str, float]) -> float:
    x = np.array([s.row() for s in samples])
    y = np.array([s.seconds for s in samples])
    beta = np.array([values[name] for name in PARAMETERS])
    return float(np.sqrt(np.mean((x @ beta - y) ** 2)))


def fit_effort(
    samples: Sequence[FrameSample], defaults: CostModel = DEFAULT_COST_MODEL
) -> EffortFit:
    """Fit the cost model's seconds to ``samples`` (see the module doc)."""
    values = {name: float(getattr(defaults, name)) for name in PARAMETERS}
    if len(samples) < MIN_SAMPLES:
        return EffortFit(
            defaults,
            samples=len(samples),
            rmse_s=_rmse(samples, values) if samples else None,
            reason=f"{len(samples)} of the {MIN_SAMPLES} frames with recorded time and "
            "resolved regions needed before fitting",
        )
    x = np.array([s.row() for s in samples])
    y = np.array([s.seconds for s in samples])
    free = [i for i in range(len(PARAMETERS)) if i == 0 or np.ptp(x[:, i]) > 0]
    free = free[: max(1, len(samples) - 2)]
    held = [i for i in range(len(PARAMETERS)) if i not in free]
    while True:
        target = y - x[:, held] @ np.array([values[PARAMETERS[i]] for i in held])
        beta, *_ = np.linalg.lstsq(x[:, free], target, rcond=None)
        negative = [i for i, b in zip(free, beta, strict=True) if b < 0]
        if not negative:
            break
        for i in negative:  # a cost cannot be negative: hold it at zero and refit
            free.remove(i)
            held.append(i)
            values[PARAMETERS[i]] = 0.0
        if not free:
            beta = np.zeros(0)
            break
    fitted: dict[str, tuple[float, float]] = {}
    if free:
        for i, b in zip(free, beta, strict=True):
            values[PARAMETERS[i]] = float(b)
        residual = y - x @ np.array([values[name] for name in PARAMETERS])
        dof = max(len(samples) - len(free), 1)
        sigma2 = float(residual @ residual) / dof
        try:
            covariance = np.linalg.inv(x[:, free].T @ x[:, free]) * sigma2
            errors = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
        except np.linalg.LinAlgError:
            errors = np.full(len(free), math.nan)
        fitted = {
            PARAMETERS[i]: (values[PARAMETERS[i]], float(e))
            for i, e in zip(free, errors, strict=True)
        }
    zeroed = {PARAMETERS[i] for i in held if values[PARAMETERS[i]] == 0.0}
    fitted.update({name: (0.0, 0.0) for name in zeroed})
    fields: dict[str, Any] = {name: value for name, (value, _) in fitted.items()}
    model = replace(defaults, **fields)
    return EffortFit(
        model,
        fitted=fitted,
        defaults=tuple(name for name in PARAMETERS if name not in fitted),
        samples=len(samples),
        rmse_s=_rmse(samples, values),
    )
