"""ONNX: our own protobuf reader (proto), the graph read onto our kinds (reader, with the
operators in layers, tensors, moves; constants in fold; fused patterns in patterns; what
flows between operators in values), and our graphs written as ONNX (export)."""
