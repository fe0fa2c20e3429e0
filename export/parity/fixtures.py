"""`python -m export.parity FIXTURE_DIR...`: export each golden fixture to a bundle and check the ONNX blocks.

For every folder: build the fixture's partial bundle in a temp folder (the same path as
`python -m export fixture`), run the exported blocks with onnxruntime chained as the runtime does
(export/parity/chain.py), each block also against the torch block module it was exported from (same
inputs: `fixture/block/NAME`), and the stage's outputs against the reference tensors. Prints
`fixture/output rel_err=… PASS|FAIL` per row (rel_err = ‖out − ref‖/‖ref‖, tolerance 1e-4); exits 1 if
anything fails or cannot run. Plain files among the arguments (a glob's README.md) are skipped; a missing
folder is a failure. Python's parity level is the block; whole sampler runs are checked by the Deno
runtime against the same fixtures (`deno task parity`).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

from export.onnx.bundle import read_bundle, write_bundle
from export.onnx.fixture import fixture_builder, fixture_source, fixture_stage, read_fixture_config
from export.parity.chain import against_torch

TOLERANCE = 1e-4
Rows = list[tuple[str, float]]


def _denoiser_rows(d: Path, bundle: Path) -> Rows:
    from export.parity.denoiser import CHECKS, fixture_kind
    kind = fixture_kind(d)
    if kind is None:
        raise ValueError(f"Cannot check fixture: '{d}' holds none of the known denoiser reference tensors")
    doc = read_bundle(bundle)
    return CHECKS[kind](d, bundle, doc["denoiser"], read_fixture_config(d))


def _text_rows(d: Path, bundle: Path) -> Rows:
    from export.onnx.text import check_t5_fixture
    return check_t5_fixture(d, bundle)


def _vae_rows(d: Path, bundle: Path) -> Rows:
    from export.onnx.vae import check_vae_fixture
    return check_vae_fixture(d, bundle)


ROWS: dict[str, Callable[[Path, Path], Rows]] = {"denoiser": _denoiser_rows, "text": _text_rows, "vae": _vae_rows}


def torch_blocks(fixture_dir: Path) -> Callable[[str], torch.nn.Module]:
    """block name → the torch block module of the fixture's stage with the fixture's weights."""
    cfg = read_fixture_config(fixture_dir)
    stage, source = fixture_stage(cfg), fixture_source(fixture_dir, cfg)
    if stage == "denoiser":
        from export.models.stdit3_config import from_fixture
        from export.onnx.denoiser import build_denoiser_block
        model_cfg = from_fixture(cfg)
        return lambda name: build_denoiser_block(model_cfg, name, source)[0]
    if stage == "text":
        from export.models import t5
        from export.onnx.text import text_config_from_fixture
        text_cfg = text_config_from_fixture(cfg)
        return lambda name: t5.build_block(text_cfg, name, source)
    from export.onnx.vae import build_vae_block, load_vae, vae_config_from_fixture
    vae_cfg = vae_config_from_fixture(cfg)
    pipe = load_vae(vae_cfg, source)
    return lambda name: build_vae_block(vae_cfg, pipe, name)


def check_fixture(fixture_dir: Path, work: Path) -> Rows:
    """Export `fixture_dir` into `work/<name>` and return its (label, rel_err) rows: the stage's outputs
    against the reference tensors, then every block run against its torch module."""
    stage = fixture_stage(read_fixture_config(fixture_dir))
    name, build = fixture_builder(fixture_dir)
    bundle = work / f"{Path(fixture_dir).name}_bundle"
    detail = str(Path(fixture_dir).resolve())
    doc = write_bundle(bundle, build, name=name, source_kind="fixture", detail=detail, provenance={"fixture": detail})
    with against_torch(torch_blocks(Path(fixture_dir))) as block_errors:
        rows = ROWS[stage](Path(fixture_dir), bundle)
    missing = [b["name"] for b in doc[stage]["blocks"] if b["name"] not in block_errors]
    if missing:
        raise ValueError(f"Cannot check fixture '{name}': blocks {missing} were not run")
    return rows + [(f"{name}/block/{b}", err) for b, err in block_errors.items()]


def expand_fixture_dirs(paths: list[str]) -> list[Path]:
    """Each path as given, except a folder without config.json whose subfolders are fixtures (e.g. golden/):
    those subfolders, sorted."""
    out: list[Path] = []
    for f in paths:
        d = Path(f)
        subs = sorted(p for p in d.iterdir() if (p / "config.json").is_file()) if d.is_dir() else []
        out.extend(subs if not (d / "config.json").exists() and subs else [d])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m export.parity", description=__doc__.splitlines()[0])
    ap.add_argument("fixtures", nargs="+", help="golden fixture folders (config.json + safetensors), or folders of them")
    ap.add_argument("--tolerance", type=float, default=TOLERANCE, help="max relative L2 error (default 1e-4)")
    ap.add_argument("--keep", help="write the bundles here instead of a temp folder")
    args = ap.parse_args(argv)
    failed = 0
    with tempfile.TemporaryDirectory(prefix="odsora-parity-") as tmp:
        work = Path(args.keep) if args.keep else Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for d in expand_fixture_dirs(args.fixtures):
            if d.is_file():  # e.g. golden/README.md from a shell glob: not a fixture, not a failure
                print(f"# skipped '{d}': a file, not a fixture folder", file=sys.stderr)
                continue
            start = time.monotonic()
            try:
                rows = check_fixture(d, work)
            except Exception as e:  # noqa: BLE001 (any failure to export or run is a FAIL for this fixture)
                print(f"{d.name}/* ERROR {type(e).__name__}: {e} FAIL", flush=True)
                failed += 1
                continue
            for label, err in rows:
                ok = err <= args.tolerance
                failed += not ok
                print(f"{label} rel_err={err:.3e} {'PASS' if ok else 'FAIL'}", flush=True)
            print(f"# {d.name}: {len(rows)} outputs in {time.monotonic() - start:.1f} s", file=sys.stderr, flush=True)
    print(f"# {'FAIL' if failed else 'PASS'}: {failed} failing", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
