"""Stage 3: running a Graph for real: the NumPy executor, verify, the onnxruntime engine."""
