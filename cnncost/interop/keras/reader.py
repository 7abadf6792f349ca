"""Read a Keras model (a `.keras`, a legacy `.h5` or a `model.to_json()`) as a cnncost spec,
with its weights in the layout `run --weights` reads.

Only the config is needed to count: the layer graph (Functional, Sequential, and models
nested in them as layers, their names becoming blocks: `mobilenetv2_1.00_224.Conv1`) is
walked in dependency order, each layer mapped onto kinds by `keras_layers`. Keras' own
layout is ours (H x W x C, kernels kh x kw x C_in x C_out, Flatten in H, W, C order), so
weights are taken as stored. What is not read (a Lambda, a custom class) is gathered into
one message listing every such class with its count: never a silent zero.
"""
from __future__ import annotations

import os
import re
from collections import Counter

from cnncost.errors import ModelFileError
from cnncost.interop.imported import FIRST_LAYER_LINE, Imported
from cnncost.interop.keras.archive import KerasFile, read_keras_file, snake_case
from cnncost.interop.keras.graph import calls as _calls, config as _config, refs as _refs, renumbered, topological
from cnncost.interop.keras.emit import Emit
from cnncost.interop.keras.layers import MAPPERS, NESTED
from cnncost.interop.keras import sequences as _sequences  # noqa: F401 - registers its mappers in MAPPERS
from cnncost.interop.keras import spatial as _spatial  # noqa: F401 - registers its mappers in MAPPERS
from cnncost.interop.keras.shared import Sharing
from cnncost.interop.keras.weights import read_weights
from cnncost.interop.refusals import Refused, Tally

MAX_DEPTH = 32            # models nested in models
SUMMARY_WHY = "Keras' model.summary()"


def import_keras(path: str, *, with_weights: bool = True, input_shape=None) -> Imported:
    kf = read_keras_file(path)
    conv = _Converter(kf, input_shape)
    imported = conv.run()
    if with_weights:
        imported.weights, imported.weights_read = conv.weights(imported), True
    return imported


def _name(raw) -> str:
    """A Keras name as one of ours: dots (tf.keras' 'tf.math.add'), slashes and spaces are
    underscores, since a dot in our names makes a block."""
    name = re.sub(r"[^A-Za-z0-9_\-]", "_", str(raw)).strip("_") or "layer"
    return name + "_" if name == "input" else name


class _Converter:
    def __init__(self, kf: KerasFile, input_shape):
        self.kf, self.path = kf, kf.path
        self.input_shape = input_shape
        self.built = None                         # the graph of our kinds, once built (_graph)
        self.layers: list[dict] = []
        self.inputs: dict[str, list] = {}         # our input name -> per-example shape
        self.batch: int | None = None
        self.batch_from = ""
        # (keras path, class, our weight keys, Keras' names, part: where in the layer they are)
        self.records: list[tuple[tuple, str, list, list, tuple | None]] = []
        self.derived: dict[str, tuple] = {}       # our key -> (piece keys, piece shape, build)
        self.keypaths: dict[tuple, tuple] = {(): ()}        # keras path -> the keys a .keras archive files it under
        self.refused = Tally()                    # class -> count, (first layer, why)
        self.extra_non_trainable = 0
        self.extra_why: list[str] = []
        self.used_names: set[str] = set()
        self.assumed: list[tuple[str, list, str]] = []      # (our layer, Keras axes, class): checked
        self.constants: dict[str, list] = {}      # weights the config itself holds (our key -> values)
        self.sharing = Sharing(kf.path)           # layers applied more than once: one owner, later uses share

    # ---- the whole model -----------------------------------------------------------------
    def run(self) -> Imported:
        model = self.kf.model
        outs = self._model(model, (), "", None, True, 0, False)
        if self.refused:
            listed = ", ".join(f"{cls} x{n} (first: layer '{layer}'; {why})"
                               for cls, n, (layer, why) in self.refused.listed())
            raise ModelFileError(f"{self.path}: {self.refused.total()} layer(s) not read: {listed}")
        name = _name(model["config"].get("name", os.path.splitext(os.path.basename(self.path))[0]))
        version = f"Keras {self.kf.version}" if self.kf.version else "Keras"
        what = {"keras": ".keras file", "h5": "legacy .h5 file", "json": "model.to_json()"}[self.kf.fmt]
        several = len(self.inputs) > 1
        document = {"name": name, "source": f"{version} {what} {os.path.basename(self.path)}",
                    "input": dict(self.inputs) if several else next(iter(self.inputs.values())),
                    "layers": self.layers}
        if len(outs) > 1 or outs[0] != self.layers[-1]["name"]:
            document["outputs"] = outs
        imported_doc = Imported(document)
        if self.assumed or self.sharing.statistics:
            self._check_axes(imported_doc)
        shape = next(iter(self.inputs.values()))
        accounting = {"framework": "Keras", "extra_non_trainable": self.extra_non_trainable,
                      "why": "; ".join(self.extra_why)}
        return Imported(document, {}, tuple(shape), self.batch, self.batch_from,
                        params_as="params as Keras holds them: BatchNormalization's moving mean and variance "
                                  "are non-trainable, a frozen layer's weights are frozen",
                        accounting=accounting)

    def _graph(self, imported: Imported):
        """The network our kinds make of the document, built once for the reader's own checks
        (axes, weight shapes): from the document itself, no YAML text between."""
        if self.built is None:
            from cnncost.core.build import build
            from cnncost.spec.loader import spec_from_document

            self.built = build(spec_from_document(imported.document, self.path, "", first_layer_line=FIRST_LAYER_LINE))
        return self.built

    def _check_axes(self, imported: Imported) -> None:
        """tf.keras 2 writes a normalization's axes as numbers with no shapes beside them: read
        as the trailing axes, then checked here against the ranks our kinds give. A layer
        applied again holds its statistics once, as Keras counts them (see keras_shared)."""
        graph = self._graph(imported)
        held, why = self.sharing.statistics_held_once(graph)
        if held:
            self.extra_non_trainable -= held
            self.extra_why.append(why)
        for name, axes, cls in self.assumed:
            rank = len(graph.nodes[graph.by_name[name]].in_shapes[0]) + 1      # the batch counted
            if sorted(a % rank for a in axes) != list(range(rank - len(axes), rank)):
                raise ModelFileError(f"{self.path}: layer '{name}' ({cls}) normalizes over axes {axes} of a rank-{rank} "
                                   "tensor; only the trailing (channels-last) axes are read")

    def _model(self, m: dict, scope: tuple, prefix: str, given: list | None, trainable: bool, depth: int,
               shared: bool) -> list[str]:
        """The layers of a model (the file's, or one nested in it): `scope` is its path of
        Keras names (where its weights are), `prefix` our name for this application of it,
        `shared` whether it is applied more than once (its layers then share weights)."""
        if depth > MAX_DEPTH:
            raise ModelFileError(f"{self.path}: models nested more than {MAX_DEPTH} deep")
        cfg = m.get("config")
        if not isinstance(cfg, dict) or not isinstance(cfg.get("layers"), list):
            raise ModelFileError(f"{self.path}: model '{'.'.join(scope) or 'top'}' ({m.get('class_name')}) has no "
                               "`layers` list in its config")
        trainable = trainable and cfg.get("trainable", True) is not False
        self._number(cfg["layers"], scope)
        if m.get("class_name") == "Sequential":
            return self._sequential(cfg, scope, prefix, given, trainable, depth, shared)
        return self._functional(cfg, scope, prefix, given, trainable, depth, shared)

    def _number(self, entries: list, scope: tuple) -> None:
        """The key saving_lib files each layer of this model under in a `.keras` archive: its
        class in snake case, numbered per class in the order of the model's layers."""
        used: Counter = Counter()
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            cfg = entry.get("config")
            kname = str(entry.get("name") or (cfg.get("name") if isinstance(cfg, dict) else None))
            key = snake_case(str(entry.get("class_name", "")))
            self.keypaths[scope + (kname,)] = self.keypaths.get(scope, ()) + (key if not used[key]
                                                                               else f"{key}_{used[key]}",)
            used[key] += 1

    def _sequential(self, cfg, scope, prefix, given, trainable, depth, shared) -> list[str]:
        current = given
        for entry in cfg["layers"]:
            lcfg = _config(entry, self.path)
            if entry.get("class_name") == "InputLayer":
                if current is None:
                    current = [self._input(lcfg, scope)]
                continue
            if current is None:
                shape = lcfg.get("batch_input_shape") or lcfg.get("batch_shape") or cfg.get("build_input_shape")
                if shape is None:
                    raise ModelFileError(f"{self.path}: Sequential model '{'.'.join(scope) or cfg.get('name')}' does "
                                       "not say its input shape (no InputLayer, no batch_input_shape)")
                current = [self._input({"batch_shape": shape, "name": "input"}, scope)]
            current = self._apply(entry, lcfg, scope, prefix, current, ([], {}), trainable, depth, shared)
        if current is None:
            raise ModelFileError(f"{self.path}: Sequential model '{'.'.join(scope) or cfg.get('name')}' has no layers")
        return current

    def _functional(self, cfg, scope, prefix, given, trainable, depth, shared) -> list[str]:
        entries: dict[str, dict] = {}
        for entry in cfg["layers"]:
            lcfg = _config(entry, self.path)
            kname = str(entry.get("name") or lcfg.get("name"))
            if kname in entries:
                raise ModelFileError(f"{self.path}: two layers are named '{kname}'")
            entries[kname] = entry
        in_refs = _refs(cfg.get("input_layers"), self.path, "input_layers")
        out_refs = _refs(cfg.get("output_layers"), self.path, "output_layers")
        tensors: dict[tuple[str, int], list[str]] = {}          # (layer, application) -> its outputs
        for i, (kname, _, _) in enumerate(in_refs):
            if kname not in entries:
                raise ModelFileError(f"{self.path}: input layer '{kname}' does not exist")
            if given is not None:
                if i >= len(given):
                    raise ModelFileError(f"{self.path}: model '{'.'.join(scope)}' takes {len(in_refs)} inputs, "
                                       f"is given {len(given)}")
                tensors[(kname, 0)] = [given[i]]
            else:
                tensors[(kname, 0)] = [self._input(_config(entries[kname], self.path), scope,
                                                   several=len(in_refs) > 1)]
        inputs = {k for k, _ in tensors}
        calls = {k: _calls(e, self.path, k) for k, e in entries.items() if k not in inputs}
        calls, out_refs = renumbered(calls, out_refs, entries, self.kf.major)
        for kname, node_calls in calls.items():
            for ref in (r for refs, _, _ in node_calls for r in refs):
                if ref[0] not in entries:
                    raise ModelFileError(f"{self.path}: layer '{kname}' reads layer '{ref[0]}', which does not exist")
        applied: Counter = Counter()
        taken = {_name(k) for k in entries}
        for kname, i in topological(calls, inputs, self.path):
            refs, consts, kwargs = calls[kname][i]
            ins = [self._tensor(tensors, r, kname) for r in refs]
            entry = entries[kname]
            applied[kname] += 1
            name = self.sharing.call_name(_name(kname), applied[kname], taken)
            tensors[(kname, i)] = self._apply(entry, _config(entry, self.path), scope, prefix, ins, (consts, kwargs),
                                              trainable, depth, shared or len(calls[kname]) > 1, name)
        outs = []
        for ref in out_refs:
            if ref[0] not in entries:
                raise ModelFileError(f"{self.path}: output layer '{ref[0]}' does not exist")
            outs.append(self._tensor(tensors, ref, "output_layers"))
        return outs

    def _tensor(self, tensors, ref, reader) -> str:
        kname, node, index = ref
        if (kname, node) not in tensors:
            raise ModelFileError(f"{self.path}: layer '{reader}' reads application {str(node)[:20]} of layer '{kname}', "
                               "which is never made")
        outs = tensors[(kname, node)]
        if not isinstance(index, int) or not 0 <= index < len(outs):
            raise ModelFileError(f"{self.path}: layer '{reader}' reads output {index} of layer '{kname}', "
                               f"which has {len(outs)}")
        return outs[index]

    def _input(self, lcfg: dict, scope: tuple, several: bool = False) -> str:
        shape = lcfg.get("batch_shape") or lcfg.get("batch_input_shape")
        if not isinstance(shape, list) or len(shape) < 2:
            raise ModelFileError(f"{self.path}: input layer '{lcfg.get('name')}' has no batch shape")
        name = _name(lcfg.get("name", "input")) if several else "input"
        dims = list(shape[1:])
        given = self.input_shape
        if given is not None and given and isinstance(given[0], tuple):     # name=NxHxWxC,...
            given = dict(given).get(str(lcfg.get("name")), dict(given).get(name))
        if given is not None:
            if len(given) != len(shape) or any(d is not None and d != g for d, g in zip(shape[1:], given[1:])):
                raise ModelFileError(f"--input-shape {'x'.join(map(str, given))} does not fit input '{lcfg.get('name')}' "
                                f"of shape {_shape_text(shape)} (Keras is N x H x W x C)")
            dims = list(given[1:])
            self.batch, self.batch_from = given[0], "--input-shape"
        elif isinstance(shape[0], int):
            self.batch, self.batch_from = shape[0], "file"
        if any(not isinstance(d, int) or d < 1 for d in dims):
            raise ModelFileError(f"{self.path}: input '{lcfg.get('name')}' has sizes the file leaves open "
                            f"({_shape_text(shape)}); give them with --input-shape, e.g. "
                            f"--input-shape 1x{'x'.join(str(d) if isinstance(d, int) else '224' for d in shape[1:])}")
        self.inputs[name] = dims
        return name

    def _apply(self, entry, lcfg, scope, prefix, ins, args, trainable, depth, shared, name=None) -> list[str]:
        """One application of a layer: `scope` + its name is where its weights are, `prefix`
        + `name` (its name, or `NAME_call2` ... for a later application) what we call it."""
        consts, kwargs = args
        cls = str(entry.get("class_name"))
        kname = str(entry.get("name") or lcfg.get("name"))
        path = scope + (kname,)
        ours = (prefix + "." if prefix else "") + (name or _name(kname))
        trainable = trainable and lcfg.get("trainable", True) is not False
        if cls in NESTED:
            return self._model(entry, path, ours, ins, trainable, depth + 1, shared)
        key = ("op:" if _is_operation(entry, lcfg) else "") + cls
        mapper = MAPPERS.get(key)
        if mapper is None:
            self._refuse(cls, ours, _why_not(cls, entry))
            return [ours]
        if ours in self.used_names:
            raise ModelFileError(f"{self.path}: two layers are named '{ours}' once read as cnncost names")
        emit = Emit(ours, lcfg, ins, consts, kwargs, trainable, self.kf.major, cls)
        try:
            mapper(emit)
        except Refused as exc:
            self._refuse(exc.label or cls, ours, str(exc))
            return [ours]
        except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:    # a damaged config
            self._refuse(cls, ours, f"a config value it cannot read ({type(exc).__name__}: {str(exc)[:80]})")
            return [ours]
        if shared:
            self.sharing.regroup(emit)
        self.used_names.update(e["name"] for e in emit.layers)
        self.assumed += [(layer, axes, cls) for layer, axes in emit.assumed]
        again = self.sharing.applied_again(path, emit, cls)
        if not again:
            for part in dict.fromkeys(emit.parts) or [None]:
                mine = [i for i, p in enumerate(emit.parts) if p == part]
                self.records.append((path, cls, [emit.keys[i] for i in mine], [emit.knames[i] for i in mine], part))
            self.derived.update(emit.derived)
        self.layers.extend(emit.layers)
        self.constants.update(emit.constants)
        if emit.extra_why and not (again and emit.extra_non_trainable > 0):    # Keras' own count: held once
            self.extra_non_trainable += emit.extra_non_trainable
            self.extra_why.append(emit.extra_why)
        return emit.outputs or [emit.last]

    def _refuse(self, cls, layer, why):
        self.refused.add(cls, layer, why)

    # ---- weights -------------------------------------------------------------------------
    def weights(self, imported: Imported) -> dict:
        """Our '<layer>/<name>' -> array, each checked against the shape the config makes."""
        from cnncost.core.graph import weight_specs

        expected = weight_specs(self._graph(imported))
        shapes = dict(expected)
        for key, (pieces, shape, _) in self.derived.items():
            shapes.update({p: tuple(shape(expected[key])) for p in pieces})
        wanted = {k: shapes[k] for _, _, keys, _, _ in self.records for k in keys if k is not None}
        arrays = read_weights(self.kf, wanted, len(self.records), self._match)
        import numpy as np

        for key, (pieces, _, build) in self.derived.items():
            arrays[key] = np.ascontiguousarray(build([arrays.pop(p) for p in pieces], expected[key]), np.float32)

        for key, values in self.constants.items():
            if len(values) not in (1, expected[key][-1]):
                raise ModelFileError(f"{self.path}: layer '{key.split('/')[0]}': {len(values)} values for "
                                   f"{expected[key][-1]} channels")
            arrays[key] = np.broadcast_to(np.asarray(values, dtype=np.float32), expected[key]).copy()
        self.sharing.fill(arrays, expected)
        missing = [k for k in expected if k not in arrays]
        if missing:                       # pragma: no cover - a mapper that forgot its weights
            raise AssertionError(f"Keras import: no weights for {missing[:4]}")
        return arrays

    def _match(self, stored, put, expected) -> None:
        """Each layer's weights found in `stored` (in keras_weights' child process): by each
        weight's name where the file names them, else in the layer's own order."""
        for path, cls, keys, knames, part in self.records:
            have = stored.find(path, self.keypaths.get(path, ()), part) or []
            layer = ".".join(path) + (f" ({'/'.join(part[0])})" if part else "")
            if len(have) != len(keys):
                want = ", ".join(k[0] for k in knames) or "none"
                held = f" ({', '.join(n for n, _ in have)})" if have and have[0][0] is not None else ""
                raise ModelFileError(f"{self.path}: layer '{layer}' ({cls}): the file holds {len(have)} weight "
                                   f"array(s){held}, the config makes {len(keys)} ({want})")
            if have and have[0][0] is not None:          # the file names them: each by its name
                by_name = dict(have)
                if len(by_name) < len(have):
                    raise ModelFileError(f"{self.path}: layer '{layer}' ({cls}) holds two weights by one name")
                for key, names in zip(keys, knames):
                    name = next((n for n in by_name if _named(n, names)), None)
                    if name is None:
                        raise ModelFileError(f"{self.path}: layer '{layer}' ({cls}): the file holds weights "
                                           f"{', '.join(by_name)}, none named {' or '.join(names)}")
                    read = by_name.pop(name)
                    if key is not None:
                        put(key, read(expected[key]))
            else:                                        # vars/0, vars/1, ...: the layer's own order
                for key, (_, read) in zip(keys, have):
                    if key is not None:
                        put(key, read(expected[key]))


def _named(stored: str, names: tuple) -> bool:
    """Whether a weight the file names `stored` is the one Keras names one of `names`; a
    weight Keras 3 left unnamed is 'variable', numbered per process ('variable_12')."""
    return stored in names or ("variable" in names and re.fullmatch(r"variable_\d+", stored) is not None)


def _is_operation(entry: dict, lcfg: dict) -> bool:
    """Keras 3's operation on symbolic tensors (`x + 3.0`: keras.src.ops' Add), not the layer
    of the same class name (keras.layers.Add). A `.keras` config says so by its module; a
    legacy `.h5` saved by Keras 3 drops the module, and there an operation is told by its
    config, which holds only its name (a layer's also holds `trainable` and `dtype`)."""
    module = entry.get("module")
    if module is not None:
        return str(module).startswith("keras.src.ops")
    return f"op:{entry.get('class_name')}" in MAPPERS and not ({"trainable", "dtype"} & set(lcfg))


def _shape_text(shape) -> str:
    return "x".join("None" if d is None else str(d) for d in shape)


def _why_not(cls: str, entry: dict) -> str:
    if cls in ("Lambda", "TFOpLambda", "SlicingOpLambda"):
        return "its Python code is never unmarshalled or run; write it as layers"
    if entry.get("registered_name") and str(entry.get("registered_name")) != cls:
        return f"a custom class ({entry.get('registered_name')}), whose code cnncost never runs"
    return "no mapping onto cnncost's kinds (`cnncost kinds`)"
