"""Parity of a bundle's denoiser stage (ONNX blocks, chained as the runtime does) with golden fixtures.

Each `check_*` returns [(label, rel_err)] with rel_err = ‖out − ref‖ / ‖ref‖. The fixture kind is told
by the tensors it holds, so unseen fixtures of the same layout (other sizes, configs, seeds) work:
- io.safetensors with `out`                        → stdit3_forward (out, out_xmask, out_nomask)
- outputs.safetensors with `model_out_step0`, inputs.safetensors → rflow_sample (+ full sampler runs)
- outputs.safetensors with `single_forward_step0*` → on-device LPL/TDTM (+ baseline / TDTM sampler runs)
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
from safetensors.numpy import load_file

from export.parity.denoiser_runner import reference_tdtm_operators, run_denoiser
from export.parity.rflow_reference import sample, schedule

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


def _model(bundle: Path, stage: Mapping, y: np.ndarray, mask: np.ndarray, inp: Mapping, merge=None):  # noqa: ANN001, ANN202
    """model(z_in, t_in, x_mask, step) over the bundle with CFG text y = [cond; null], mask tiled."""
    def call(z_in: np.ndarray, t_in: np.ndarray, x_mask: np.ndarray, step: int) -> np.ndarray:
        ops = merge(step, z_in.shape[2]) if merge else (None, None)
        return run_denoiser(bundle, stage, z_in, t_in, y, y_mask=mask, x_mask=x_mask, fps=inp["fps"],
                            height=float(inp["height"][0]), width=float(inp["width"][0]),
                            merge_t=ops[0], unmerge_t=ops[1])
    return call


def check_rflow_sample(d: Path, bundle: Path, stage: Mapping, cfg: Mapping) -> Rows:
    inp, out = _load(d, "inputs.safetensors"), _load(d, "outputs.safetensors")
    name = str(cfg.get("fixture") or d.name)
    sch = cfg.get("scheduler", {})
    n = inp["z"].shape[0]
    y = np.concatenate([inp["y"], inp["y_null"]])
    extra = {"fps": inp["add_fps"], "height": inp["add_height"], "width": inp["add_width"]}
    model = _model(bundle, stage, y, inp["mask"], extra)
    ts = schedule(int(sch.get("num_sampling_steps", 30)), n, height=inp["add_height"], width=inp["add_width"],
                  num_frames=inp["add_num_frames"], transform=bool(sch.get("use_timestep_transform", True)),
                  discrete=bool(sch.get("use_discrete_timesteps", False)),
                  num_timesteps=int(sch.get("num_timesteps", 1000)))
    rows = [(f"{name}/timesteps", rel(ts, out["timesteps"]))]
    t0 = out["timesteps"][0]
    fm = inp.get("frame_mask_t2v", np.ones((n, inp["z"].shape[2]), np.float32))
    upper = (fm * int(sch.get("num_timesteps", 1000)) >= t0[:, None]).astype(np.float32)
    step0 = model(np.concatenate([inp["z"]] * 2), np.concatenate([t0, t0]), np.concatenate([upper, upper]), 0)
    rows.append((f"{name}/model_out_step0", rel(step0, out["model_out_step0"])))
    kw = dict(cfg_scale=float(sch.get("cfg_scale", 7.0)), in_channels=int(stage["in_channels"]),
              num_timesteps=int(sch.get("num_timesteps", 1000)))
    if "z_final" in out:
        rows.append((f"{name}/z_final", rel(sample(model, inp["z"], ts, frame_mask=fm, **kw), out["z_final"])))
    if "z_final_i2v" in out and "frame_mask_i2v" in inp:
        got = sample(model, inp["z"], ts, frame_mask=inp["frame_mask_i2v"], **kw)
        rows.append((f"{name}/z_final_i2v", rel(got, out["z_final_i2v"])))
    return rows


def check_ondevice(d: Path, bundle: Path, stage: Mapping, cfg: Mapping) -> Rows:
    out = _load(d, "outputs.safetensors")
    name = str(cfg.get("fixture") or d.name)
    inp = {k[len("inputs_b1."):]: v for k, v in out.items() if k.startswith("inputs_b1.")}
    y = np.concatenate([inp["y"], inp["y_null"]])
    extra = {"fps": inp["add_fps"], "height": inp["add_height"], "width": inp["add_width"]}
    z, t0 = inp["z"], out["timesteps"][0]
    rows: Rows = []
    for key in sorted(k for k in out if k.startswith("single_forward_step0")):
        merged = key.endswith("_merged")
        merge = (lambda step, T: reference_tdtm_operators(T)) if merged else None
        got = _model(bundle, stage, y, inp["mask"], extra, merge)(np.concatenate([z, z]), np.concatenate([t0, t0]),
                                                                    np.ones((2 * z.shape[0], z.shape[2]), np.float32), 0)
        rows.append((f"{name}/{key}", rel(got, out[key])))
    sch = cfg.get("scheduler", {})
    kw = dict(cfg_scale=float(sch.get("cfg_scale", 7.0)), in_channels=int(stage["in_channels"]),
              num_timesteps=int(sch.get("num_timesteps", 1000)))
    for run, spec in (cfg.get("runs") or {}).items():
        if spec.get("lpl_enabled") or f"{run}.z_final" not in out:
            continue  # adaptive LPL runs are checked by the runtime's sampler tests
        steps = int(spec.get("merge_steps", 0))
        merge = (lambda step, T, s=steps: reference_tdtm_operators(T) if step < s else (None, None)) if steps else None
        got = sample(_model(bundle, stage, y, inp["mask"], extra, merge), z, out["timesteps"], **kw)
        rows.append((f"{name}/{run}.z_final", rel(got, out[f"{run}.z_final"])))
    return rows


CHECKS = {"stdit3_forward": check_stdit3_forward, "rflow_sample": check_rflow_sample, "ondevice": check_ondevice}
