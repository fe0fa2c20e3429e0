"""`python -m export` / `python -m export.parity` end to end, atomic bundle writing, streaming memory."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from export.onnx.bundle import BundleError, read_bundle, source_fields, write_bundle
from export.onnx.denoiser import random_denoiser_source
from export.parity.denoiser_runner import run_denoiser
from export.models.stdit3 import STDiT3, preset

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
torch.set_num_threads(1)


def run(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=timeout)


def test_help_lists_the_subcommands() -> None:
    r = run("-m", "export", "--help")
    assert r.returncode == 0
    assert all(c in r.stdout for c in ("opensora", "random", "fixture"))


def test_random_tiny_denoiser_bundle_runs_like_the_torch_model(tmp_path: Path) -> None:
    r = run("-m", "export", "random", "--config", "tiny", "--stages", "denoiser", "--seed", "7", "--out",
            str(tmp_path / "b"), "--threads", "1", "--quiet")
    assert r.returncode == 0, r.stderr
    assert "peak RSS" in r.stdout and "MiB" in r.stdout
    doc = read_bundle(tmp_path / "b")
    assert doc["text"] is None and doc["denoiser"]["depth"] == 2
    assert doc["source"] == {"kind": "random", "detail": "config=tiny seed=7 stages=denoiser", "config": "tiny",
                             "seed": 7, "stages": ["denoiser"]}
    model = STDiT3(preset("tiny")).eval()
    random_denoiser_source(preset("tiny"), seed=7).load_into(model)
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(1, 4, 3, 6, 6, generator=g), torch.randn(1, 8, 32, generator=g)
    with torch.no_grad():
        ref = model(x, torch.tensor([500.0]), y, fps=torch.tensor([24.0]), height=torch.tensor([240.0]),
                    width=torch.tensor([426.0])).numpy()
    got = run_denoiser(tmp_path / "b", doc["denoiser"], x.numpy(), np.array([500.0]), y.numpy(), height=240.0, width=426.0)
    assert np.linalg.norm(got - ref) / np.linalg.norm(ref) < 1e-5
    null = np.fromfile(tmp_path / "b" / "null_caption.bin", dtype="<f4").reshape(8, 32)
    assert np.allclose(null, model.null_caption().numpy())


def test_fixture_command_errors_leave_nothing_behind(tmp_path: Path, golden: Path) -> None:
    bad = tmp_path / "fx"
    shutil.copytree(golden / "stdit3_forward", bad)
    os.chmod(bad, 0o755)
    w = load_file(str(bad / "weights.safetensors"))
    w["spatial_blocks.9.mlp.fc1.bias"] = torch.zeros(4)
    del w["t_block.1.bias"]
    (bad / "weights.safetensors").chmod(0o644)
    save_file(w, str(bad / "weights.safetensors"))
    r = run("-m", "export", "fixture", str(bad), "--out", str(tmp_path / "out"))
    assert r.returncode == 1
    assert "missing keys ['t_block.1.bias']" in r.stderr and "unknown keys ['spatial_blocks.9.mlp.fc1.bias']" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fx"]  # no bundle, no temp folder
    r = run("-m", "export", "fixture", str(tmp_path / "nope"), "--out", str(tmp_path / "out"))
    assert r.returncode == 1 and "Cannot read fixture" in r.stderr


def test_write_bundle_is_atomic(tmp_path: Path) -> None:
    def failing(tmp: Path) -> dict:
        (tmp / "partial.onnx").write_bytes(b"x")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        write_bundle(tmp_path / "b", failing, name="n", source_kind="random", detail="")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "notabundle").mkdir()
    (tmp_path / "notabundle" / "keep.txt").write_text("mine")
    with pytest.raises(BundleError, match="not a bundle"):
        write_bundle(tmp_path / "notabundle", lambda tmp: {}, name="n", source_kind="random", detail="")
    assert (tmp_path / "notabundle" / "keep.txt").read_text() == "mine"


def test_source_fields_structured_and_from_an_old_detail_line(tmp_path: Path) -> None:
    doc = write_bundle(tmp_path / "b", lambda tmp: {}, name="n", source_kind="checkpoint", detail="stdit=a vae=b",
                       provenance={"checkpoints": {"stdit": "a", "vae": "b"}})
    assert read_bundle(tmp_path / "b")["source"] == doc["source"]
    assert source_fields(doc) == {"checkpoints": {"stdit": "a", "vae": "b"}}
    assert source_fields({"source": {"kind": "checkpoint", "detail": "stdit=a vae=b"}}) == source_fields(doc)
    old = {"source": {"kind": "random", "detail": "config=tiny seed=5 stages=text,vae"}}
    assert source_fields(old) == {"config": "tiny", "seed": 5, "stages": ["text", "vae"]}
    assert source_fields({"source": {"kind": "trained", "detail": "seed=1"}}) == {}
    with pytest.raises(BundleError, match=r"provenance fields \['detail'\]"):
        write_bundle(tmp_path / "c", lambda tmp: {}, name="n", source_kind="random", detail="", provenance={"detail": 1})
    assert not (tmp_path / "c").exists()


def test_parity_command_passes_and_can_fail(tmp_path: Path, golden: Path) -> None:
    r = run("-m", "export.parity", str(golden / "stdit3_forward"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "stdit3_forward/out_xmask rel_err=" in r.stdout and r.stdout.count("PASS") == 9
    blocks = ["embed", "spatial_00", "temporal_00", "spatial_01", "temporal_01", "final"]
    assert [ln.split()[0] for ln in r.stdout.splitlines() if "/block/" in ln] == [f"stdit3_forward/block/{b}"
                                                                                 for b in blocks]
    bad = tmp_path / "stdit3_forward"
    shutil.copytree(golden / "stdit3_forward", bad)
    os.chmod(bad, 0o755)
    w = load_file(str(bad / "weights.safetensors"))
    w["temporal_blocks.1.mlp.fc2.bias"] += 0.05
    (bad / "weights.safetensors").chmod(0o644)
    save_file(w, str(bad / "weights.safetensors"))
    r = run("-m", "export.parity", str(bad))
    assert r.returncode == 1 and "FAIL" in r.stdout


MEMORY_SCRIPT = """
import json, resource, sys, tempfile
from pathlib import Path
import torch
torch.set_num_threads(1)
from export.onnx.denoiser import export_denoiser, random_denoiser_source
from export.models.stdit3_config import preset
def peak(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
with tempfile.TemporaryDirectory() as d:
    export_denoiser(preset("tiny"), random_denoiser_source(preset("tiny")), Path(d) / "warm")
    base = peak()
    cfg = preset("mid")
    stage = export_denoiser(cfg, random_denoiser_source(cfg), Path(d) / "mid")
    print(json.dumps({"growth": peak() - base, "max_block": max(b["bytes"] for b in stage["blocks"]),
                      "total": sum(b["bytes"] for b in stage["blocks"])}))
"""


def test_export_streams_one_block_at_a_time() -> None:
    """hidden 512, depth 8 (17 blocks, ~280 MB): peak RSS growth is bounded by the largest block, not the model.

    torch.onnx.export itself needs ~4.5x the weights of the module it traces (params, folded copies, the
    serialized proto), so the bound is a small multiple of ONE block plus a fixed overhead.
    """
    r = run("-c", MEMORY_SCRIPT)
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout.strip().splitlines()[-1])
    assert m["total"] > 15 * m["max_block"]
    assert m["growth"] < 8 * m["max_block"] + 32 * 2**20, m
    assert m["growth"] < 0.5 * m["total"], m
