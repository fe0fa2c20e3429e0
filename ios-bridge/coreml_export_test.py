"""Tests of the Core ML export: run with `scripts/py -m pytest ios-bridge/coreml_export_test.py`.

Core ML predictions need macOS/iOS, so the converted packages are checked by their descriptions (names,
shape ranges); the modules converted are the ONNX export's own blocks (their rank ≤ 5 is tested in
export/tests/test_rank_limit.py), checked against the bundle's ONNX blocks before conversion.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]

import coremltools as ct  # noqa: E402  (requirements.txt; converts on Linux, predicts on macOS only)
from coreml_export import CoreMLExportError, export_coreml, main  # noqa: E402
from coreml_sources import stage_source  # noqa: E402
from export.onnx.denoiser_blocks import DenoiserBlock, EmbedBlock, FinalBlock  # noqa: E402
from export.onnx.vae import SpatialDecodeBlock, TemporalDecodeBlock  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "b"
    subprocess.run([sys.executable, "-m", "export", "random", "--config", "tiny", "--seed", "5", "--threads", "1",
                    "--quiet", "--out", str(out)], cwd=ROOT, check=True)
    return out


def test_the_converted_modules_are_the_onnx_exports_own_blocks(bundle: Path) -> None:
    doc = json.loads((bundle / "bundle.json").read_text())
    want = {"embed": EmbedBlock, "spatial_00": DenoiserBlock, "temporal_00": DenoiserBlock, "final": FinalBlock,
            "temporal_decode": TemporalDecodeBlock, "spatial_decode": SpatialDecodeBlock}
    sources = {s: stage_source(doc, s, {}) for s in ("denoiser", "vae")}
    for name, cls in want.items():
        module = sources["vae" if name.endswith("_decode") else "denoiser"].build(name)
        assert type(module) is cls, name




def test_export_writes_packages_with_the_bundle_names_and_ranges(bundle: Path, tmp_path: Path) -> None:
    out = tmp_path / "coreml"
    picked = ["text/embed", "text/layer_01", "denoiser/embed", "temporal_01", "denoiser/final", "temporal_decode",
              "spatial_decode"]
    manifest = export_coreml(bundle, out, blocks=picked, dims="B=2,T=1:16,vae.T=1:3", log=lambda _: None)
    doc = json.loads((bundle / "bundle.json").read_text())
    entries = {f"{s}/{b['name']}": b for s in ("text", "denoiser", "vae") for b in doc[s]["blocks"]}
    assert json.loads((out / "coreml.json").read_text()) == manifest
    assert [f"{b['stage']}/{b['name']}" for b in manifest["blocks"]] == [
        "text/embed", "text/layer_01", "denoiser/embed", "denoiser/temporal_01", "denoiser/final",
        "vae/temporal_decode", "vae/spatial_decode"]
    assert [b["precision"] for b in manifest["blocks"]] == ["fp32"] * 2 + ["fp16"] * 5
    assert manifest["dims"]["vae"]["T"] == [1, 3] and manifest["dims"]["denoiser"]["T"] == [1, 16]
    for block in manifest["blocks"]:
        entry = entries[f"{block['stage']}/{block['name']}"]
        assert block["parity"] < 1e-5
        saved = ct.models.MLModel(str(out / block["file"]), skip_model_load=True).get_spec().description
        assert [i.name for i in saved.input] == [io["name"] for io in entry["inputs"]]
        assert [o.name for o in saved.output] == [io.get("onnx_name", io["name"]) for io in entry["outputs"]]
        assert block["outputs"] == [o.name for o in saved.output]
        for io, shape in zip(entry["inputs"], saved.input):
            ranges = [[r.lowerBound, r.upperBound] for r in shape.type.multiArrayType.shapeRange.sizeRanges]
            want = [[d, d] if isinstance(d, int) else manifest["dims"][block["stage"]][d] for d in io["dims"]]
            assert ranges == want or (not ranges and all(lo == hi for lo, hi in want)), io["name"]
    assert manifest["blocks"][1]["outputs"] == ["hidden_out"] and manifest["blocks"][3]["outputs"] == ["h_out"]
    assert sorted(p.name for p in out.iterdir()) == ["coreml.json", "denoiser", "text", "vae"]
    int_input = ct.models.MLModel(str(out / "text/embed.mlpackage"), skip_model_load=True).get_spec()
    assert int_input.description.input[0].type.multiArrayType.dataType == ct.proto.FeatureTypes_pb2.ArrayFeatureType.INT32


def test_export_refuses_weights_that_do_not_match_the_bundle(bundle: Path, tmp_path: Path) -> None:
    doc = json.loads((bundle / "bundle.json").read_text())
    assert doc["source"]["config"] == "tiny" and doc["source"]["seed"] == 5
    fake = tmp_path / "other-seed"
    fake.mkdir()
    (fake / "denoiser").symlink_to(bundle / "denoiser")
    # the structured seed, and the detail line of a bundle written before the structured fields
    for source in ({**doc["source"], "seed": 6}, {"kind": "random", "detail": "config=tiny seed=6 stages=denoiser"}):
        (fake / "bundle.json").write_text(json.dumps({**doc, "source": source}))
        with pytest.raises(CoreMLExportError, match=r"Cannot convert block 'denoiser/embed': the rebuilt torch block "
                                                    r"differs from the bundle's ONNX block \(relative L2 '[0-9.e+-]+' > "
                                                    r"'0.0001'\)"):
            export_coreml(fake, tmp_path / "out", stages=["denoiser"], log=lambda _: None)
        assert not (tmp_path / "out").exists()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["other-seed"], "no temporary folder left behind"
    doc["source"] = {"kind": "trained", "detail": "x"}
    (fake / "bundle.json").write_text(json.dumps(doc))
    with pytest.raises(CoreMLExportError, match="its source is 'trained'; pass --stdit CHECKPOINT"):
        export_coreml(fake, tmp_path / "out", stages=["denoiser"], log=lambda _: None)
    doc["quantization"] = {"text": "int8-weight"}
    (fake / "bundle.json").write_text(json.dumps(doc))
    with pytest.raises(CoreMLExportError, match="Cannot convert the text stage of bundle .*'int8-weight'"):
        export_coreml(fake, tmp_path / "out", stages=["text"], log=lambda _: None)


def test_cli_prints_one_line_and_exits_1_on_bad_options(bundle: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(bundle), "--out", str(tmp_path / "o"), "--dims", "T=4:2"]) == 1
    assert capsys.readouterr().err.strip() == "Cannot read --dims entry 'T=4:2': sizes must satisfy 1 <= MIN <= MAX"
    assert main([str(bundle), "--out", str(tmp_path / "o"), "--blocks", "embed,nope"]) == 1
    assert "Cannot convert blocks ['nope']" in capsys.readouterr().err
    assert main([str(bundle), "--out", str(tmp_path / "o"), "--stages", "audio"]) == 1
    assert capsys.readouterr().err.strip() == "Cannot convert stage 'audio': bundle 'random-tiny' has no such stage"
    assert not (tmp_path / "o").exists()
