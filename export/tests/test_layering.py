"""The exporter's folders import one way: models/ (the ports) ← onnx/ (blocks, bundle writing) ← parity/.
A port never knows it is exported, and the ONNX export never depends on the checks of its output."""
from __future__ import annotations

import re
from pathlib import Path

EXPORT = Path(__file__).resolve().parents[1]
ALLOWED = {"models": {"models"}, "onnx": {"models", "onnx"}, "parity": {"models", "onnx", "parity"}}
IMPORT = re.compile(r"^\s*(?:from|import)\s+export\.(\w+)", re.M)


def violations(root: Path, allowed: dict[str, set[str]]) -> list[str]:
    """'folder/file.py -> export.X' for every import of a folder outside the folder's allowed set."""
    out = []
    for folder, ok in allowed.items():
        for f in sorted((root / folder).glob("*.py")):
            out += [f"{folder}/{f.name} -> export.{m}" for m in IMPORT.findall(f.read_text()) if m not in ok]
    return out


def test_models_onnx_parity_import_one_way() -> None:
    assert violations(EXPORT, ALLOWED) == []


def test_a_back_edge_is_found(tmp_path: Path) -> None:
    for folder in ALLOWED:
        (tmp_path / folder).mkdir()
    (tmp_path / "onnx" / "bad.py").write_text("from export.onnx.block import export_block\n"
                                               "    from export.parity.chain import run_stage\n")
    assert violations(tmp_path, ALLOWED) == ["onnx/bad.py -> export.parity"]
