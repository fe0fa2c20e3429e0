"""STDiT3 torch model vs the golden reference tensors (Open-Sora v1.2 and On-device-Sora, fp32)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from export.parity.denoiser_runner import reference_tdtm_operators
from export.models.stdit3 import STDiT3, from_fixture
from export.models.weights import WeightSource

TOL = 1e-4
torch.set_num_threads(1)


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def load_model(golden: Path, fixture: str) -> STDiT3:
    model = STDiT3(from_fixture(golden / fixture)).eval()
    WeightSource.open(golden / fixture / "weights.safetensors").load_into(model)
    return model


@pytest.mark.parametrize("output", ["out", "out_xmask", "out_nomask"])
def test_forward_matches_stdit3_forward_fixture(golden: Path, output: str) -> None:
    model = load_model(golden, "stdit3_forward")
    io = load_file(golden / "stdit3_forward" / "io.safetensors")
    kw = dict(fps=io["fps"], height=io["height"], width=io["width"])
    if output != "out_nomask":
        kw["mask"] = io["mask"]
    if output == "out_xmask":
        kw["x_mask"] = io["x_mask"].bool()
    with torch.no_grad():
        got = model(io["x"], io["timestep"], io["y"], **kw)
    assert got.shape == io[output].shape
    assert rel(got, io[output]) < TOL


def test_x_mask_changes_the_output(golden: Path) -> None:
    """The x_mask path is not a no-op (the fixture's out_xmask differs from out), so the test above is real."""
    io = load_file(golden / "stdit3_forward" / "io.safetensors")
    assert rel(io["out_xmask"], io["out"]) > 1e-2


def test_forward_matches_rflow_model_out_step0(golden: Path) -> None:
    model = load_model(golden, "rflow_sample")
    inp = load_file(golden / "rflow_sample" / "inputs.safetensors")
    out = load_file(golden / "rflow_sample" / "outputs.safetensors")
    t = out["timesteps"][0]
    with torch.no_grad():
        got = model(torch.cat([inp["z"]] * 2), torch.cat([t, t]), torch.cat([inp["y"], inp["y_null"]]),
                    mask=inp["mask"], fps=inp["add_fps"], height=inp["add_height"], width=inp["add_width"])
    assert rel(got, out["model_out_step0"]) < TOL


@pytest.mark.parametrize("fixture,key,merged", [("ondevice_lpl", "single_forward_step0", False),
                                                ("ondevice_tdtm", "single_forward_step0_merged", True)])
def test_forward_matches_ondevice_single_forward(golden: Path, fixture: str, key: str, merged: bool) -> None:
    model = load_model(golden, "rflow_sample")  # the on-device fixtures reuse rflow_sample's weights
    out = load_file(golden / fixture / "outputs.safetensors")
    z, t = out["inputs_b1.z"], out["timesteps"][0]
    kw = {}
    if merged:
        m, u = reference_tdtm_operators(z.shape[2])
        kw = dict(merge_t=torch.from_numpy(m), unmerge_t=torch.from_numpy(u))
    with torch.no_grad():
        got = model(torch.cat([z, z]), torch.cat([t, t]), torch.cat([out["inputs_b1.y"], out["inputs_b1.y_null"]]),
                    mask=out["inputs_b1.mask"], fps=out["inputs_b1.add_fps"], height=out["inputs_b1.add_height"],
                    width=out["inputs_b1.add_width"], **kw)
    assert rel(got, out[key]) < TOL


def test_reference_tdtm_operators_for_odd_t() -> None:
    m, u = reference_tdtm_operators(7)
    assert m.shape == (3, 7) and u.shape == (7, 3)
    assert m[:, 6].sum() == 0  # the last frame is dropped by merge
    assert (m.sum(1) == 1).all() and (u.sum(1) == 1).all()
    assert u[6, 2] == 1 and u[5, 2] == 1  # the last frame takes the last pair's output
    with pytest.raises(ValueError, match="Cannot build reference TDTM operators"):
        reference_tdtm_operators(5)
