"""Convert a bundle's blocks to Core ML packages that an iPhone app serves over the iOS bridge.

    scripts/py ios-bridge/coreml_export.py BUNDLE --out DIR [--stages text,denoiser,vae] [--precision auto|fp16|fp32]
        [--stdit CKPT] [--t5 CKPT] [--vae CKPT] [--dims B=2,T=1:32,vae.N=1:8] [--target iOS17|iOS18]
        [--blocks embed,final]

Each block is rebuilt from the team's torch modules (export/) with the weights the bundle was exported
from (a random bundle's config and seed from bundle.json, a checkpoint bundle's paths, else the given
checkpoints), checked against the bundle's ONNX block with onnxruntime (so the package computes what the
bundle computes), then converted with the same input and output names to DIR/<stage>/<name>.mlpackage;
DIR/coreml.json lists them. DIR is written complete or not at all. Core ML cannot run predictions on
Linux: the packages are checked here by their descriptions only; run them on a Mac or an iPhone.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402

from coreml_convert import convert_block, parse_dims, spec_summary, stage_dims  # noqa: E402
from coreml_sources import STAGES, CoreMLExportError, stage_source  # noqa: E402

SCHEMA = "odsora.coreml/1"
PARITY_TOL = 1e-4  # relative L2 of the rebuilt torch block vs the bundle's ONNX block (fp32, CPU)
# "auto": T5 in fp32 (T5 v1.1 activations overflow fp16; the authors' T5 export is fp32 too), the rest fp16
AUTO_PRECISION = {"text": "fp32", "denoiser": "fp16", "vae": "fp16"}
FP16_MASK_BIAS = -3.0e4  # padded text keys in fp16 (the fp32 bias -1e30 would be -inf)


def onnx_parity(bundle_dir: Path, block: dict, module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> float:
    """Relative L2 between the rebuilt torch block and the bundle's ONNX block on `args` (worst output)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(bundle_dir / block["file"]), options, providers=["CPUExecutionProvider"])
    feeds = {io["name"]: a.numpy() for io, a in zip(block["inputs"], args)}
    names = [o.get("onnx_name", o["name"]) for o in block["outputs"]]
    want = session.run(names, feeds)
    with torch.no_grad():
        got = module(*args)
    got = got if isinstance(got, (tuple, list)) else (got,)
    return max(_rel_l2(g.numpy(), w) for g, w in zip(got, want))


def _rel_l2(got: np.ndarray, want: np.ndarray) -> float:
    """Relative L2 in float64 over finite entries; infinite entries must match exactly (else inf)."""
    got, want = got.astype(np.float64), want.astype(np.float64)
    if got.shape != want.shape or not np.array_equal(np.isfinite(got), np.isfinite(want)):
        return float("inf")
    finite = np.isfinite(want)
    if not np.array_equal(got[~finite], want[~finite]):
        return float("inf")
    return float(np.linalg.norm(got[finite] - want[finite]) / max(np.linalg.norm(want[finite]), 1e-300))


def export_coreml(bundle_dir: Path, out: Path, *, stages: list[str] | None = None, precision: str = "auto",
                  checkpoints: dict[str, str | None] | None = None, dims: str | None = None, target: str = "iOS17",
                  blocks: list[str] | None = None, log=print) -> dict:  # noqa: ANN001
    """Write out/<stage>/*.mlpackage + out/coreml.json (atomically) and return the manifest."""
    bundle_dir = Path(bundle_dir)
    bundle = json.loads((bundle_dir / "bundle.json").read_text())
    stages = stages or [s for s in STAGES if bundle.get(s)]
    if precision not in ("auto", "fp16", "fp32"):
        raise CoreMLExportError(f"Cannot convert: precision '{precision}' is not 'auto', 'fp16' or 'fp32'")
    given = parse_dims(dims)
    sources = {s: stage_source(bundle, s, checkpoints or {}) for s in stages}  # every source checked first
    known = {n for s in stages for b in bundle[s]["blocks"] for n in (b["name"], f"{s}/{b['name']}")}
    if set(blocks or []) - known:
        raise CoreMLExportError(f"Cannot convert blocks {sorted(set(blocks) - known)}: stages {stages} of bundle "
                                f"'{bundle_dir}' have no such blocks")
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        manifest = {"schema": SCHEMA, "bundle": bundle["name"], "precision": precision, "target": target,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "dims": {}, "blocks": []}
        for stage in stages:
            ranges = stage_dims(stage, bundle[stage], given)
            manifest["dims"][stage] = {k: list(v) for k, v in ranges.items()}
            wanted = [b for b in bundle[stage]["blocks"] if not blocks or {b["name"], f"{stage}/{b['name']}"} & set(blocks)]
            for block in wanted:
                bits = AUTO_PRECISION[stage] if precision == "auto" else precision
                manifest["blocks"].append(_convert(bundle_dir, tmp, stage, block, sources[stage], ranges,
                                                   bits, target, log))
        (tmp / "coreml.json").write_text(json.dumps(manifest, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return manifest


def _convert(bundle_dir: Path, tmp: Path, stage: str, block: dict, source, ranges: dict, precision: str,  # noqa: ANN001
             target: str, log) -> dict:  # noqa: ANN001
    """Check one block against its ONNX file, convert it, save it under tmp; return its manifest entry."""
    started = time.time()
    label = f"{stage}/{block['name']}"
    module, args = source.build(block["name"]), source.example(block["name"])
    err = onnx_parity(bundle_dir, block, module, args)
    if not err <= PARITY_TOL:
        raise CoreMLExportError(
            f"Cannot convert block '{label}': the rebuilt torch block differs from the bundle's ONNX block "
            f"(relative L2 '{err:.3g}' > '{PARITY_TOL}'); are these the weights it was exported from?")
    if precision == "fp16" and hasattr(module, "mask_bias"):
        module.mask_bias = FP16_MASK_BIAS
    try:
        model = convert_block(module, args, block, dims=ranges, precision=precision, target=target)
    except Exception as e:  # coremltools raises many kinds; name the block and keep the cause
        raise CoreMLExportError(f"Cannot convert block '{label}' to Core ML: {e}") from e
    rel = f"{stage}/{block['name']}.mlpackage"
    (tmp / stage).mkdir(exist_ok=True)
    model.save(str(tmp / rel))
    log(f"{label}: parity {err:.2e}, {precision}, converted in {time.time() - started:.1f} s")
    return {"stage": stage, "name": block["name"], "file": rel, "onnx": block["file"], "precision": precision,
            "parity": err, **spec_summary(model)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="coreml_export.py", description=__doc__.split("\n\n")[0])
    p.add_argument("bundle", type=Path)
    p.add_argument("--out", type=Path, required=True, help="folder to write (replaced when complete)")
    p.add_argument("--stages", help="comma-separated subset of text,denoiser,vae (default: all in the bundle)")
    p.add_argument("--precision", choices=["auto", "fp16", "fp32"], default="auto",
                   help="auto: text fp32, denoiser and vae fp16")
    for key in ("stdit", "t5", "vae"):
        p.add_argument(f"--{key}", help=f"{key} checkpoint the bundle was exported from (random bundles: not needed)")
    p.add_argument("--dims", help="shape ranges, e.g. B=2,T=1:32,H=1:64,W=1:64,vae.N=1:8 (fixed: B=2)")
    p.add_argument("--target", choices=["iOS17", "iOS18"], default="iOS17")
    p.add_argument("--blocks", help="comma-separated block names, NAME or STAGE/NAME (default: all)")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    try:
        m = export_coreml(a.bundle, a.out, stages=a.stages.split(",") if a.stages else None, precision=a.precision,
                          checkpoints={"stdit": a.stdit, "t5": a.t5, "vae": a.vae}, dims=a.dims, target=a.target,
                          blocks=a.blocks.split(",") if a.blocks else None)
    except (CoreMLExportError, ValueError, OSError, KeyError) as e:
        print(str(e).strip("'\""), file=sys.stderr)
        return 1
    print(f"wrote {a.out}: {len(m['blocks'])} Core ML blocks ({a.precision} precision, {a.target})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
