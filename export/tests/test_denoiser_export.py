"""Denoiser stage export: strict keys, dynamic-shape block graphs, chain == full model, fixture bundle parity."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from export.onnx.bundle import read_bundle, write_bundle
from export.parity.chain import against_torch, run_block
from export.onnx.denoiser_blocks import BLOCK_IO, DenoiserBlock, EmbedBlock, FinalBlock, example_inputs
from export.onnx.denoiser import build_denoiser_block, check_denoiser_keys, export_denoiser, random_denoiser_source
from export.parity.denoiser import check_stdit3_forward
from export.parity.denoiser_runner import reference_tdtm_operators, run_denoiser
from export.onnx.fixture import fixture_builder
from export.onnx.block import export_block
from export.models.stdit3 import STDiT3, STDiT3Config, preset
from export.models.weights import WeightError, WeightSource

torch.set_num_threads(1)
# Small, with pred_sigma and a config unlike the fixtures (6 heads, mlp 2.0, no 64-wide hidden).
CFG = STDiT3Config(hidden_size=48, depth=2, num_heads=6, mlp_ratio=2.0, caption_channels=24, model_max_length=6)


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm((a - b).ravel()) / max(np.linalg.norm(b.ravel()), 1e-30))


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, STDiT3]:
    """A random CFG denoiser exported to ONNX, and the torch model with the same weights."""
    out = tmp_path_factory.mktemp("denoiser")
    source = random_denoiser_source(CFG, seed=3)
    stage = export_denoiser(CFG, source, out)
    model = STDiT3(CFG).eval()
    source.load_into(model)
    return out, stage, model


def _tensors(source: WeightSource) -> dict[str, torch.Tensor]:
    return {k: source.get(k) for k in source.keys()}


def test_missing_key_is_named() -> None:
    t = _tensors(random_denoiser_source(CFG))
    del t["temporal_blocks.1.mlp.fc2.bias"]
    with pytest.raises(WeightError, match=r"missing keys \['temporal_blocks.1.mlp.fc2.bias'\]"):
        check_denoiser_keys(CFG, WeightSource.from_tensors(t))


def test_unknown_key_is_named() -> None:
    t = _tensors(random_denoiser_source(CFG))
    t["spatial_blocks.2.attn.qkv.weight"] = torch.zeros(3)
    with pytest.raises(WeightError, match=r"unknown keys \['spatial_blocks.2.attn.qkv.weight'\]"):
        check_denoiser_keys(CFG, WeightSource.from_tensors(t))


def test_wrong_shape_is_named_and_nothing_is_written(tmp_path: Path) -> None:
    t = _tensors(random_denoiser_source(CFG))
    t["final_layer.linear.weight"] = torch.zeros(5, 48)
    with pytest.raises(WeightError, match=r"wrong shapes \['final_layer.linear.weight': checkpoint \[5, 48\]"):
        export_denoiser(CFG, WeightSource.from_tensors(t), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_rope_freqs_is_optional(tmp_path: Path) -> None:
    t = _tensors(random_denoiser_source(CFG))
    del t["rope.freqs"]
    check_denoiser_keys(CFG, WeightSource.from_tensors(t))  # no error


@pytest.mark.parametrize("kind,temporal", [("embed", False), ("block", False), ("block", True), ("final", False)])
def test_one_graph_runs_at_two_shapes(tmp_path: Path, kind: str, temporal: bool) -> None:
    torch.manual_seed(0)
    module = {"embed": lambda: EmbedBlock(CFG), "final": lambda: FinalBlock(CFG),
              "block": lambda: DenoiserBlock(CFG, temporal, torch.rand(CFG.head_dim // 2))}[kind]().eval()
    io = BLOCK_IO[kind]
    entry = export_block(module, example_inputs(CFG, kind), input_names=io["inputs"], output_names=io["outputs"],
                         dynamic_axes=io["axes"], out_dir=tmp_path, rel_file="b.onnx", name="b")
    assert entry["inputs"][0]["dims"][0] == "B" and entry["outputs"][0]["dims"][0] == "B"
    for shape in (dict(B=1, T=7, H=3, W=4, L=5, Tm=3), dict(B=3, T=2, H=5, W=2, L=2, Tm=2)):
        args = example_inputs(CFG, kind, seed=1, **shape)
        with torch.no_grad():
            ref = module(*args)
        ref = ref if isinstance(ref, tuple) else (ref,)
        env = run_block(tmp_path, entry, {n: a.numpy() for n, a in zip(io["inputs"], args)})
        for name, r in zip(io["outputs"], ref):
            assert env[name].shape == tuple(r.shape)
            assert rel(env[name], r.numpy()) < 1e-5, (name, shape)


def test_block_entries_follow_the_contract(exported: tuple[Path, dict, STDiT3]) -> None:
    _, stage, _ = exported
    names = [b["name"] for b in stage["blocks"]]
    assert names == ["embed", "spatial_00", "temporal_00", "spatial_01", "temporal_01", "final"]
    spatial = stage["blocks"][1]
    assert [i["name"] for i in spatial["inputs"]] == ["h", "y_emb", "y_mask", "t_mlp", "merge_t", "unmerge_t"]
    assert spatial["inputs"][0]["dims"] == ["B", "T", "H", "W", 48]
    temporal = stage["blocks"][2]
    assert [i["name"] for i in temporal["inputs"]] == ["h", "y_emb", "y_mask", "t_mlp", "merge_t", "unmerge_t",
                                                      "rope_pos"]
    assert temporal["inputs"][-1]["dims"] == ["Tm"]
    assert spatial["outputs"][0]["onnx_name"] == "h_out"
    assert stage["blocks"][-1]["outputs"][0]["dims"] == ["B", CFG.out_channels, "T", "Hp", "Wp"]
    assert stage["out_channels"] == 8 and stage["patch_size"] == [1, 2, 2]


@pytest.mark.parametrize("merged,with_x_mask,timed", [(False, False, False), (True, False, False),
                                                      (False, True, False), (True, False, True)])
def test_chain_equals_full_model(exported: tuple[Path, dict, STDiT3], merged: bool, with_x_mask: bool,
                                 timed: bool) -> None:
    """ONNX chain (padded, cropped by the runner) == torch STDiT3 at a size that needs patch padding; `timed`:
    the merged frames at their mean time (rope_pos) instead of 0..Tm−1."""
    out_dir, stage, model = exported
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, 4, 7, 5, 9, generator=g)
    t = torch.tensor([900.0, 120.5])
    y = torch.randn(2, 1, 6, 24, generator=g)
    mask = torch.tensor([[1, 1, 1, 1, 0, 0], [1, 1, 0, 0, 0, 0]])
    x_mask = torch.tensor([[0, 1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 1, 1, 1]]) if with_x_mask else None
    ops = reference_tdtm_operators(7) if merged else (None, None)
    pos = (ops[0] @ np.arange(7, dtype=np.float32)).astype(np.float32) if timed else None
    kw = dict(fps=torch.tensor([24.0]), height=torch.tensor([144.0]), width=torch.tensor([256.0]))
    with torch.no_grad():
        ref = model(x, t, y, mask=mask, x_mask=x_mask, merge_t=None if ops[0] is None else torch.from_numpy(ops[0]),
                    unmerge_t=None if ops[1] is None else torch.from_numpy(ops[1]),
                    rope_pos=None if pos is None else torch.from_numpy(pos), **kw).numpy()
    got = run_denoiser(out_dir, stage, x.numpy(), t.numpy(), y.numpy(), y_mask=mask.numpy(),
                       x_mask=None if x_mask is None else x_mask.numpy(), fps=np.array([24.0]), height=144.0,
                       width=256.0, merge_t=ops[0], unmerge_t=ops[1], rope_pos=pos)
    assert got.shape == (2, 8, 7, 5, 9)
    assert rel(got, ref) < 1e-5
    if timed:  # the positions reach the temporal attention: the index positions give another output
        index = run_denoiser(out_dir, stage, x.numpy(), t.numpy(), y.numpy(), y_mask=mask.numpy(), fps=np.array([24.0]),
                             height=144.0, width=256.0, merge_t=ops[0], unmerge_t=ops[1])
        assert rel(index, got) > 1e-4


def test_fixture_bundle_reproduces_stdit3_forward(tmp_path: Path, golden: Path) -> None:
    name, build = fixture_builder(golden / "stdit3_forward")
    write_bundle(tmp_path / "b", build, name=name, source_kind="fixture", detail="test")
    doc = read_bundle(tmp_path / "b")
    assert doc["text"] is None and doc["vae"] is None
    null = np.fromfile(tmp_path / "b" / doc["null_caption"]["file"], dtype="<f4").reshape(doc["null_caption"]["dims"])
    from safetensors.numpy import load_file
    assert np.array_equal(null, load_file(str(golden / "stdit3_forward" / "weights.safetensors"))["y_embedder.y_embedding"])
    cfg = json.loads((golden / "stdit3_forward" / "config.json").read_text())
    rows = check_stdit3_forward(golden / "stdit3_forward", tmp_path / "b", doc["denoiser"], cfg)
    assert [r[0] for r in rows] == ["stdit3_forward/out", "stdit3_forward/out_xmask", "stdit3_forward/out_nomask"]
    assert all(err < 1e-4 for _, err in rows), rows


def test_presets() -> None:
    xl = preset("xl")
    assert (xl.hidden_size, xl.depth, xl.num_heads, xl.head_dim, xl.out_channels) == (1152, 28, 16, 72, 8)
    assert preset("3b").hidden_size == 1872 and preset("3b").head_dim == 72


def test_every_block_is_compared_with_its_torch_module_and_a_mismatch_shows(tmp_path: Path) -> None:
    cfg = preset("tiny")
    source = random_denoiser_source(cfg, seed=3)
    stage = export_denoiser(cfg, source, tmp_path)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(1, 4, 3, 6, 6, generator=g).numpy(), torch.randn(1, 8, 32, generator=g).numpy()
    errors = {}
    for seed in (3, 4):  # the weights it was exported from, then other weights
        other = random_denoiser_source(cfg, seed=seed)
        with against_torch(lambda name, s=other: build_denoiser_block(cfg, name, s)[0]) as errors[seed]:
            run_denoiser(tmp_path, stage, x, np.array([500.0]), y)
    assert list(errors[3]) == [b["name"] for b in stage["blocks"]]
    assert max(errors[3].values()) < 1e-5
    assert min(errors[4].values()) > 1e-2
