"""ONNX writing: the block modules each stage is cut into, their export, quantization and the bundle writer."""
