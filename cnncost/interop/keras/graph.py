"""A Keras Functional config as a graph of calls: each layer's applications (its inbound
nodes), the tensors they read ([layer, node, tensor]) and an order in which every call
comes after the calls it reads.

A layer applied more than once (one Dense on two tensors, a shared sub-model, the towers
of a Siamese network) has one node per application; a tensor names the application that
made it by its node index, which both savers renumber over the nodes the model itself
keeps (Keras 3's node_reindexing_map, tf.keras 2's node_conversion_map), so index i is the
layer's i-th entry in `inbound_nodes`.
"""
from __future__ import annotations

from cnncost.errors import ModelFileError

Call = tuple[list, list, dict]        # (tensor refs, constant positional arguments, keyword arguments)
MAX_CALLS = 10_000                    # applications of one layer


def config(entry, path) -> dict:
    cfg = entry.get("config") if isinstance(entry, dict) else None
    if not isinstance(cfg, dict):
        raise ModelFileError(f"{path}: a layer entry has no config object ({str(entry)[:60]})")
    return cfg


def refs(raw, path, what) -> list[tuple]:
    """input_layers / output_layers: [name, node, tensor] (Keras 3, one) or a list of them."""
    if isinstance(raw, list) and len(raw) == 3 and isinstance(raw[0], str):
        raw = [raw]
    if not isinstance(raw, list) or not raw or not all(isinstance(r, list) and len(r) == 3 and isinstance(r[0], str)
                                                       and all(_index(i) for i in r[1:]) for r in raw):
        raise ModelFileError(f"{path}: `{what}` is not a list of [layer, node, tensor] (a name and two numbers)")
    return [tuple(r) for r in raw]


def _index(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def calls(entry, path, kname) -> list[Call]:
    """Each application of a layer: (tensor refs, constant positional arguments, keyword
    arguments), from Keras 3's {"args", "kwargs"} nodes or tf.keras 2's lists of
    [layer, node, tensor, kwargs] (whose kwargs may hold a tensor: TFOpLambda's `y`)."""
    nodes = entry.get("inbound_nodes") or []
    if not isinstance(nodes, list):
        raise ModelFileError(f"{path}: layer '{kname}': `inbound_nodes` is not a list")
    if len(nodes) > MAX_CALLS:
        raise ModelFileError(f"{path}: layer '{kname}' is applied {len(nodes):,} times (at most {MAX_CALLS:,} are read)")
    out = []
    for node in nodes:
        refs_, consts, kwargs = [], [], {}
        if isinstance(node, dict):                          # Keras 3
            args = node.get("args", [])
            if not isinstance(args, list):
                raise ModelFileError(f"{path}: layer '{kname}': the `args` of an inbound node are not a list")
            for arg in args:
                _v3_value(arg, refs_, consts, path, kname)
            if args and consts and not (isinstance(args[0], (dict, list))):
                kwargs["_order"] = "const_first"          # 1.0 - x: the constant comes first
            given = node.get("kwargs") or {}
            if not isinstance(given, dict):
                raise ModelFileError(f"{path}: layer '{kname}': the `kwargs` of an inbound node are not an object")
            for k, v in given.items():
                before = len(refs_)
                value = _v3_value(v, refs_, [], path, kname)
                if len(refs_) == before and value is not None:
                    kwargs[k] = value
        elif isinstance(node, list):                        # tf.keras 2
            if node and isinstance(node[0], str):           # TFOpLambda: the node is its one item
                node = [node]
            for item in node:
                if not (isinstance(item, list) and len(item) >= 3 and isinstance(item[0], str)):
                    raise ModelFileError(f"{path}: layer '{kname}': an inbound node is not [layer, node, tensor]")
                refs_.append((item[0], item[1], item[2]))
                extra = item[3] if len(item) > 3 and isinstance(item[3], dict) else {}
                for k, v in extra.items():
                    if isinstance(v, list) and len(v) == 3 and isinstance(v[0], str) and isinstance(v[2], int):
                        refs_.append((v[0], v[1], v[2]))
                    elif v is not None and k != "name":
                        kwargs[k] = v
        else:
            raise ModelFileError(f"{path}: layer '{kname}': an inbound node is neither a list nor an object")
        for ref in refs_:
            if not (_index(ref[1]) and _index(ref[2])):
                raise ModelFileError(f"{path}: layer '{kname}' reads [{ref[0]!r}, {str(ref[1])[:20]!r}, "
                                   f"{str(ref[2])[:20]!r}]: the node and tensor of a reference are numbers")
        out.append((refs_, consts, kwargs))
    return out


def _v3_value(v, refs_, consts, path, kname, depth=0):
    if depth > 64:
        raise ModelFileError(f"{path}: layer '{kname}': an argument nested more than 64 deep")
    if isinstance(v, dict) and v.get("class_name") == "__keras_tensor__":
        cfg = v.get("config")
        history = cfg.get("keras_history") if isinstance(cfg, dict) else None
        if not (isinstance(history, list) and len(history) == 3 and isinstance(history[0], str)):
            raise ModelFileError(f"{path}: layer '{kname}': a tensor without its keras_history")
        refs_.append(tuple(history))
        return None
    if isinstance(v, list) and any(isinstance(x, (dict, list)) for x in v):
        for x in v:
            _v3_value(x, refs_, consts, path, kname, depth + 1)
        return None
    consts.append(v)
    return v


def renumbered(node_calls: dict[str, list[Call]], out_refs: list[tuple], entries: dict, major: int):
    """References with each node index counted from the layer's first entry in
    `inbound_nodes`. tf.keras 2 counts a nested model's nodes from 1 where the model begins
    with an InputLayer (its node 0 is the one the model makes of itself, which its config
    leaves out: _should_skip_first_node); Keras 3 counts from 0."""
    skip = {k for k, e in entries.items()
            if major < 3 and e.get("class_name") in ("Functional", "Sequential", "Model")
            and isinstance(e.get("config"), dict) and isinstance(e["config"].get("layers"), list)
            and e["config"]["layers"] and isinstance(e["config"]["layers"][0], dict)
            and e["config"]["layers"][0].get("class_name") == "InputLayer"}
    if not skip:
        return node_calls, out_refs

    def fix(refs_):
        return [(r[0], r[1] - 1, r[2]) if r[0] in skip and isinstance(r[1], int) else r for r in refs_]
    return ({k: [(fix(refs_), c, kw) for refs_, c, kw in cs] for k, cs in node_calls.items()}, fix(out_refs))


def topological(node_calls: dict[str, list[Call]], ready: set[str], path: str) -> list[tuple[str, int]]:
    """Every application (layer, i) in an order where each comes after the applications it
    reads (Kahn's); `ready` are the model's inputs. A cycle is an error."""
    waiting: dict[tuple, set] = {}
    for k, cs in node_calls.items():
        for i, (refs_, _, _) in enumerate(cs):
            waiting[(k, i)] = {(r[0], r[1]) for r in refs_ if r[0] not in ready}
    readers: dict[tuple, list[tuple]] = {}
    for node, deps in waiting.items():
        for d in deps:
            if d not in waiting:
                layer = d[0]
                held = len(node_calls.get(layer, ()))
                raise ModelFileError(f"{path}: layer '{node[0]}' reads application {d[1]} of layer '{layer}', "
                                   + (f"which is applied {held} time(s)" if layer in node_calls
                                      else "which does not exist"))
            readers.setdefault(d, []).append(node)
    order = [n for n, deps in waiting.items() if not deps]
    i = 0
    while i < len(order):
        for r in readers.get(order[i], []):
            waiting[r].discard(order[i])
            if not waiting[r]:
                order.append(r)
        i += 1
    if len(order) < len(waiting):
        done = set(order)
        stuck = sorted({n[0] for n in waiting if n not in done})
        raise ModelFileError(f"{path}: the layer graph has a cycle through layer '{stuck[0]}' "
                           f"({len(stuck)} layer(s) never become ready)")
    return order
