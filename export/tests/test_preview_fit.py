"""The latent → RGB preview map: least squares recovers a known map; a VAE's fit has the bundle's shape."""
from __future__ import annotations

import math

import torch

from export.onnx.preview_fit import fit_affine, fit_preview, preview_pairs
from export.onnx.vae import load_vae, random_vae_source, vae_config

torch.set_num_threads(1)


def test_fit_affine_recovers_a_known_map() -> None:
    g = torch.Generator().manual_seed(3)
    weight = torch.randn(4, 3, generator=g)
    bias = torch.tensor([0.1, -0.2, 0.3])
    cells = torch.randn(500, 4, generator=g)
    fitted = fit_affine(cells, bias + cells @ weight + 1e-4 * torch.randn(500, 3, generator=g))
    assert torch.allclose(torch.tensor(fitted["weight"]), weight, atol=1e-4)
    assert torch.allclose(torch.tensor(fitted["bias"]), bias, atol=1e-4)


def test_fit_preview_of_a_vae_has_the_bundle_shape_and_beats_a_constant() -> None:
    cfg = vae_config("tiny")
    pipe = load_vae(cfg, random_vae_source(cfg, 1))
    preview = fit_preview(pipe, samples=4, size=6, seed=0)
    assert len(preview["weight"]) == 4 and all(len(row) == 3 for row in preview["weight"])
    assert len(preview["bias"]) == 3
    assert all(math.isfinite(v) for row in preview["weight"] for v in row)
    assert fit_preview(pipe, samples=4, size=6, seed=0) == preview
    cells, rgb = preview_pairs(pipe, torch.randn(4, 4, 1, 6, 6, generator=torch.Generator().manual_seed(0)))
    assert cells.shape == (144, 4) and rgb.shape == (144, 3)
    predicted = torch.tensor(preview["bias"], dtype=torch.float64) + cells.double() @ torch.tensor(preview["weight"], dtype=torch.float64)
    residual = ((predicted - rgb.double()) ** 2).sum()
    assert residual <= ((rgb.double() - rgb.double().mean(0)) ** 2).sum() + 1e-9
