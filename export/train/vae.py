"""Train the default model's VAE (Open-Sora v1.2 pipeline: spatial AutoencoderKL + temporal VAE) on the world.

Phases, each resumable from the checkpoint: `spatial` (per-frame reconstruction), `temporal` (the temporal
VAE on frozen spatial latents, latent + pixel loss), `joint` (temporal VAE and spatial decoder together on
pixels), then the latent normalisation (`scale`, `shift`: per-channel std and mean of the latents).

    scripts/py -m export.train.vae [--device cuda] [--threads 2]     # resumes models/train/vae.pt
    scripts/py -m export.train.vae --bucket-steps 50                 # then the bucket phase (vae_buckets.py)

The bucket phase runs after the finished VAE (scale/shift kept, so the DiT's latents keep their scale):
the joint objective on images (T = 1) and 48x64 frames as well as 17-frame 64x64 clips.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from export.train import default_model as dm
from export.train.common import (TRAIN_DIR, Log, TrainError, cosine_lr, load_checkpoint, save_checkpoint, set_lr,
                           setup, step_rng)
from export.models.vae import SCALING_FACTOR, VideoAutoencoderPipeline
from export.train.vae_buckets import VAE_BUCKETS, bucket_psnr, bucket_step
from export.train.vae_steps import latent_stats, reconstruction_psnr, spatial_step, temporal_step

PHASES = ("spatial", "temporal", "joint")


def build_vae() -> VideoAutoencoderPipeline:
    """The default VAE pipeline with identity normalisation (scale 1, shift 0) until stats are measured."""
    c = dm.SPATIAL_VAE["latent_channels"]
    return VideoAutoencoderPipeline({"spatial": dm.SPATIAL_VAE, "temporal": dm.TEMPORAL_VAE,
                                     "scale": [1.0] * c, "shift": [0.0] * c})


def phase_params(vae: VideoAutoencoderPipeline, phase: str) -> list[torch.nn.Parameter]:
    if phase == "spatial":
        return list(vae.spatial_vae.parameters())
    if phase == "temporal":
        return list(vae.temporal_vae.parameters())
    return list(vae.temporal_vae.parameters()) + list(vae.spatial_vae.module.decoder.parameters()) + \
        list(vae.spatial_vae.module.post_quant_conv.parameters())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=TRAIN_DIR / "vae.pt")
    ap.add_argument("--steps", type=int, nargs=3, default=[1000, 1200, 300], metavar=("SPATIAL", "TEMPORAL", "JOINT"))
    ap.add_argument("--batch", type=int, nargs=3, default=[32, 8, 4], metavar=("FRAMES", "CLIPS", "CLIPS"))
    ap.add_argument("--lr", type=float, nargs=3, default=[1e-3, 1e-3, 3e-4])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--save-minutes", type=float, default=4.0)
    ap.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint")
    ap.add_argument("--stop-after", type=int, default=0, help="save and stop after this many steps (0: run to the end)")
    ap.add_argument("--eval-clips", type=int, default=16, help="validation clips for the PSNR at each phase end")
    ap.add_argument("--stats-clips", type=int, default=256, help="clips for the latent scale/shift")
    ap.add_argument("--bucket-steps", type=int, default=0, help="steps of the bucket phase after the VAE is done")
    ap.add_argument("--bucket-lr", type=float, default=2e-4)
    args = ap.parse_args(argv)
    device = setup(args.threads, args.device)
    log = Log(args.out.with_name(args.out.stem + "_log.jsonl"))

    torch.manual_seed(args.seed)
    vae = build_vae()
    phase, step, opt_state, elapsed = 0, 0, None, 0.0
    if args.out.exists() and not args.fresh:
        ck = load_checkpoint(args.out)
        if ck.get("seed") != args.seed:
            raise TrainError(f"Cannot resume '{args.out}': it was trained with seed '{ck.get('seed')}', not '{args.seed}'")
        vae.load_state_dict(ck["model"])
        if ck.get("done"):
            if ck.get("bucket_step", 0) < args.bucket_steps or ck.get("bucket_optimizer") is not None:
                bucket_phase(vae.to(device), ck, args, device, log)
            else:
                log(event="done", detail=f"'{args.out}' is already fully trained; use --fresh to start over")
            return
        phase, step, elapsed = ck["phase"], ck["step"], ck.get("elapsed", 0.0)
        opt_state = ck.get("optimizer") if step > 0 else None  # a phase boundary carries no optimizer
        log(event="resume", phase=phase, step=step)
    vae.to(device)

    def save(done: bool = False) -> None:
        state = {"kind": "odsora.vae", "seed": args.seed, "phase": phase, "step": step, "done": done,
                 "elapsed": elapsed + time.time() - t_start, "model": vae.state_dict(),
                 "optimizer": opt.state_dict() if opt is not None and not done else None,
                 "config": {"spatial": dm.SPATIAL_VAE, "temporal": dm.TEMPORAL_VAE}}
        save_checkpoint(state, args.out)

    t_start = time.time()
    opt = None
    done_here = 0
    while phase < len(PHASES):
        name = PHASES[phase]
        for p in vae.parameters():
            p.requires_grad_(False)
        params = phase_params(vae, name)
        for p in params:
            p.requires_grad_(True)
        opt = torch.optim.AdamW(params, lr=args.lr[phase], weight_decay=0.0)
        if opt_state is not None:
            opt.load_state_dict(opt_state)
            opt_state = None
        last_save = time.time()
        total = args.steps[phase]
        while step < total:
            set_lr(opt, cosine_lr(step, total, args.lr[phase], warmup=min(100, total // 10 + 1)))
            rng, gen = step_rng(args.seed, phase, step)
            if name == "spatial":
                losses = spatial_step(vae, rng, gen, args.batch[0], device)
            else:
                losses = temporal_step(vae, rng, gen, args.batch[phase], device, joint=(name == "joint"))
            opt.zero_grad(set_to_none=True)
            losses["loss"].backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            step += 1
            done_here += 1
            if args.stop_after and done_here >= args.stop_after:
                save()
                log(event="stop", phase=name, step=step)
                return
            if step % 25 == 0 or step == total:
                log(phase=name, step=step, **{k: float(v.detach()) for k, v in losses.items()},
                    elapsed_min=round((elapsed + time.time() - t_start) / 60, 2))
            if time.time() - last_save > args.save_minutes * 60:
                save()
                last_save = time.time()
        vae.eval()
        log(phase=name, event="end", psnr_db=reconstruction_psnr(vae, args.seed, device, full=(name != "spatial"),
                                                                  clips=args.eval_clips))
        vae.train()
        phase, step, opt = phase + 1, 0, None
        save()
    with torch.no_grad():
        mean, std = latent_stats(vae, args.seed, device, clips=args.stats_clips)
        vae.shift.copy_(mean.reshape(vae.shift.shape))
        vae.scale.copy_(std.reshape(vae.scale.shape))
    log(event="stats", shift=[round(float(v), 4) for v in mean], scale=[round(float(v), 4) for v in std],
        scaling_factor=SCALING_FACTOR, minutes=round((elapsed + time.time() - t_start) / 60, 2))
    save(done=True)
    if args.bucket_steps:
        bucket_phase(vae, load_checkpoint(args.out), args, device, log)


def bucket_phase(vae: VideoAutoencoderPipeline, ck: dict, args: argparse.Namespace, device: torch.device,
                 log: Log) -> None:
    """Fine-tune the finished VAE on VAE_BUCKETS up to `--bucket-steps`, resumable (bucket_step in `ck`)."""
    step, t_start, elapsed = ck.get("bucket_step", 0), time.time(), ck.get("bucket_elapsed", 0.0)
    vae.train()
    for p in vae.parameters():
        p.requires_grad_(False)
    params = phase_params(vae, "joint")
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=args.bucket_lr, weight_decay=0.0)
    if ck.get("bucket_optimizer") is not None:
        opt.load_state_dict(ck["bucket_optimizer"])

    def save() -> None:  # a finished phase keeps no optimizer state (as a finished VAE)
        save_checkpoint({**ck, "model": vae.state_dict(), "bucket_step": step,
                         "bucket_optimizer": opt.state_dict() if step < args.bucket_steps else None,
                         "bucket_elapsed": elapsed + time.time() - t_start,
                         "buckets": [b.name for b in VAE_BUCKETS]}, args.out)

    if step == 0:
        vae.eval()
        log(phase="buckets", event="start", psnr_db={b.name: round(bucket_psnr(vae, args.seed, i, device, VAE_BUCKETS), 2)
                                                     for i, b in enumerate(VAE_BUCKETS)})
        vae.train()
    last_save, done_here = time.time(), 0
    while step < args.bucket_steps:
        set_lr(opt, cosine_lr(step, args.bucket_steps, args.bucket_lr, warmup=min(50, args.bucket_steps // 10 + 1)))
        losses = bucket_step(vae, args.seed, step, device)
        opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        done_here += 1
        if step % 25 == 0 or step == args.bucket_steps:
            log(phase="buckets", step=step, **{k: float(v.detach()) for k, v in losses.items()},
                elapsed_min=round((elapsed + time.time() - t_start) / 60, 2))
        if args.stop_after and done_here >= args.stop_after:
            save()
            log(event="stop", phase="buckets", step=step)
            return
        if time.time() - last_save > args.save_minutes * 60 or step == args.bucket_steps:
            save()
            last_save = time.time()
    save()  # also when resumed at or past --bucket-steps (a shortened phase ends here, without its optimizer)
    vae.eval()
    log(phase="buckets", event="end", psnr_db={b.name: round(bucket_psnr(vae, args.seed, i, device, VAE_BUCKETS), 2)
                                               for i, b in enumerate(VAE_BUCKETS)})


if __name__ == "__main__":
    main()
