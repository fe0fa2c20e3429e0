"""`python -m export`: write an odsora bundle (export/BUNDLE.md) from checkpoints, random weights or a fixture.

Examples:
    scripts/py -m export opensora --stdit ckpt/OpenSora-STDiT-v3 --vae ckpt/OpenSora-VAE-v1.2 \\
        --t5 ckpt/t5-v1_1-xxl --out bundles/opensora
    scripts/py -m export random --config tiny --out /tmp/tiny --stages denoiser --seed 1
    scripts/py -m export fixture /work/shared/golden/stdit3_forward --out /tmp/stdit3_fixture
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import torch

from export.onnx.bundle import BundleError, write_bundle
from export.onnx.builders import describe, opensora_builder, random_builder
from export.onnx.fixture import FixtureError, fixture_builder
from export.models.stdit3_config import PRESETS, ConfigError
from export.models.t5_tokenizer import TokenizerError
from export.models.weights import WeightError

EXPECTED_ERRORS = (WeightError, BundleError, FixtureError, ConfigError, TokenizerError, ValueError)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m export", description="Write an odsora bundle (schema odsora.bundle/1).")
    sub = p.add_subparsers(dest="command", required=True)
    o = sub.add_parser("opensora", help="export the released Open-Sora v1.2 checkpoints (streamed)")
    o.add_argument("--stdit", required=True, help="STDiT3 checkpoint folder or file (OpenSora-STDiT-v3)")
    o.add_argument("--vae", required=True, help="VAE checkpoint folder or file (OpenSora-VAE-v1.2)")
    o.add_argument("--t5", required=True, help="T5 v1.1 XXL encoder folder (safetensors/bin shards + config.json)")
    o.add_argument("--tokenizer", help="tokenizer.json or spiece.model (default: found in --t5)")
    o.add_argument("--int8-text", action="store_true", help="store the T5 weights as int8 (fp32 activations)")
    o.add_argument("--stdit-config", choices=sorted(PRESETS), help="STDiT3 size (default: the checkpoint's config.json, else xl)")
    o.add_argument("--vae-config", default="v1.2", choices=["v1.2", "tiny"], help="VAE size (default v1.2)")
    r = sub.add_parser("random", help="export random weights of a preset size (streamed, one block at a time)")
    r.add_argument("--config", required=True, choices=sorted(PRESETS), help="model size preset")
    r.add_argument("--stages", default="text,denoiser,vae", help="comma-separated subset of text,denoiser,vae")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--tokenizer", help="tokenizer.json or spiece.model to include")
    r.add_argument("--int8-text", action="store_true")
    f = sub.add_parser("fixture", help="a partial bundle holding the one stage a golden fixture exercises")
    f.add_argument("fixture_dir", help="golden fixture folder (config.json + safetensors)")
    for q in (o, r, f):
        q.add_argument("--out", required=True, help="bundle folder to write (replaced atomically)")
        q.add_argument("--name", help="bundle name (free text)")
        q.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
        q.add_argument("--quiet", action="store_true", help="print only the summary line")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    log = None if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    start = time.monotonic()
    try:
        if args.command == "opensora":
            build = opensora_builder(args.stdit, args.vae, args.t5, args.tokenizer, args.int8_text, log,
                                     stdit_preset=args.stdit_config, vae_preset=args.vae_config)
            name, kind, detail = args.name or "opensora-v1.2", "checkpoint", f"stdit={args.stdit} vae={args.vae} t5={args.t5}"
            provenance = {"checkpoints": {"stdit": args.stdit, "vae": args.vae, "t5": args.t5}}
        elif args.command == "random":
            stages = [s.strip() for s in args.stages.split(",") if s.strip()]
            build = random_builder(args.config, stages, args.seed, args.tokenizer, args.int8_text, log)
            name, kind, detail = args.name or f"random-{args.config}", "random", f"config={args.config} seed={args.seed} stages={','.join(stages)}"
            provenance = {"config": args.config, "seed": args.seed, "stages": stages}
        else:
            fname, build = fixture_builder(args.fixture_dir)
            name, kind, detail = args.name or fname, "fixture", str(Path(args.fixture_dir).resolve())
            provenance = {"fixture": detail}
        doc = write_bundle(args.out, build, name=name, source_kind=kind, detail=detail, provenance=provenance)
    except EXPECTED_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    elapsed = time.monotonic() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size = sum(p.stat().st_size for p in Path(args.out).rglob("*") if p.is_file())
    print(f"wrote {args.out}: {describe(doc)}; {size / 1e6:.1f} MB on disk; {elapsed:.1f} s; peak RSS {peak_mib:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
