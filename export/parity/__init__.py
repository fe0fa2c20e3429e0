"""Parity of an exported bundle with its sources: ONNX blocks run as the runtime chains them (`python -m export.parity`)."""
