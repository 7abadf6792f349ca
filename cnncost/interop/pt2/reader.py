"""Read a torch.export archive (`.pt2`, torch.export.save) as a cnncost spec: its graph
(JSON, never a pickle) written as the ONNX model the live-module tracer writes (program.py)
and read by the ONNX importer. Counting reads the graph and the weights' shapes; `run` reads
the weights' raw bytes (views of the archive). torch is not needed."""
from __future__ import annotations

import os
import re

PARAMS_AS = "params are the module's own tensors as the exported program holds them (no BatchNorm folded)"


def import_pt2(path: str, *, with_weights: bool = True, input_shape=None):
    from cnncost.errors import ModelFileError
    from cnncost.interop.onnx.reader import Origin, import_model
    from cnncost.interop.pt2.archive import read_archive
    from cnncost.interop.pt2.program import ArchiveRecorder

    if input_shape is not None:
        raise ModelFileError(f"{path}: --input-shape on a torch.export archive: its shapes are fixed at export; "
                             "export again at the size wanted (or give the batch with --batch)")
    try:
        archive = read_archive(path)
        model = ArchiveRecorder(archive, with_weights).run()
    except (KeyError, TypeError, AttributeError, ValueError, IndexError, StopIteration, RecursionError) as exc:
        # JSON of the wrong shape outside any one node (the signature, a tensor's metadata)
        raise ModelFileError(f"{path}: not an exported program as torch.export writes it "
                             f"({type(exc).__name__}: {str(exc)[:80]})") from None
    torch_version = archive.program.get("torch_version") or "?"
    shown = f"torch.export archive {path} (torch {torch_version})"
    imported = import_model(model, Origin(path, shown), with_weights=with_weights)
    imported.params_as = PARAMS_AS
    imported.document["source"] = f"{shown}: {PARAMS_AS}"
    base = os.path.splitext(os.path.basename(path))[0]
    imported.document["name"] = re.sub(r"[^A-Za-z0-9_]+", "_", base).strip("_") or "exported"
    imported.native = None
    return imported
