"""Live PyTorch modules (extra `torch`): traced on meta tensors into an ONNX graph in
memory (trace, aten), or exported by torch.onnx.export (module); either is read by the
ONNX reader."""
