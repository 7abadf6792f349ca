"""ONNX: our own protobuf reader (proto), the graph read onto our kinds (reader, with the
operators in layers, tensors, moves, registered in the tables of handlers; values converted
between maps and tensors in worlds; constants in fold; fused patterns in patterns; what
flows between operators in values), and our graphs written as ONNX (export)."""
