"""Write a bundle folder (export/BUNDLE.md, schema odsora.bundle/1) atomically.

`write_bundle(out, build, ...)` creates a temp folder beside `out`, lets `build(tmp)` write the stage files
and return the stage objects, writes bundle.json, and only then renames the temp folder to `out` (an
existing bundle there is replaced). On any error the temp folder is removed and `out` is untouched.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Mapping

SCHEMA = "odsora.bundle/1"
FAMILY = "opensora-v1.2"
DEFAULT_VIDEO = {"fps": 24, "default_frames": 51, "default_height": 240, "default_width": 426}
STAGES = ("text", "denoiser", "vae")


class BundleError(Exception):
    """A bundle cannot be written or read: bad target folder, bad manifest."""


def _check_target(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise BundleError(f"Cannot write bundle: '{out}' exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / "bundle.json").exists():
        raise BundleError(f"Cannot write bundle: '{out}' is a non-empty folder without bundle.json "
                          "(refusing to replace something that is not a bundle)")
    if not out.parent.exists():
        raise BundleError(f"Cannot write bundle: parent folder '{out.parent}' does not exist")


SOURCE_KINDS = ("random", "checkpoint", "trained", "fixture")


def manifest(*, name: str, source_kind: str, detail: str, stages: Mapping[str, Any],
             provenance: Mapping[str, Any] | None = None) -> dict:
    """The bundle.json object: schema header plus the stage objects and optional sections in `stages`.

    `source` is {"kind", "detail" (one readable line), **provenance}: the structured fields a reader uses
    (export/BUNDLE.md "source"), e.g. {"config": "tiny", "seed": 5, "stages": [...]} for a random bundle.
    """
    clash = sorted({"kind", "detail"} & set(provenance or {}))
    if source_kind not in SOURCE_KINDS or clash:
        raise BundleError(f"Cannot write bundle: source kind '{source_kind}' with provenance fields {clash} "
                          f"(kinds {list(SOURCE_KINDS)}; 'kind' and 'detail' are not provenance fields)")
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "name": name,
        "family": FAMILY,
        "source": {"kind": source_kind, "detail": detail, **(provenance or {})},
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    for stage in STAGES:
        doc[stage] = stages.get(stage)
    doc["video"] = dict(stages.get("video") or DEFAULT_VIDEO)
    doc["preview"] = stages.get("preview")
    doc["quantization"] = stages.get("quantization")
    if stages.get("null_caption") is not None:
        doc["null_caption"] = stages["null_caption"]
    unknown = sorted(set(stages) - set(STAGES) - {"video", "preview", "quantization", "null_caption"})
    if unknown:
        raise BundleError(f"Cannot write bundle: unknown manifest sections {unknown}")
    return doc


def write_bundle(out: str | Path, build: Callable[[Path], Mapping[str, Any]], *, name: str, source_kind: str,
                 detail: str, provenance: Mapping[str, Any] | None = None) -> dict:
    """Run `build(tmp_dir)` (returns {"text"|"denoiser"|"vae"|...: object}), write bundle.json, publish at `out`."""
    out = Path(out).resolve()
    _check_target(out)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        stages = build(tmp)
        doc = manifest(name=name, source_kind=source_kind, detail=detail, stages=stages, provenance=provenance)
        _check_files(tmp, doc)
        (tmp / "bundle.json").write_text(json.dumps(doc, indent=2) + "\n")
        _publish(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return doc


def _check_files(root: Path, doc: Mapping[str, Any]) -> None:
    """Every file the manifest names must exist (a writer bug must not publish a broken bundle)."""
    named: list[str] = []
    for stage in STAGES:
        obj = doc.get(stage)
        if not obj:
            continue
        for block in obj.get("blocks", []):
            named += [block["file"]] + ([block["data"]] if block.get("data") else [])
        for key in ("tokenizer",):
            if obj.get(key):
                named.append(obj[key])
        if isinstance(obj.get("null_caption"), Mapping):
            named.append(obj["null_caption"]["file"])
    if doc.get("null_caption"):
        named.append(doc["null_caption"]["file"])
    missing = [f for f in named if not (root / f).is_file()]
    if missing:
        raise BundleError(f"Cannot write bundle: the manifest names files that were not written {missing[:10]}")


def _publish(tmp: Path, out: Path) -> None:
    for p in tmp.rglob("*"):  # onnx writes external data 0600; a bundle is read by other users and processes
        p.chmod(0o755 if p.is_dir() else 0o644)
    tmp.chmod(0o755)
    if not out.exists():
        tmp.rename(out)
        return
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    out.rename(old)
    try:
        tmp.rename(out)
    except BaseException:
        old.rename(out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def source_fields(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The structured provenance of a parsed bundle.json: its `source` fields other than kind and detail.

    Bundles written before the fields existed only have the `detail` line; for random and checkpoint
    bundles its `key=value` words are read instead (random: config, seed as int, stages as a list).
    """
    source = doc.get("source") or {}
    fields = {k: v for k, v in source.items() if k not in ("kind", "detail")}
    if fields or source.get("kind") not in ("random", "checkpoint"):
        return fields
    words = dict(w.split("=", 1) for w in str(source.get("detail", "")).split() if "=" in w)
    if source["kind"] == "checkpoint":
        return {"checkpoints": words} if words else {}
    out: dict[str, Any] = dict(words)
    if "seed" in out:
        out["seed"] = int(out["seed"])
    if "stages" in out:
        out["stages"] = out["stages"].split(",")
    return out


def read_bundle(path: str | Path) -> dict:
    """Parse `path/bundle.json`, checking the schema string."""
    p = Path(path) / "bundle.json"
    if not p.exists():
        raise BundleError(f"Cannot read bundle: '{p}' does not exist")
    doc = json.loads(p.read_text())
    if doc.get("schema") != SCHEMA:
        raise BundleError(f"Cannot read bundle: schema '{doc.get('schema')}' is not '{SCHEMA}'")
    return doc
