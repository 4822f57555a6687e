"""A stand-in click decoder for geometry tests: it segments the crop's red pixels."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from roadmark.models.click_model import ClickModel
from roadmark.models.click_net import MEAN, STD, ClickNet
from roadmark.models.click_training import save_click_model
from roadmark.models.files import load_model


class RedOracle(nn.Module):
    """A "decoder" that segments the crop's red pixels (from its pixel channels): red above
    ``threshold`` (in [0, 1]) is inside."""

    def __init__(self, threshold: float) -> None:
        super().__init__()
        self.threshold = threshold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        red = x[:, :1] * STD[0] + MEAN[0]  # back to [0, 1]
        return (red - self.threshold) * 40.0


def oracle_model(folder: Path, threshold: float) -> ClickModel:
    """The bundled click model's code around a :class:`RedOracle` decoder."""
    torch.manual_seed(0)
    path = folder / "random.roadmodel"
    save_click_model(ClickNet(), path, name="random-click")
    model = ClickModel(load_model(path))
    model.net.decoder = RedOracle(threshold)
    return model
