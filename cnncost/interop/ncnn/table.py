"""The ncnn reader's one table of handlers, a function per layer type (windows.py,
layers.py, tensors.py register theirs), each called as handler(reader, layer)."""
from cnncost.interop.handlers import Handlers

LAYERS = Handlers("ncnn")
