"""Build a small real denoiser bundle for the runtime's tests, and its torch reference.

The toy model follows the denoiser stage contract of export/BUNDLE.md (embed → layer_00 → layer_01 → final,
every input used, `merge_t`/`unmerge_t` around a time-mixing op, `h` → `h` outputs with `onnx_name`), so the
Deno runtime can run `denoise()` on it. `expected.safetensors` holds the inputs, one recorded model call, and
the final latents of a CFG Euler loop written here in torch as Open-Sora's RFLOW does it.

Usage: scripts/py tests/_toy_denoiser.py OUT_DIR
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from export.onnx.block import export_block  # noqa: E402

C, OUT, HID, CC, L, P = 4, 8, 16, 8, 4, 2


class Embed(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.x, self.y, self.t = torch.nn.Linear(C * P * P, HID), torch.nn.Linear(CC, HID), torch.nn.Linear(HID, HID)
        self.pos, self.freqs, self.fps = (torch.nn.Parameter(torch.randn(HID) * 0.1) for _ in range(3))

    def forward(self, x, timestep, y, y_mask, x_mask, fps, height, width):
        b, c, t, hp, wp = x.shape
        p = x.reshape(b, c, t, hp // P, P, wp // P, P).permute(0, 2, 3, 5, 1, 4, 6).reshape(b, t, hp // P, wp // P, c * P * P)
        h = self.x(p) + torch.sqrt(height * width) / 512 * self.pos
        te = torch.sin(timestep[:, None] / 1000 * self.freqs * 10) + fps[:, None] / 100 * self.fps
        t_emb = te[:, None, :] * x_mask[:, :, None]
        return h, self.t(torch.nn.functional.silu(t_emb)), t_emb, self.y(y) * y_mask[..., None]


class Layer(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Linear(HID, HID)

    def forward(self, h, y_emb, y_mask, t_mlp, merge_t, unmerge_t):
        a = torch.einsum("st,bthwc->bshwc", merge_t, h)
        ctx = (y_emb * y_mask[..., None]).sum(1) / (y_mask.sum(1, keepdim=True) + 1)
        a = torch.tanh(self.a(a) + ctx[:, None, None, None, :])
        return h + torch.einsum("ts,bshwc->bthwc", unmerge_t, a) * (1 + t_mlp[:, :, None, None, :])


class Final(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.o = torch.nn.Linear(HID, OUT * P * P)

    def forward(self, h, t_emb):
        o = self.o(h + t_emb[:, :, None, None, :])
        b, t, hh, ww, _ = o.shape
        return o.reshape(b, t, hh, ww, OUT, P, P).permute(0, 4, 1, 2, 5, 3, 6).reshape(b, OUT, t, hh * P, ww * P)


def timesteps(k: int, height: float, width: float, frames: float) -> torch.Tensor:
    """Open-Sora v1.2 RFLOW timesteps with the shift, on fp32 tensors as the reference computes them."""
    ts = []
    for i in range(k):
        t = torch.tensor([(1.0 - i / k) * 1000]) / 1000
        ratio = ((torch.tensor([height]) * torch.tensor([width])) / (512 * 512)).sqrt()
        ratio = ratio * (torch.tensor([frames]) // 17 * 5).sqrt()
        ts.append((ratio * t / (1 + (ratio - 1) * t)) * 1000)
    return torch.cat(ts)


def main(out: Path) -> None:
    torch.manual_seed(7)
    torch.set_num_threads(1)
    embed, layers, final = Embed(), [Layer(), Layer()], Final()
    n, T, H, W, Hp, Wp = 2, 3, 5, 6, 6, 6
    z = torch.randn(n, C, T, H, W)
    y = torch.randn(n, L, CC)
    y_mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    y_null = torch.randn(L + 1, CC)
    fps, height, width, frames = 24.0, 40.0, 48.0, 17.0
    merge0 = torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    unmerge0 = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])

    def call(x, t, merge, unmerge):
        xp = torch.nn.functional.pad(x, (0, Wp - W, 0, Hp - H))
        feeds = dict(x=torch.cat([xp, xp]), timestep=torch.full((2 * n,), float(t)), y=torch.cat([y, y_null[:L][None].repeat(n, 1, 1)]),
                     y_mask=torch.cat([y_mask, y_mask]).float(), x_mask=torch.ones(2 * n, T), fps=torch.full((2 * n,), fps),
                     height=torch.tensor([height]), width=torch.tensor([width]), merge_t=merge, unmerge_t=unmerge)
        h, t_mlp, t_emb, y_emb = embed(*[feeds[k] for k in ("x", "timestep", "y", "y_mask", "x_mask", "fps", "height", "width")])
        for layer in layers:
            h = layer(h, y_emb, feeds["y_mask"], t_mlp, merge, unmerge)
        return feeds, final(h, t_emb)

    ts = timesteps(4, height, width, frames)
    results = {}
    with torch.no_grad():
        for label, merge_steps in (("z_final", 0), ("z_final_merged", 1)):
            x = z.clone()
            for i in range(len(ts)):
                m, u = (merge0, unmerge0) if i < merge_steps else (torch.eye(T), torch.eye(T))
                feeds, o = call(x, ts[i], m, u)
                if i == 0 and merge_steps == 0:
                    results.update({f"call0.{k}": v for k, v in feeds.items()} | {"call0.out": o})
                v = o[:, :, :, :H, :W][:, :C]
                cond, uncond = v.chunk(2)
                v = uncond + 7.0 * (cond - uncond)
                dt = (ts[i] - ts[i + 1] if i < len(ts) - 1 else ts[i]) / 1000
                x = x + v * dt
            results[label] = x
    feeds = {k[6:]: v for k, v in results.items() if k.startswith("call0.") and k != "call0.out"}
    h, t_mlp, t_emb, y_emb = embed(*[feeds[k] for k in ("x", "timestep", "y", "y_mask", "x_mask", "fps", "height", "width")])
    dyn5 = {0: "B", 1: "T", 2: "H", 3: "W"}
    blocks = [export_block(embed, [feeds[k] for k in ("x", "timestep", "y", "y_mask", "x_mask", "fps", "height", "width")],
                           input_names=["x", "timestep", "y", "y_mask", "x_mask", "fps", "height", "width"],
                           output_names=["h", "t_mlp", "t_emb", "y_emb"],
                           dynamic_axes={"x": {0: "B", 2: "T", 3: "Hp", 4: "Wp"}, "timestep": {0: "B"}, "y": {0: "B", 1: "L"},
                                         "y_mask": {0: "B", 1: "L"}, "x_mask": {0: "B", 1: "T"}, "fps": {0: "B"}, "h": dyn5,
                                         "t_mlp": {0: "B", 1: "T"}, "t_emb": {0: "B", 1: "T"}, "y_emb": {0: "B", 1: "L"}},
                           out_dir=out, rel_file="denoiser/embed.onnx", name="embed")]
    for i, layer in enumerate(layers):
        args = [h, y_emb, feeds["y_mask"], t_mlp, feeds["merge_t"], feeds["unmerge_t"]]
        blocks.append(export_block(layer, args, input_names=["h", "y_emb", "y_mask", "t_mlp", "merge_t", "unmerge_t"],
                                   output_names=["h_out"],
                                   dynamic_axes={"h": dyn5, "h_out": dyn5, "y_emb": {0: "B", 1: "L"}, "y_mask": {0: "B", 1: "L"},
                                                 "t_mlp": {0: "B", 1: "T"}, "merge_t": {0: "Tm", 1: "T"},
                                                 "unmerge_t": {0: "T", 1: "Tm"}},
                                   out_dir=out, rel_file=f"denoiser/layer_{i:02d}.onnx", name=f"layer_{i:02d}"))
        blocks[-1]["outputs"][0] |= {"name": "h", "onnx_name": "h_out"}
    blocks.append(export_block(final, [h, t_emb], input_names=["h", "t_emb"], output_names=["out"],
                               dynamic_axes={"h": dyn5, "t_emb": {0: "B", 1: "T"}, "out": {0: "B", 2: "T", 3: "Hp", 4: "Wp"}},
                               out_dir=out, rel_file="denoiser/final.onnx", name="final"))
    manifest = {
        "schema": "odsora.bundle/1", "name": "toy-denoiser", "family": "toy",
        "source": {"kind": "random", "detail": "tests/_toy_denoiser.py (runtime tests)"}, "created": "2026-01-01T00:00:00Z",
        "text": None, "vae": None,
        "denoiser": {"hidden_size": HID, "num_heads": 1, "depth": 2, "patch_size": [1, P, P], "in_channels": C,
                     "out_channels": OUT, "inputs": ["x", "timestep", "y", "y_mask", "x_mask", "fps", "height", "width",
                                                     "merge_t", "unmerge_t"], "output": "out", "blocks": blocks},
        "video": {"fps": fps, "default_frames": int(frames), "default_height": int(height), "default_width": int(width)},
        "preview": None, "quantization": None,
    }
    results |= {"z": z, "y": y, "y_mask": y_mask, "y_null": y_null, "timesteps": ts, "merge0": merge0, "unmerge0": unmerge0}
    save_file({k: v.contiguous() for k, v in results.items()}, str(out / "expected.safetensors"))
    (out / "bundle.json").write_text(json.dumps(manifest, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
