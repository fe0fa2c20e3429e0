"""`python -m export.parity` on a fixture folder it has never seen: another config and a size that needs padding.

The folder follows the golden stdit3_forward layout (config.json "model" section, weights.safetensors,
io.safetensors); its reference tensors come from our torch STDiT3, which itself matches the real golden
fixtures (test_stdit3_golden.py). What this proves is the generic path: layout detection, config reading,
padding to the patch grid and cropping, masks, pred_sigma — nothing keyed to the public fixtures' shapes.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from export.onnx.denoiser import random_denoiser_source
from export.models.stdit3 import STDiT3, STDiT3Config

ROOT = Path(__file__).resolve().parents[2]
torch.set_num_threads(1)


def make_fixture(d: Path) -> None:
    cfg = STDiT3Config(hidden_size=40, depth=3, num_heads=5, mlp_ratio=3.0, pred_sigma=True, caption_channels=20,
                       model_max_length=7, input_sq_size=256)
    src = random_denoiser_source(cfg, seed=11)
    model = STDiT3(cfg).eval()
    src.load_into(model)
    g = torch.Generator().manual_seed(4)
    x = torch.randn(3, 4, 4, 5, 11, generator=g)  # H, W odd: padded to 6, 12
    y = torch.randn(3, 1, 7, 20, generator=g)
    mask = (torch.arange(7)[None] < torch.tensor([[7], [2], [5]])).long()
    io = dict(x=x, y=y, mask=mask, timestep=torch.tensor([999.0, 10.0, 500.0]), fps=torch.full((3,), 24.0),
              height=torch.full((3,), 144.0), width=torch.full((3,), 256.0),
              x_mask=torch.tensor([[1, 0, 1, 1], [1, 1, 1, 1], [0, 0, 1, 1]], dtype=torch.uint8))
    kw = dict(fps=io["fps"], height=io["height"], width=io["width"])
    with torch.no_grad():
        io["out"] = model(x, io["timestep"], y, mask=mask, **kw)
        io["out_xmask"] = model(x, io["timestep"], y, mask=mask, x_mask=io["x_mask"].bool(), **kw)
        io["out_nomask"] = model(x, io["timestep"], y, **kw)
    d.mkdir()
    save_file({k: src.get(k).contiguous() for k in src.keys()}, str(d / "weights.safetensors"))
    save_file({k: v.contiguous() for k, v in io.items()}, str(d / "io.safetensors"))
    (d / "config.json").write_text(json.dumps({"fixture": "stdit3_unseen", "model": cfg.to_json()}))


def test_parity_runs_an_unseen_fixture_layout(tmp_path: Path) -> None:
    make_fixture(tmp_path / "stdit3_unseen")
    r = subprocess.run([sys.executable, "-m", "export.parity", str(tmp_path / "stdit3_unseen")], cwd=ROOT,
                       capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = [ln for ln in r.stdout.splitlines() if "rel_err=" in ln]
    blocks = ["embed"] + [f"{p}_{i:02d}" for i in range(3) for p in ("spatial", "temporal")] + ["final"]
    assert [ln.split()[0] for ln in lines] == ["stdit3_unseen/out", "stdit3_unseen/out_xmask", "stdit3_unseen/out_nomask",
                                              *[f"stdit3_unseen/block/{b}" for b in blocks]]
    assert all(ln.endswith("PASS") for ln in lines)


def test_parity_expands_a_folder_of_fixtures(tmp_path: Path):
    from export.parity.fixtures import expand_fixture_dirs
    for name in ("b_fx", "a_fx"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text("{}")
    (tmp_path / "README.md").write_text("not a fixture")
    assert expand_fixture_dirs([str(tmp_path)]) == [tmp_path / "a_fx", tmp_path / "b_fx"]
    assert expand_fixture_dirs([str(tmp_path / "a_fx")]) == [tmp_path / "a_fx"]
    assert expand_fixture_dirs([str(tmp_path / "missing")]) == [tmp_path / "missing"]
