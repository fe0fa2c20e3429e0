"""Parity of a bundle's denoiser stage (ONNX blocks, chained as the runtime does) with golden fixtures.

Each `check_*` returns [(label, rel_err)] with rel_err = ‖out − ref‖ / ‖ref‖, for single model calls
(the samplers' whole runs are the Deno parity's: `deno task parity`). The fixture kind is told by the
tensors it holds, so unseen fixtures of the same layout (other sizes, configs, seeds) work:
- io.safetensors with `out`                        → stdit3_forward (out, out_xmask, out_nomask)
- outputs.safetensors with `model_out_step0`, inputs.safetensors → rflow_sample (the first step's call)
- outputs.safetensors with `single_forward_step0*` → on-device LPL/TDTM (plain and merged first call)
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
from safetensors.numpy import load_file

from export.parity.denoiser_runner import reference_tdtm_operators, run_denoiser

Rows = list[tuple[str, float]]


def rel(a: np.ndarray, b: np.ndarray) -> float:
    """Relative L2 error ‖a − b‖ / ‖b‖."""
    return float(np.linalg.norm((np.asarray(a, np.float64) - b).ravel()) / max(np.linalg.norm(b.ravel()), 1e-30))


def _load(d: Path, name: str) -> dict[str, np.ndarray]:
    p = d / name
    return load_file(str(p)) if p.exists() else {}


def fixture_kind(fixture_dir: Path) -> str | None:
    """'stdit3_forward', 'rflow_sample', 'ondevice' or None (not a denoiser fixture)."""
    d = Path(fixture_dir)
    if "out" in _load(d, "io.safetensors"):
        return "stdit3_forward"
    outs = _load(d, "outputs.safetensors")
    if any(k.startswith("single_forward_step0") for k in outs):
        return "ondevice"
    if "model_out_step0" in outs and (d / "inputs.safetensors").exists():
        return "rflow_sample"
    return None


def check_stdit3_forward(d: Path, bundle: Path, stage: Mapping, cfg: Mapping) -> Rows:
    io = _load(d, "io.safetensors")
    name = str(cfg.get("fixture") or d.name)
    kw = dict(fps=io["fps"], height=float(io["height"][0]), width=float(io["width"][0]))
    rows = [(f"{name}/out", rel(run_denoiser(bundle, stage, io["x"], io["timestep"], io["y"], y_mask=io["mask"], **kw),
                                io["out"]))]
    if "out_xmask" in io:
        got = run_denoiser(bundle, stage, io["x"], io["timestep"], io["y"], y_mask=io["mask"], x_mask=io["x_mask"], **kw)
        rows.append((f"{name}/out_xmask", rel(got, io["out_xmask"])))
    if "out_nomask" in io:
        rows.append((f"{name}/out_nomask", rel(run_denoiser(bundle, stage, io["x"], io["timestep"], io["y"], **kw),
                                               io["out_nomask"])))
    return rows


def _forward(bundle: Path, stage: Mapping, inp: Mapping, z: np.ndarray, t0: np.ndarray, x_mask: np.ndarray,
             merged: bool = False) -> np.ndarray:
    """One CFG-doubled model call at the first timestep (text y = [cond; null]), as the fixtures record it."""
    ops = reference_tdtm_operators(z.shape[2]) if merged else (None, None)
    return run_denoiser(bundle, stage, np.concatenate([z, z]), np.concatenate([t0, t0]),
                        np.concatenate([inp["y"], inp["y_null"]]), y_mask=inp["mask"], x_mask=x_mask,
                        fps=inp["add_fps"], height=float(inp["add_height"][0]), width=float(inp["add_width"][0]),
                        merge_t=ops[0], unmerge_t=ops[1])


def check_rflow_sample(d: Path, bundle: Path, stage: Mapping, cfg: Mapping) -> Rows:
    """The first step's model output (`model_out_step0`) under the fixture's frame mask."""
    inp, out = _load(d, "inputs.safetensors"), _load(d, "outputs.safetensors")
    name = str(cfg.get("fixture") or d.name)
    sch = cfg.get("scheduler", {})
    t0 = out["timesteps"][0]
    fm = inp.get("frame_mask_t2v", np.ones((inp["z"].shape[0], inp["z"].shape[2]), np.float32))
    upper = (fm * int(sch.get("num_timesteps", 1000)) >= t0[:, None]).astype(np.float32)
    step0 = _forward(bundle, stage, inp, inp["z"], t0, np.concatenate([upper, upper]))
    return [(f"{name}/model_out_step0", rel(step0, out["model_out_step0"]))]


def check_ondevice(d: Path, bundle: Path, stage: Mapping, cfg: Mapping) -> Rows:
    """The first step's model output, plain and TDTM-merged (`single_forward_step0*`)."""
    out = _load(d, "outputs.safetensors")
    name = str(cfg.get("fixture") or d.name)
    inp = {k[len("inputs_b1."):]: v for k, v in out.items() if k.startswith("inputs_b1.")}
    z, t0 = inp["z"], out["timesteps"][0]
    ones = np.ones((2 * z.shape[0], z.shape[2]), np.float32)
    return [(f"{name}/{key}", rel(_forward(bundle, stage, inp, z, t0, ones, key.endswith("_merged")), out[key]))
            for key in sorted(k for k in out if k.startswith("single_forward_step0"))]


CHECKS = {"stdit3_forward": check_stdit3_forward, "rflow_sample": check_rflow_sample, "ondevice": check_ondevice}
