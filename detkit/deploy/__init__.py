"""A trained detector outside detkit: exported to ONNX or TorchScript, checked against eager
PyTorch, and run from the exported file alone (no Lightning, no run directory)."""
