"""Convert a bundle's denoiser blocks to Core ML packages an iPhone app serves over the iOS bridge.

    scripts/py ios-bridge/coreml_export.py BUNDLE --out DIR [--precision fp16|fp32] [--stdit CKPT]
        [--dims B=2,T=1:32,H=1:64,W=1:64] [--target iOS17|iOS18] [--blocks embed,final]

Each block is rebuilt from the team's torch modules (export/denoiser_blocks.py) with the weights the
bundle was exported from (a random bundle's config and seed from bundle.json, else `--stdit`), checked
against the bundle's ONNX block with onnxruntime (so the package computes what the bundle computes),
then converted with the same input and output names to DIR/denoiser/<name>.mlpackage. DIR/coreml.json
lists them. DIR is written complete or not at all. Core ML cannot run predictions on Linux: the
packages are checked here by their descriptions only; run them on a Mac or an iPhone.
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

from export.denoiser_blocks import DenoiserBlock, EmbedBlock, FinalBlock, example_inputs  # noqa: E402
from export.denoiser_export import random_denoiser_source, rope_freqs  # noqa: E402
from export.stdit3_config import STDiT3Config, preset  # noqa: E402
from export.weights import WeightSource  # noqa: E402

from coreml_blocks import CoreMLDenoiserBlock, CoreMLFinalBlock  # noqa: E402
from coreml_convert import convert_block, default_dims, parse_dims, spec_summary  # noqa: E402

SCHEMA = "odsora.coreml/1"
PARITY_TOL = 1e-4  # relative L2 of the torch twin vs the bundle's ONNX block (fp32, CPU)
FP16_MASK_BIAS = -3.0e4  # padded text keys in fp16 (the fp32 bias -1e30 would be -inf)


class CoreMLExportError(Exception):
    """The bundle cannot be converted (no weights for it, a block that does not match, bad options)."""


def _detail(bundle: dict) -> dict[str, str]:
    return dict(p.split("=", 1) for p in bundle["source"].get("detail", "").split() if "=" in p)


def weights_for(bundle: dict, stdit: str | None) -> tuple[STDiT3Config, WeightSource]:
    """The STDiT3 config and weight source the bundle's denoiser was exported from."""
    d, kind = bundle["denoiser"], bundle["source"]["kind"]
    if stdit is None and kind == "random":
        cfg = preset(_detail(bundle)["config"])
        return cfg, random_denoiser_source(cfg, int(_detail(bundle)["seed"]))
    path = stdit or (_detail(bundle).get("stdit") if kind == "checkpoint" else None)
    if not path:
        raise CoreMLExportError(f"Cannot find the weights of bundle '{bundle['name']}': its source is '{kind}'; "
                                "pass --stdit CHECKPOINT (the STDiT3 weights it was exported from)")
    source = WeightSource.open(path)
    mlp = source.shape("spatial_blocks.0.mlp.fc1.weight")[0] / d["hidden_size"]
    cfg = STDiT3Config.from_dict({**d, "mlp_ratio": mlp, "pred_sigma": d["out_channels"] == 2 * d["in_channels"]})
    return cfg, source


def build_twin(cfg: STDiT3Config, source: WeightSource, name: str) -> tuple[torch.nn.Module, str]:
    """The block's Core ML twin with its weights loaded, and its kind ('embed', 'block', 'final')."""
    if name == "embed":
        module = EmbedBlock(cfg)
        for sub in ("x_embedder", "t_embedder", "fps_embedder", "t_block", "y_embedder"):
            source.load_into(getattr(module, sub), prefix=f"{sub}.")
        return module.eval(), "embed"
    if name == "final":
        module = FinalBlock(cfg)
        source.load_into(module.final_layer, prefix="final_layer.")
        return CoreMLFinalBlock(module, cfg.out_channels).eval(), "final"
    part, idx = name.split("_")
    temporal = part == "temporal"
    module = DenoiserBlock(cfg, temporal, rope_freqs(cfg, source) if temporal else None)
    source.load_into(module.block, prefix=f"{part}_blocks.{int(idx)}.")
    return CoreMLDenoiserBlock(module).eval(), "block"


def onnx_parity(bundle_dir: Path, block: dict, twin: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> float:
    """Relative L2 between the twin and the bundle's ONNX block on `args` (worst output)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(bundle_dir / block["file"]), options, providers=["CPUExecutionProvider"])
    feeds = {io["name"]: a.numpy() for io, a in zip(block["inputs"], args)}
    names = [o.get("onnx_name", o["name"]) for o in block["outputs"]]
    want = session.run(names, feeds)
    with torch.no_grad():
        got = twin(*args)
    got = got if isinstance(got, (tuple, list)) else (got,)
    return max(float(np.linalg.norm(g.numpy() - w) / max(np.linalg.norm(w), 1e-30)) for g, w in zip(got, want))


def export_coreml(bundle_dir: Path, out: Path, *, precision: str = "fp16", stdit: str | None = None,
                  dims: str | None = None, target: str = "iOS17", blocks: list[str] | None = None,
                  log=print) -> dict:  # noqa: ANN001
    """Write out/denoiser/*.mlpackage + out/coreml.json (atomically) and return the manifest."""
    bundle = json.loads((bundle_dir / "bundle.json").read_text())
    if not bundle.get("denoiser"):
        raise CoreMLExportError(f"Cannot convert bundle '{bundle_dir}': it has no denoiser stage")
    if precision not in ("fp16", "fp32"):
        raise CoreMLExportError(f"Cannot convert: precision '{precision}' is not 'fp16' or 'fp32'")
    entries = bundle["denoiser"]["blocks"]
    unknown = sorted(set(blocks or []) - {b["name"] for b in entries})
    if unknown:
        raise CoreMLExportError(f"Cannot convert blocks {unknown}: bundle '{bundle_dir}' has no such blocks")
    ranges = {**default_dims(bundle["denoiser"]["model_max_length"], bundle["denoiser"]["patch_size"]),
              **parse_dims(dims)}
    cfg, source = weights_for(bundle, stdit)
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        manifest = {"schema": SCHEMA, "bundle": bundle["name"], "precision": precision, "target": target,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "dims": {k: list(v) for k, v in ranges.items()}, "blocks": []}
        for block in [b for b in entries if not blocks or b["name"] in blocks]:
            started = time.time()
            twin, kind = build_twin(cfg, source, block["name"])
            args = example_inputs(cfg, kind)
            err = onnx_parity(bundle_dir, block, twin, args)
            if not err <= PARITY_TOL:
                raise CoreMLExportError(
                    f"Cannot convert block '{block['name']}': the rebuilt torch block differs from the bundle's ONNX "
                    f"block (relative L2 '{err:.3g}' > '{PARITY_TOL}'); are these the weights it was exported from?")
            if precision == "fp16" and kind == "block":
                twin.mask_bias = FP16_MASK_BIAS
            try:
                model = convert_block(twin, args, block, dims=ranges, precision=precision, target=target)
            except Exception as e:  # coremltools raises many kinds; name the block and keep the cause
                raise CoreMLExportError(f"Cannot convert block '{block['name']}' to Core ML: {e}") from e
            rel = f"denoiser/{block['name']}.mlpackage"
            (tmp / "denoiser").mkdir(exist_ok=True)
            model.save(str(tmp / rel))
            manifest["blocks"].append({"stage": "denoiser", "name": block["name"], "file": rel, "onnx": block["file"],
                                       "parity": err, **spec_summary(model)})
            log(f"denoiser/{block['name']}: parity {err:.2e}, converted in {time.time() - started:.1f} s")
        (tmp / "coreml.json").write_text(json.dumps(manifest, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return manifest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="coreml_export.py", description=__doc__.split("\n\n")[0])
    p.add_argument("bundle", type=Path)
    p.add_argument("--out", type=Path, required=True, help="folder to write (replaced when complete)")
    p.add_argument("--precision", choices=["fp16", "fp32"], default="fp16")
    p.add_argument("--stdit", help="STDiT3 checkpoint the bundle was exported from (not needed for random bundles)")
    p.add_argument("--dims", help="shape ranges, e.g. B=2,T=1:32,H=1:64,W=1:64,L=1:300 (fixed: B=2)")
    p.add_argument("--target", choices=["iOS17", "iOS18"], default="iOS17")
    p.add_argument("--blocks", help="comma-separated block names (default: all)")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    try:
        m = export_coreml(a.bundle, a.out, precision=a.precision, stdit=a.stdit, dims=a.dims, target=a.target,
                          blocks=a.blocks.split(",") if a.blocks else None)
    except (CoreMLExportError, ValueError, OSError, KeyError) as e:
        print(str(e).strip("'\""), file=sys.stderr)
        return 1
    print(f"wrote {a.out}: {len(m['blocks'])} Core ML blocks ({a.precision}, {a.target})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
