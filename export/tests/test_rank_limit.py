"""Every block module the ONNX export writes keeps its tensors at rank ≤ 5, Core ML's limit, so the Core ML
export (ios-bridge/coreml_export.py) converts these same modules: no re-written forward passes."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from export.models import t5
from export.models.stdit3_config import STDiT3Config, preset
from export.models.stdit3_layers import RotaryEmbedding
from export.onnx.builders import random_configs
from export.onnx.denoiser_blocks import DenoiserBlock, EmbedBlock, FinalBlock, example_inputs
from export.onnx.text import random_text_source
from export.onnx.vae import SCALING_FACTOR, SpatialDecodeBlock, TemporalDecodeBlock, load_vae, random_vae_source

torch.set_num_threads(1)


def max_rank(module: nn.Module, args: tuple[torch.Tensor, ...]) -> int:
    """The highest rank of any tensor the traced `module(*args)` computes (inputs and outputs included)."""
    graph = torch.jit.trace(module.eval(), args, check_trace=False).inlined_graph
    values = [v for n in graph.nodes() for v in n.outputs()] + list(graph.inputs())
    return max(v.type().dim() or 0 for v in values if isinstance(v.type(), torch._C.TensorType))


class _Rank6(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        return x.unflatten(-1, (2, 2)).sum(-1)


def test_the_probe_sees_a_rank_6_tensor() -> None:
    assert max_rank(_Rank6(), (torch.ones(1, 2, 3, 4, 4),)) == 6


@pytest.mark.parametrize("cfg", [preset("tiny"), STDiT3Config(hidden_size=32, depth=1, num_heads=2, caption_channels=16,
                                                               model_max_length=4, patch_size=(2, 2, 1))])
def test_denoiser_blocks_stay_at_rank_5(cfg: STDiT3Config) -> None:
    freqs = RotaryEmbedding(cfg.head_dim).freqs.detach()
    blocks = [(EmbedBlock(cfg), "embed"), (DenoiserBlock(cfg, False), "block"), (DenoiserBlock(cfg, True, freqs), "block"),
              (FinalBlock(cfg), "final")]
    for module, kind in blocks:
        assert max_rank(module, example_inputs(cfg, kind, B=2, T=3, Tm=2, H=2, W=5)) <= 5, kind


def test_text_and_vae_blocks_stay_at_rank_5() -> None:
    _, text_cfg, vae_cfg = random_configs("tiny")
    source = random_text_source(text_cfg, 0)
    ids, mask = torch.randint(2, text_cfg["vocab_size"], (2, 5)), torch.ones(2, 5, dtype=torch.int64)
    hidden, bias = torch.randn(2, 5, text_cfg["d_model"]), torch.randn(2, text_cfg["num_heads"], 5, 5)
    assert max_rank(t5.build_block(text_cfg, "embed", source), (ids, mask)) <= 5
    assert max_rank(t5.build_block(text_cfg, "layer_00", source), (hidden, bias)) <= 5
    assert max_rank(t5.build_block(text_cfg, "final", source), (hidden,)) <= 5
    pipe = load_vae(vae_cfg, random_vae_source(vae_cfg, 0))
    z = torch.randn(1, vae_cfg["spatial"]["latent_channels"], 2, 3, 5)
    assert max_rank(TemporalDecodeBlock(pipe), (z,)) <= 5
    assert max_rank(SpatialDecodeBlock(pipe, SCALING_FACTOR), (z,)) <= 5
