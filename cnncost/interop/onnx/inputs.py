"""An ONNX input's dims as a reader takes them: a batch first and static sizes (a dynamic
one fixed by --input-shape, whose rank and channels must be the model's), said in one line
naming the input and what to give; a static size --input-shape changes is warned of."""
from __future__ import annotations

from cnncost.errors import ModelFileError, warn


def checked_dims(path: str, x, dims, given: bool, several: bool, time_first: bool) -> None:
    """Refuse dims `x` (the file's value info) cannot be read at; `dims` are --input-shape's
    when `given`, else the file's."""
    if dims is None or len(dims) < 2 or len(dims) > 9:
        raise ModelFileError(f"{path}: input '{x.name}' has shape {dims}; cnncost reads a batch first: an NCHW "
                        "image (rank 4), a vector (rank 2), or tokens and other tensors (rank 3, 5 ...)"
                        + ("; give each input's with --input-shape NAME=NxCxHxW" if several else ""))
    if given and x.dims and len(x.dims) != len(dims):
        raise ModelFileError(f"{path}: --input-shape has {len(dims)} dimensions, input '{x.name}' {len(x.dims)}")
    # a dynamic batch is the report's --batch (default 1); other dynamic sizes need --input-shape
    static = [d for i, d in enumerate(dims) if i != (1 if len(dims) == 3 and time_first else 0)]
    if any(not isinstance(d, int) or d < 1 for d in static):
        shown = ", ".join(str(d if d is not None else "?") for d in dims)
        example = "x".join(str(d) if isinstance(d, int) and d > 0 else ("1" if i == 0 else "64")
                           for i, d in enumerate(dims))        # the input's own rank and static sizes
        raise ModelFileError(f"{path}: input '{x.name}' has dynamic dimensions [{shown}]; fix them with "
                        + (f"--input-shape, e.g. --input-shape {x.name}={example},... (one per input)" if several
                           else f"--input-shape, e.g. --input-shape {example}"))
    if given and len(dims) in (3, 4, 5) and x.dims and len(x.dims) == len(dims) and isinstance(x.dims[1], int) \
            and x.dims[1] != dims[1] and not time_first:
        # channels are the model's own: a channels-last shape given?
        moved = (dims[0], dims[-1], *dims[1:-1])
        hint = f" (did you mean {'x'.join(map(str, moved))}?)" if dims[-1] == x.dims[1] else ""
        layout = {3: "N x C x T", 4: "N x C x H x W", 5: "N x C x D x H x W"}[len(dims)]
        raise ModelFileError(f"{path}: --input-shape {'x'.join(map(str, dims))} gives input '{x.name}' "
                             f"{dims[1]} channels, the model takes {x.dims[1]}: an ONNX input is "
                             f"{layout}{hint}")
    if given and x.dims:
        changed = [f"{'NCHW'[i] if len(dims) == 4 else 'NC'[i] if len(dims) == 2 else f'axis {i}'} {old} -> {new}"
                   for i, (old, new) in enumerate(zip(x.dims, dims))
                   if i > 0 and isinstance(old, int) and old != int(new)]    # a warning: int(), a size
                                                                            # that is an expression is not pinned
        if changed:
            warn(f"{path}: --input-shape overrides the model's static input size ({', '.join(changed)}); "
                 "its counts are for the new size")
