"""Export the trained default model (VAE + EMA STDiT3 + EMA T5 + word tokenizer) as the bundle models/default.

    scripts/py -m export.train.export_default [--vae models/train/vae.pt] [--dit models/train/dit.pt]

Uses the team's stage exporters (export_text, export_denoiser, export_vae, write_bundle), so the bundle is
exactly what `python -m export` writes for real Open-Sora v1.2 checkpoints, at the default model's sizes.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from export.train import default_model as dm
from export.onnx.bundle import write_bundle
from export.onnx.builders import complete_text_stage, describe
from export.onnx.denoiser import export_denoiser, write_null_caption
from export.train.buckets import BUCKETS
from export.train.dit_latents import bucket_latents, training_latents
from export.onnx.preview_fit import fit_preview
from export.onnx.text import export_text
from export.world.tokenizer_words import save_tokenizer
from export.train.common import TRAIN_DIR, load_checkpoint
from export.train.dit import load_vae
from export.train.monitor import load_text_to_video
from export.onnx.vae import export_vae
from export.models.weights import WeightSource
from export.world.world_json import trained_configs, write_world_json

VIDEO = {"fps": dm.FPS, "default_frames": dm.DEFAULT_FRAMES, "default_height": dm.WORLD.height,
         "default_width": dm.WORLD.width}


def vae_export_config(vae: torch.nn.Module) -> dict:
    """The pipeline config export_vae expects, with the trained normalisation."""
    return {"spatial": dm.SPATIAL_VAE, "temporal": {k: v for k, v in dm.TEMPORAL_VAE.items() if k != "activation_fn"},
            "scale": vae.scale.flatten().tolist(), "shift": vae.shift.flatten().tolist(),
            "micro_frame_size": dm.CHUNK_FRAMES, "micro_batch_size": dm.SPATIAL_MICRO_BATCH}


def preview_training_latents(vae: torch.nn.Module, ck: dict, n: int = 16) -> torch.Tensor:
    """The first `n` cached training latents the preview is fitted on: the first bucket's (the default
    length) for a bucket checkpoint, else the stage-1 clips'."""
    if ck.get("stage") == "buckets":
        return bucket_latents(vae, 0, BUCKETS, ck["clips"], ck["seed"], torch.device("cpu"))[:n]
    return training_latents(vae, ck["clips"], ck["seed"], torch.device("cpu"))[:n]


def steps_text(ck: dict) -> str:
    """The DiT's training steps as the bundle's provenance says them (both stages for a bucket checkpoint)."""
    if ck.get("stage") == "buckets" and ck.get("init"):
        return f"{ck['init']['step']} DiT steps on 17-frame clips + {ck['step']} on buckets"
    return f"{ck['step']} DiT steps"


def export_default(out: Path, vae_path: Path, dit_path: Path, ema: bool = True) -> dict:
    """Write the bundle at `out` (atomically) and return its manifest."""
    vae = load_vae(vae_path)
    dit, t5, tok, step = load_text_to_video(dit_path, ema=ema)
    ck = load_checkpoint(dit_path)
    dit_src = WeightSource.from_tensors(dit.state_dict())
    t5_src = WeightSource.from_tensors(t5.state_dict())
    vae_src = WeightSource.from_tensors(vae.state_dict())
    text_cfg = {**dm.t5_config(tok.get_vocab_size()), "max_length": dm.TEXT_MAX_LENGTH}
    preview_latents = preview_training_latents(vae, ck)

    def build(tmp: Path) -> dict:
        save_tokenizer(tok, tmp / "tokenizer.json")
        write_world_json(tmp / "world.json", trained_configs())  # the evaluation's motion rule reads it
        null = write_null_caption(dit_src, tmp)
        text = export_text(text_cfg, t5_src, tmp)
        return {"text": complete_text_stage(text, tokenizer="tokenizer.json", null_caption=null, prompt_suffix=""),
                "denoiser": export_denoiser(dm.stdit3_config(), dit_src, tmp),
                "vae": export_vae(vae_export_config(vae), vae_src, tmp),
                "preview": fit_preview(vae, latents=preview_latents),
                "null_caption": null, "video": VIDEO}

    detail = (f"odsora default model trained on the synthetic world: export/train/vae.py + export/train/dit.py, "
              f"seed {ck['seed']}, {steps_text(ck)} ({'EMA' if ema else 'raw'} weights)")
    provenance = {"checkpoints": {"vae": str(vae_path), "dit": str(dit_path)}, "seed": ck["seed"], "steps": step,
                  "weights": "ema" if ema else "raw"}
    if ck.get("stage") == "buckets" and ck.get("init"):
        provenance["training"] = {"clips_17": ck["init"]["step"], "buckets": step}  # steps of each training stage
    return write_bundle(out, build, name="default", source_kind="trained", detail=detail, provenance=provenance)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("models/default"))
    ap.add_argument("--vae", type=Path, default=TRAIN_DIR / "vae.pt")
    ap.add_argument("--dit", type=Path, default=TRAIN_DIR / "dit.pt")
    ap.add_argument("--raw", action="store_true", help="export the raw weights instead of the EMA")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    doc = export_default(args.out, args.vae, args.dit, ema=not args.raw)
    print(f"default bundle at {args.out}: {describe(doc)}")


if __name__ == "__main__":
    main()
