"""Train the default model's STDiT3 denoiser and its tiny T5 text encoder (jointly) on the VAE's latents.

Needs the finished VAE checkpoint (export/train/vae.py). Resumes models/train/dit.pt when it
exists; keeps EMA copies of both networks for sampling; stop it any time (the last checkpoint is at most
`--save-minutes` old) and run the same command again to continue.

    scripts/py -m export.train.dit [--steps 20000] [--device cuda] [--threads 1]
    scripts/py -m export.train.dit --buckets --threads 2 --clips 256 --steps 1000 --lr 2e-4 --warmup 100 --ema 0.995

`--buckets` trains on export/train/buckets.py's buckets (images, 17 and 34 frames; 64x64 and 48x64), one
bucket a batch. When the checkpoint at `--out` was trained without buckets, the bucket stage starts from
its weights and EMA (fine-tuning; step 0, fresh optimizer, EMA decay `--ema` from the first step) and
saves over it with `stage: "buckets"`; a bucket checkpoint resumes like any other.
"""
from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import torch
from tokenizers import Tokenizer
from transformers import T5EncoderModel

from export.train import default_model as dm
from export.train.buckets import BUCKETS
from export.train.dit_latents import bucket_latents, training_latents
from export.train.dit_steps import bucket_rf_step, rf_step
from export.models.stdit3 import STDiT3
from export.models.t5 import hf_config
from export.world.tokenizer_words import build_tokenizer
from export.train.common import (TRAIN_DIR, Log, TrainError, cosine_lr, ema_update, load_checkpoint, save_checkpoint,
                           set_lr, setup, step_rng)
from export.train.vae import build_vae


def build_models(vocab_size: int) -> tuple[STDiT3, T5EncoderModel]:
    """Fresh STDiT3 (Open-Sora init) and T5 encoder of the default sizes (call after seeding torch)."""
    dit = STDiT3(dm.stdit3_config())
    dit.init_weights()
    t5 = T5EncoderModel(hf_config(dm.t5_config(vocab_size)))
    return dit, t5


def load_vae(path: Path) -> torch.nn.Module:
    ck = load_checkpoint(path)
    if not ck.get("done"):
        raise TrainError(f"Cannot train the DiT: the VAE checkpoint '{path}' is not finished "
                         "(run scripts/py -m export.train.vae first)")
    vae = build_vae()
    vae.load_state_dict(ck["model"])
    return vae.eval()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=TRAIN_DIR / "dit.pt")
    ap.add_argument("--vae", type=Path, default=TRAIN_DIR / "vae.pt")
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--clips", type=int, default=4000, help="training clips (latents cached once)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--save-minutes", type=float, default=5.0)
    ap.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint")
    ap.add_argument("--stop-after", type=int, default=0, help="save and stop after this many steps (0: run to --steps)")
    ap.add_argument("--buckets", action="store_true", help="train on the buckets (--clips clips per bucket)")
    ap.add_argument("--warmup", type=int, default=500)
    args = ap.parse_args(argv)
    device = setup(args.threads, args.device)
    log = Log(args.out.with_name(args.out.stem + "_log.jsonl"))
    stage = "buckets" if args.buckets else "single"

    vae = load_vae(args.vae).to(device)
    if args.buckets:
        latents = [bucket_latents(vae, i, BUCKETS, args.clips, args.seed, device, log=log) for i in range(len(BUCKETS))]
    else:
        latents = training_latents(vae, args.clips, args.seed, device, log=log)
    del vae
    tok = build_tokenizer()
    torch.manual_seed(args.seed)
    dit, t5 = build_models(tok.get_vocab_size())
    step, elapsed, opt_state, init = 0, 0.0, None, None
    ema_dit, ema_t5 = copy.deepcopy(dit), copy.deepcopy(t5)
    if args.out.exists() and not args.fresh:
        ck = load_checkpoint(args.out)
        ck_stage = ck.get("stage", "single")
        fine_tune = args.buckets and ck_stage == "single"
        if ck_stage == "buckets" and not args.buckets:
            raise TrainError(f"Cannot resume '{args.out}': it is a bucket checkpoint (add --buckets)")
        if not fine_tune and (ck.get("seed") != args.seed or ck.get("clips") != args.clips):
            raise TrainError(f"Cannot resume '{args.out}': it used seed '{ck.get('seed')}' and clips "
                             f"'{ck.get('clips')}', not '{args.seed}' and '{args.clips}'")
        tok = Tokenizer.from_str(ck["tokenizer"])
        for m, k in ((dit, "dit"), (t5, "t5"), (ema_dit, "ema_dit"), (ema_t5, "ema_t5")):
            m.load_state_dict(ck[k])
        if fine_tune:
            init = {"step": ck["step"], "elapsed": ck["elapsed"], "seed": ck["seed"], "clips": ck["clips"]}
            log(event="fine-tune", from_step=ck["step"], steps=args.steps, lr=args.lr)
        else:
            step, elapsed, opt_state, init = ck["step"], ck["elapsed"], ck["optimizer"], ck.get("init")
            log(event="resume", step=step, steps=args.steps, lr=args.lr)
    for m in (dit, t5, ema_dit, ema_t5):
        m.to(device)
    ema_dit.eval(), ema_t5.eval()
    params = list(dit.parameters()) + list(t5.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    if opt_state is not None:
        opt.load_state_dict(opt_state)

    t_start, last_save, window = time.time(), time.time(), []

    def save() -> None:
        save_checkpoint({"kind": "odsora.dit", "stage": stage, "init": init,
                         "buckets": [b.name for b in BUCKETS] if args.buckets else None,
                         "seed": args.seed, "clips": args.clips, "step": step,
                         "elapsed": elapsed + time.time() - t_start, "tokenizer": tok.to_str(),
                         "dit": dit.state_dict(), "t5": t5.state_dict(), "ema_dit": ema_dit.state_dict(),
                         "ema_t5": ema_t5.state_dict(), "optimizer": opt.state_dict(),
                         "config": {"stdit3": dm.stdit3_config().to_json(),
                                    "t5": dm.t5_config(tok.get_vocab_size())}}, args.out)

    dit.train(), t5.train()
    done_here = 0
    while step < args.steps:
        set_lr(opt, cosine_lr(step, args.steps, args.lr, warmup=args.warmup, floor=0.1))
        if args.buckets:
            rng, gen = step_rng(args.seed, 1, step)
            loss = bucket_rf_step(dit, t5, tok, latents, BUCKETS, args.seed, rng, gen, device)["loss"]
        else:
            rng, gen = step_rng(args.seed, 0, step)
            loss = rf_step(dit, t5, tok, latents, args.seed, rng, gen, args.batch, device)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        decay = args.ema if init is not None else min(args.ema, (1 + step) / (10 + step))
        ema_update(ema_dit, dit, decay)
        ema_update(ema_t5, t5, decay)
        step += 1
        window.append(float(loss.detach()))
        if step % 50 == 0 or step == args.steps:
            now = elapsed + time.time() - t_start
            log(step=step, loss=sum(window) / len(window), lr=opt.param_groups[0]["lr"], elapsed_min=round(now / 60, 2))
            window = []
        done_here += 1
        if args.stop_after and done_here >= args.stop_after:
            save()
            log(event="stop", step=step)
            return
        if time.time() - last_save > args.save_minutes * 60 or step == args.steps:
            save()
            last_save = time.time()


if __name__ == "__main__":
    main()
