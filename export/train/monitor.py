"""Measure a DiT checkpoint while it trains: generate the prompt set in PyTorch, let the analyzer score it.

    scripts/py -m export.train.monitor [--n 24] [--steps 30] [--raw]     # EMA weights unless --raw
    scripts/py -m export.train.monitor --tdtm chunk-time [--merge-steps 15]  # with TDTM (plugins/tdtm.ts)

Writes the clips (raw frames + labels.jsonl + world.json) into a temp folder, runs `deno run -A eval/score.ts` on it,
prints the accuracies and appends them to models/train/monitor_log.jsonl.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from pathlib import Path

import torch
from tokenizers import Tokenizer

from export.train import default_model as dm
from export.train.common import TRAIN_DIR, Log, load_checkpoint, setup
from export.train.dit import build_models, load_vae
from export.train.rf_sample import decode_frames, latent_shape, sample_latents, tdtm_operators
from export.world.world_json import trained_configs, write_world_json

TDTM_MODES = {  # --tdtm: the `tdtm` plugin's options (chunk, positions) at 5 latent frames a temporal-VAE chunk
    "paper": dict(), "chunk": dict(chunk=dm.CHUNK_LATENTS), "time": dict(time=True),
    "chunk-time": dict(chunk=dm.CHUNK_LATENTS, time=True),
}


def median_motion_ratio(items: list[dict]) -> float | None:
    """The median of the scored clips' motion ratios (displacement / the world's), as `deno task eval`."""
    ratios = sorted(i["motion_ratio"] for i in items if i.get("motion_ratio") is not None)
    if not ratios:
        return None
    mid = len(ratios) // 2
    return round(ratios[mid] if len(ratios) % 2 else (ratios[mid - 1] + ratios[mid]) / 2, 3)


def load_text_to_video(path: Path, ema: bool = True):
    """(dit, t5, tokenizer, step) from a train_dit checkpoint."""
    ck = load_checkpoint(path)
    tok = Tokenizer.from_str(ck["tokenizer"])
    dit, t5 = build_models(tok.get_vocab_size())
    dit.load_state_dict(ck["ema_dit" if ema else "dit"])
    t5.load_state_dict(ck["ema_t5" if ema else "t5"])
    return dit.eval(), t5.eval(), tok, ck["step"]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dit", type=Path, default=TRAIN_DIR / "dit.pt")
    ap.add_argument("--vae", type=Path, default=TRAIN_DIR / "vae.pt")
    ap.add_argument("--prompts", type=Path, default=Path("eval/prompts.jsonl"))
    ap.add_argument("--n", type=int, default=24, help="evaluate every k-th prompt so that about n are used")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--cfg", type=float, default=7.0)
    ap.add_argument("--raw", action="store_true", help="use the raw (not EMA) weights")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--keep", type=Path, help="write the clips here instead of a temp folder")
    ap.add_argument("--frames", type=int, default=dm.DEFAULT_FRAMES)
    ap.add_argument("--height", type=int, default=dm.WORLD.height)
    ap.add_argument("--width", type=int, default=dm.WORLD.width)
    ap.add_argument("--tdtm", choices=sorted(TDTM_MODES), help="merge with TDTM: the authors' pairs (paper), each "
                    "chunk's key frame alone (chunk), merged tokens at their mean time (time), or both")
    ap.add_argument("--merge-steps", type=int, default=15)
    args = ap.parse_args(argv)
    device = setup(args.threads, "cpu")
    dit, t5, tok, step = load_text_to_video(args.dit, ema=not args.raw)
    vae = load_vae(args.vae)
    items = [json.loads(l) for l in args.prompts.read_text().splitlines() if l.strip()]
    items = items[:: max(1, len(items) // args.n)]
    out = args.keep or Path(tempfile.mkdtemp(prefix="odsora_monitor_"))
    out.mkdir(parents=True, exist_ok=True)
    labels = []
    T = latent_shape(args.frames, args.height, args.width)[1]
    merge = tdtm_operators(T, **TDTM_MODES[args.tdtm]) if args.tdtm else None
    for start in range(0, len(items), 8):
        chunk = items[start:start + 8]
        seeds = [1000 + start + i for i in range(len(chunk))]
        z = sample_latents(dit, t5, tok, [c["prompt"] for c in chunk], seeds, steps=args.steps,
                           cfg_scale=args.cfg, device=device, frames=args.frames, height=args.height, width=args.width,
                           merge=merge, merge_steps=args.merge_steps)
        for i, (c, frames) in enumerate(zip(chunk, decode_frames(vae, z, args.frames))):
            name = f"gen_{start + i:04d}.rgb"
            (out / name).write_bytes(frames.tobytes())
            labels.append({**c, "file": name, "frames": frames.shape[0], "height": frames.shape[1],
                           "width": frames.shape[2]})
    write_world_json(out / "world.json", trained_configs())
    (out / "labels.jsonl").write_text("".join(json.dumps(l) + "\n" for l in labels))
    res = subprocess.run(["deno", "run", "-A", "eval/score.ts", str(out)], capture_output=True, text=True, check=True)
    report = json.loads(res.stdout)
    Log(args.dit.with_name("monitor_log.jsonl"))(step=step, ema=not args.raw, n=report["n"], cfg=args.cfg,
                                         frames=args.frames, size=f"{args.height}x{args.width}",
                                         tdtm=args.tdtm and f"{args.tdtm}/{args.merge_steps}",
                                         accuracy=report["accuracy"], heldout=report["heldout_accuracy"],
                                         motion_ratio=median_motion_ratio(report["items"]))
    if not args.keep:
        for p in out.iterdir():
            p.unlink()
        out.rmdir()
    torch.set_num_threads(1)


if __name__ == "__main__":
    main()
