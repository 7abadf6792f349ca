"""Expand an ArchSpec into a Graph: evaluate variables and expressions, instantiate blocks
and repeats, resolve `inputs`, and propagate shapes layer by layer. A layer of a kind is made
into its node(s) by core/nodes; --set and --rewrite are parsed by core/options.

Expansion and shape propagation are one pass because blocks may read the shape of their
input (`in_c` for an SE block's width, a MobileNetV2 skip only when shapes match).
"""
from __future__ import annotations

import functools
import re

from cnncost.spec import expr
from cnncost.errors import CnnCostError, LimitError, Loc, SpecError, did_you_mean
from cnncost.spec.limits import DEFAULT, Limits
from cnncost.core import precision
from cnncost.core.graph import Graph, Node
from cnncost.core.nodes import RESERVED, Nodes
from cnncost.core.options import parse_rewrite
from cnncost.layers import Args, lookup
from cnncost.records import Struct
from cnncost.spec import ArchSpec, BlockDef, library_blocks
from cnncost.spec.located import YList, YMap

# a layer name as written (`data-augmentation`, as Keras names one); anything else in
# `inputs:` is an expression choosing one (quotes, spaces, operators)
_PLAIN_REF = re.compile(r"^[^\s'\"()=<>!+*/%]+$")


class Scope(Struct):
    """A block's names as it expands: `input` the node it starts from, `env` what expressions
    see, `names` local name -> (node index, child scope), `entries` the layer list."""
    __slots__ = ("prefix", "input", "env", "trainable", "parent", "names", "disabled", "counters", "entries",
                 "last")

    def __init__(self, prefix: str, input: int, env: dict, trainable: bool = True, parent: Scope | None = None,
                 names: dict | None = None, disabled: set | None = None, counters: dict | None = None,
                 entries: list | None = None, last: int = 0):
        self.prefix, self.input, self.env, self.trainable, self.parent = prefix, input, env, trainable, parent
        self.names, self.disabled = {} if names is None else names, set() if disabled is None else disabled
        self.counters, self.entries = {} if counters is None else counters, [] if entries is None else entries
        self.last = last

    def full(self, local: str) -> str:
        return f"{self.prefix}.{local}" if self.prefix else local


class Builder:
    def __init__(self, spec: ArchSpec, overrides: dict | None = None, limits: Limits = DEFAULT,
                 rewrite: str | None = None):
        self.spec, self.limits = spec, limits
        self.rewrite = parse_rewrite(rewrite)
        self.overrides = dict(overrides or {})
        self.graph = Graph(spec.name)
        self.nodes = Nodes(self.graph, self.limits, self.rewrite)
        self.block_stack: list[str] = []
        self.steps = 0
        self.recorded: dict = {}        # a block use's key -> its layers (core/replay.py)
        self.reads: list = []           # the scope prefix each input name was found in (None: the graph)

    # ---- entry point -------------------------------------------------------------
    def build(self) -> Graph:
        spec = self.spec
        env = self._variables()
        in_loc = spec.loc or Loc(spec.path, 1, 1)
        raw = spec.input
        named = dict(raw) if isinstance(raw, YMap) else {"input": raw}
        if not named or len(named) > 64:
            raise SpecError("`input` must be a shape, or a mapping of 1 to 64 input names to shapes",
                            loc=getattr(raw, "loc", in_loc))
        root = Scope("", 0, env)
        for name, value in named.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise SpecError(f"input name {name!r} must be an identifier", loc=getattr(raw, "loc", in_loc))
            where = raw.loc_of(name) if isinstance(raw, YMap) else getattr(raw, "loc", in_loc)
            shape = self._input_shape(value, env, where)
            self.graph.add(Node(0, name, None, "input", Args(), [], [], shape, where))
            if name != "input":
                root.names[name] = (self.graph.by_name[name], None)
        self.graph.inputs = list(range(len(named)))
        self._run(spec.layers, root)
        if spec.outputs is not None:
            self.graph.outputs = self._outputs(spec.outputs, root)
        if len(self.graph.nodes) == 1:     # a network of nothing has no report to give
            raise SpecError("every layer is switched off by its `when:` (check the variables: "
                            + (", ".join(f"{k}={v!r}" for k, v in env.items()) or "none") + ")",
                            loc=getattr(spec.layers, "loc", None) or in_loc)
        return self.graph

    def _variables(self) -> dict:
        spec, env = self.spec, {}
        for name in self.overrides:
            if name not in spec.vars:
                known = ", ".join(spec.vars) or "none"
                raise SpecError(f"--set {name}: the spec has no variable '{name}' (variables: {known})",
                                loc=Loc(spec.path, 1, 1))
        for name, value in spec.vars.items():
            if name in self.overrides:
                value = self.overrides[name]
            env[name] = self._eval(value, env, spec.vars.loc_of(name), bare_words=True)
        self.graph.variables = dict(env)
        return env

    def _outputs(self, raw, root: Scope) -> list[int]:
        """`outputs: [name, ...]`: layers (dotted names reach into blocks) every layer must reach."""
        where = getattr(raw, "loc", None) or self.spec.loc
        refs = raw if isinstance(raw, list) else [raw]
        if not refs or not all(isinstance(r, str) for r in refs):
            raise SpecError(f"`outputs` must be a layer name or a list of names, received {raw!r}", loc=where)
        out = []
        for ref in refs:
            index = self._resolve(ref, root, YMap(), where)
            if index in out or index in self.graph.inputs:
                raise SpecError(f"output '{ref}' is listed twice or is an input", loc=where)
            out.append(index)
        reach = set(out)
        for node in reversed(self.graph.nodes):
            if node.index in reach:
                reach.update(node.inputs)
        dead = [n.name for n in self.graph.layers if n.index not in reach]
        if dead:
            raise SpecError(f"{len(dead)} layer(s) reach no output ({', '.join(dead[:5])}"
                            f"{', ...' if len(dead) > 5 else ''}): list them in `outputs` or remove them", loc=where)
        return out

    def _input_shape(self, raw, env, loc) -> tuple:
        where = getattr(raw, "loc", loc)
        if not isinstance(raw, list) or not 1 <= len(raw) <= 8:
            raise SpecError(f"`input` must be [H, W, C] (a map), or the sizes of a tensor of rank 1 to 8 "
                            f"([N] for a vector, [tokens, features]), received {raw!r}", loc=where)
        dims = []
        for v in raw:
            v = self._eval(v, env, where)
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise SpecError(f"`input` sizes must be positive integers, received {v!r}", loc=where)
            if v > self.limits.max_dim:
                raise LimitError(f"`input` size {v:,} is above the limit of {self.limits.max_dim:,}", loc=where)
            dims.append(v)
        return tuple(dims)

    # ---- expressions -------------------------------------------------------------
    def _eval(self, value, env, loc, bare_words=False):
        """Evaluate a spec value. With `bare_words`, a lone word that names nothing
        (`padding: same`, `act: relu`) is the string itself: block parameters and
        variables have no declared type to tell a literal from an expression."""
        if bare_words and isinstance(value, str) and value.isidentifier() \
                and value not in env and value not in ("True", "False", "None"):
            return value
        if isinstance(value, str):
            try:
                return expr.evaluate(value, env, self.limits)
            except CnnCostError as exc:
                raise exc.with_context(loc=loc)
        if isinstance(value, list):
            if len(value) > 64 or any(isinstance(v, (list, dict)) for v in value):
                raise SpecError("lists here hold at most 64 plain values", loc=loc)
            return [self._eval(v, env, loc) for v in value]
        if value is not None and not isinstance(value, (bool, int, float)):
            what = "mapping" if isinstance(value, dict) else type(value).__name__
            raise SpecError(f"expected a number, string or list, received a {what}", loc=loc)
        return value

    # ---- layers ------------------------------------------------------------------
    def _run(self, entries: YList, scope: Scope) -> None:
        scope.entries = entries
        for entry in entries:
            self._entry(entry, scope, getattr(entries, "loc", None))

    def _entry(self, entry, scope: Scope, list_loc) -> None:
        self.steps += 1
        if self.steps > self.limits.max_steps:
            raise LimitError(f"expanding the spec took more than {self.limits.max_steps:,} steps "
                             "(nested repeats?)", loc=getattr(entry, "loc", list_loc))
        if not isinstance(entry, YMap):
            raise SpecError(f"each layer must be a mapping, received {entry!r}", loc=list_loc)
        loc = entry.loc
        heads = [k for k in ("kind", "use", "layers") if k in entry]
        if len(heads) != 1:
            raise SpecError("a layer needs exactly one of `kind`, `use` or `layers`"
                            + (f" (found {', '.join(heads)})" if heads else ""), loc=loc)
        head = heads[0]
        name = self._name(entry, scope, head)
        if "when" in entry and not self._eval(entry["when"], scope.env, entry.loc_of("when")):
            self._validate_switched_off(entry)
            scope.disabled.add(name)
            return
        if name in scope.names or name in scope.disabled:
            raise SpecError(f"duplicate layer name '{scope.full(name)}'", loc=entry.loc_of("name"))
        try:
            inputs = self._inputs(entry, scope)
        except CnnCostError as exc:
            raise exc.with_context(layer=scope.full(name))
        trainable = scope.trainable and self._trainable(entry)
        if "repeat" in entry:
            out, child = self._repeat(entry, scope, name, inputs, trainable)
        else:
            out, child = self._single(entry, scope, name, inputs, trainable, scope.env)
        scope.names[name] = (out, child)
        scope.last = out

    def _validate_switched_off(self, entry: YMap) -> None:
        """A layer that `when:` switches off is not counted, but it is still read: its kind
        or block must exist and its arguments must be ones that kind or block takes (their
        values may depend on shapes that never come to be, so they are not evaluated)."""
        from cnncost.layers import ALIASES, KINDS, lookup

        if "kind" in entry:
            kind_name = entry["kind"]
            found = lookup(kind_name) if isinstance(kind_name, str) else None
            if found is None:
                raise SpecError(f"unknown layer kind {kind_name!r}{did_you_mean(kind_name, [*KINDS, *ALIASES])} "
                                "(in a layer switched off by `when:`)", loc=entry.loc_of("kind"))
            for key in entry:
                if key not in RESERVED and key not in found[0].args:
                    raise SpecError(f"unknown argument `{key}` for kind '{found[0].name}'"
                                    f"{did_you_mean(key, found[0].args, '`')} (in a layer switched off by `when:`)",
                                    loc=entry.loc_of(key))
        elif "use" in entry:
            block = self._block(entry["use"], entry.loc_of("use"))
            for key in entry:
                if key not in RESERVED and key not in block.params:
                    raise SpecError(f"block '{entry['use']}' has no parameter '{key}'"
                                    f"{did_you_mean(key, block.params)} (in a layer switched off by `when:`)",
                                    loc=entry.loc_of(key))
        elif isinstance(entry.get("layers"), YList):
            for sub in entry["layers"]:
                if isinstance(sub, YMap):
                    self._validate_switched_off(sub)

    def _name(self, entry: YMap, scope: Scope, head: str) -> str:
        if "name" in entry:
            name = entry["name"]
            where = entry.loc_of("name")
            if not isinstance(name, (str, int)) or isinstance(name, bool) or str(name) == "":
                raise SpecError(f"layer name must be a non-empty string, received {name!r}", loc=where)
            name = str(name)
            # a dotted name (`layer1.0.conv1`, as an import writes module paths) is one name:
            # its parts fold under --depth like a block's, and it is read by its whole name
            if any(c in name for c in "/'\"") or name == "input" or any(c.isspace() or not c.isprintable()
                                                                     for c in name) \
                    or "" in name.split(".") or len(name) > 200:
                raise SpecError(f"invalid layer name {name[:40]!r}: no slashes, quotes, spaces, control "
                                "characters or empty dotted parts, at most 200 characters, and 'input' is "
                                "reserved", loc=where)
            return name
        base = str(entry.get(head if head != "layers" else "", "group"))
        n = scope.counters.get(base, 0) + 1
        scope.counters[base] = n
        return f"{base}{n}"

    def _trainable(self, entry: YMap) -> bool:
        precision.only_on_layers(entry)
        if "shares" in entry and "kind" not in entry:
            raise SpecError("`shares` applies to a layer of a kind, not to a block or a group",
                            loc=entry.loc_of("shares"))
        value = entry.get("trainable", True)
        if not isinstance(value, bool):
            raise SpecError(f"`trainable` must be true or false, received {value!r}",
                            loc=entry.loc_of("trainable"))
        return value

    def _inputs(self, entry: YMap, scope: Scope) -> list[int]:
        if isinstance(entry.get("kind"), str) and entry["kind"] in _reads_nothing():
            if "inputs" in entry:
                raise SpecError(f"kind '{entry['kind']}' reads no input; remove `inputs`", loc=entry.loc_of("inputs"))
            return []
        if "inputs" not in entry:
            return [scope.last]
        raw = entry["inputs"]
        where = entry.loc_of("inputs")
        refs = raw if isinstance(raw, list) else [raw]
        if not refs or not all(isinstance(r, str) for r in refs):
            raise SpecError(f"`inputs` must be a layer name or a list of names, received {raw!r}", loc=where)
        return [self._resolve(self._ref_name(ref, scope, where), scope, entry, where) for ref in refs]

    def _ref_name(self, ref: str, scope: Scope, where: Loc) -> str:
        """A plain (dotted) name is a reference; anything else is an expression that
        chooses one, e.g. `"'shortcut' if project else 'input'"`."""
        if _PLAIN_REF.match(ref):
            return ref
        value = self._eval(ref, scope.env, where)
        if not isinstance(value, str) or not _PLAIN_REF.match(value):
            raise SpecError(f"`inputs` expression '{ref}' must give a layer name, gave {value!r}", loc=where)
        return value

    def _resolve(self, ref: str, scope: Scope, entry: YMap, where: Loc) -> int:
        head, *rest = ref.split(".")
        s = scope
        while s is not None:
            if head == "input" and not rest:
                self.reads.append(s.prefix)
                return s.input
            if rest and ref in s.names:          # a dotted name given whole
                self.reads.append(s.prefix)
                return s.names[ref][0]
            if head in s.names:
                self.reads.append(s.prefix)
                index, child = s.names[head]
                for part in rest:
                    if child is None or part not in child.names:
                        raise SpecError(f"unknown input '{ref}': '{part}' is not inside '{head}'", loc=where)
                    index, child = child.names[part]
                return index
            if head in s.disabled:
                raise SpecError(f"input '{ref}' refers to a layer switched off by its `when:`", loc=where)
            s = s.parent
        if ref in self.graph.by_name:
            self.reads.append(None)
            return self.graph.by_name[ref]
        if ref == str(entry.get("name", "")) or self._defined_later(ref, scope):
            raise SpecError(f"input '{ref}' is the layer itself or one defined after it: a cycle "
                            "(layers may only read layers listed before them)", loc=where)
        raise SpecError(f"unknown input '{ref}' (no layer of that name before this one)", loc=where)

    @staticmethod
    def _defined_later(ref: str, scope: Scope) -> bool:
        head = ref.split(".")[0]
        while scope is not None:
            if any(isinstance(e, YMap) and str(e.get("name", "")) == head for e in scope.entries):
                return True
            scope = scope.parent
        return False

    def _repeat(self, entry: YMap, scope: Scope, name: str, inputs, trainable):
        count = self._eval(entry["repeat"], scope.env, entry.loc_of("repeat"))
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise SpecError(f"`repeat` must be a positive integer, received {count!r}", loc=entry.loc_of("repeat"))
        if count > self.limits.max_repeat:
            raise LimitError(f"repeat {count:,} exceeds the limit of {self.limits.max_repeat:,}",
                             loc=entry.loc_of("repeat"))
        template = entry.get("repeat_name", "block{n}")
        # the index is `i` unless named: a repeat inside a repeat names its own (`j`, `stage`)
        # so that both indices can be read (widths[stage] in every block of a stage)
        var = entry.get("repeat_var", "i")
        if not isinstance(var, str) or not var.isidentifier():
            raise SpecError(f"`repeat_var` must be a name, received {var!r}", loc=entry.loc_of("repeat_var"))
        if count > self.limits.max_steps:       # each repetition is at least one step
            raise LimitError(f"repeat {count:,} exceeds the {self.limits.max_steps:,} expansion steps "
                             f"max_layers={self.limits.max_layers:,} allows", loc=entry.loc_of("repeat"))
        group = Scope(scope.full(name), inputs[0], scope.env, trainable, scope)
        group.last = inputs[0]
        start = len(self.graph.nodes)
        constant = not self._switches(entry, set())      # every repetition adds as many layers
        for i in range(count):
            if i == 1 and constant:
                each = len(self.graph.nodes) - start
                if start + each * count > self.limits.max_layers + 1:
                    # known now, not after building them: a million repetitions stop here
                    raise LimitError(f"repeat {count:,} of {each:,} layers each expands to "
                                     f"{each * count:,} layers, above the limit of {self.limits.max_layers:,}",
                                     loc=entry.loc_of("repeat"))
            env = {**scope.env, var: i}
            try:
                local = str(template).format(i=i, n=i + 1)
            except (KeyError, IndexError, ValueError):
                raise SpecError(f"bad `repeat_name` '{template}': use {{i}} (0-based) or {{n}} (1-based)",
                                loc=entry.loc_of("repeat_name")) from None
            out, child = self._single(entry, group, local, [group.last], trainable, env)
            group.names[local] = (out, child)
            group.last = out
        return group.last, group

    def _switches(self, entry, seen: set) -> bool:
        """Whether anything under `entry` (its group, the blocks it uses, nested repeats)
        has a `when:` or a repeat count that may change with the repetition."""
        if not isinstance(entry, YMap):
            return False
        if "when" in entry or ("repeat" in entry and not isinstance(entry["repeat"], int)):
            return True
        if isinstance(entry.get("layers"), YList) and any(self._switches(e, seen) for e in entry["layers"]):
            return True
        if isinstance(entry.get("use"), str) and entry["use"] not in seen:
            seen.add(entry["use"])
            block = self.spec.blocks.get(entry["use"]) or library_blocks().get(entry["use"])
            return block is not None and any(self._switches(e, seen) for e in block.layers)
        return False

    def _single(self, entry: YMap, scope: Scope, name: str, inputs, trainable, env):
        if "kind" in entry:
            return self._layer(entry, scope, name, inputs, trainable, env), None
        if "use" in entry:
            return self._use(entry, scope, name, inputs, trainable, env)
        body = entry["layers"]
        if not isinstance(body, YList) or not body:
            raise SpecError("`layers` must be a non-empty list", loc=entry.loc_of("layers"))
        self._check_extra_keys(entry, ())
        child = self._child(scope, name, inputs, dict(env), trainable)
        self._run(body, child)
        return self._output(entry.get("output"), child, entry.loc_of("output")), child

    def _child(self, scope, name, inputs, env, trainable) -> Scope:
        if len(inputs) != 1:
            raise SpecError("a block or group takes exactly one input")
        shape = self.graph.nodes[inputs[0]].out_shape
        env["in_c"], env["in_shape"] = shape[-1], list(shape)
        if len(shape) == 3:
            env["in_h"], env["in_w"] = shape[0], shape[1]
        child = Scope(scope.full(name), inputs[0], env, trainable, scope)
        child.last = inputs[0]
        return child

    def _output(self, ref, child: Scope, loc) -> int:
        if ref is None:
            return child.last
        if ref not in child.names:
            raise SpecError(f"`output: {ref}` names no layer of this block", loc=loc)
        return child.names[ref][0]

    def _check_extra_keys(self, entry: YMap, allowed) -> None:
        for key in entry:
            if key not in RESERVED and key not in allowed:
                raise SpecError(f"unknown key '{key}' here (a group takes only {', '.join(RESERVED)})",
                                loc=entry.loc_of(key))

    def _use(self, entry: YMap, scope: Scope, name: str, inputs, trainable, env):
        bname = entry["use"]
        where = entry.loc_of("use")
        block = self._block(bname, where)
        if bname in self.block_stack:
            raise SpecError(f"block '{bname}' uses itself (via {' -> '.join(self.block_stack)})", loc=where)
        if len(self.block_stack) >= self.limits.max_depth:
            raise LimitError(f"blocks nested deeper than {self.limits.max_depth}", loc=where)
        child_env = {k: v for k, v in env.items() if k in self.spec.vars}
        for key in entry:
            if key in RESERVED:
                continue
            if key not in block.params:
                raise SpecError(f"block '{bname}' has no parameter '{key}'{did_you_mean(key, block.params)} "
                                f"(parameters: {', '.join(block.params) or 'none'})", loc=entry.loc_of(key))
            child_env[key] = self._eval(entry[key], env, entry.loc_of(key), bare_words=True)
        if len(inputs) != len(block.inputs):
            raise SpecError(f"block '{bname}' takes {len(block.inputs)} input(s) ({', '.join(block.inputs)}), "
                            f"received {len(inputs)}", loc=entry.loc_of("inputs") if "inputs" in entry else entry.loc)
        child = self._child(scope, name, inputs[:1], child_env, trainable)
        # several inputs: each is a name inside the block, its shape in <name>_h, _w, _c
        for bname_in, index in zip(block.inputs, inputs):
            shape = self.graph.nodes[index].out_shape
            child.env[f"{bname_in}_c"] = shape[-1]
            if len(shape) == 3:
                child.env[f"{bname_in}_h"], child.env[f"{bname_in}_w"] = shape[0], shape[1]
            if bname_in != "input":
                child.names[bname_in] = (index, None)
        for pname, default in block.params.items():
            if pname in entry:
                continue
            if default is None:
                raise SpecError(f"block '{bname}' needs parameter '{pname}'", loc=entry.loc)
            child.env[pname] = self._eval(default, child.env, block.params.loc_of(pname), bare_words=True)
        from cnncost.core import replay

        shapes = tuple(self.graph.nodes[i].out_shape for i in inputs)
        memo = replay.key(block, child.env, shapes, trainable)
        if memo is not None and memo in self.recorded:
            return replay.replay(self, self.recorded[memo], child, list(inputs)), child
        start, steps, reads = len(self.graph.nodes), self.steps, len(self.reads)
        self.block_stack.append(bname)
        try:
            self._run(block.layers, child)
        except CnnCostError as exc:
            # An error inside a library block also names where the spec used the block.
            if exc.loc is not None and exc.loc.file != self.spec.path and " used at " not in exc.message:
                exc.message += f" (in block '{bname}' used at {where})"
            raise
        finally:
            self.block_stack.pop()
        out = self._output(block.output, child, block.loc)
        inside = child.prefix + "."
        if memo is not None and all(p is not None and (p == child.prefix or p.startswith(inside))
                                    for p in self.reads[reads:]):
            rec = replay.record(self.graph, start, child.prefix, child, list(inputs), out, self.steps - steps)
            if rec is not None:
                self.recorded[memo] = rec
        return out, child

    def _block(self, bname, where) -> BlockDef:
        if not isinstance(bname, str):
            raise SpecError(f"`use` must name a block, received {bname!r}", loc=where)
        block = self.spec.blocks.get(bname) or library_blocks().get(bname)
        if block is None:
            known = sorted(set(self.spec.blocks) | set(library_blocks()))
            raise SpecError(f"unknown block '{bname}' (blocks: {', '.join(known)})", loc=where)
        return block

    def _layer(self, entry: YMap, scope: Scope, name: str, inputs, trainable, env) -> int:
        where = entry.loc_of("shares") if "shares" in entry else None

        def owner_of(ref: str) -> int:        # `shares:` names an earlier layer as `inputs:` do
            if not isinstance(ref, str) or not _PLAIN_REF.match(ref):
                raise SpecError(f"`shares` must name a layer, received {ref!r}", loc=where)
            return self._resolve(ref, scope, entry, where)
        return self.nodes.layer(entry, scope.full(name), inputs, trainable, env, owner_of)


@functools.lru_cache(maxsize=1)
def _reads_nothing() -> frozenset:
    """Kind names (as written, any case) of the kinds that read no input (constants)."""
    from cnncost.layers import ALIASES, KINDS

    names = {n for n, k in KINDS.items() if k.arity == (0,)}
    names |= {a for a, (n, _) in ALIASES.items() if n in names}
    return frozenset(names | {n.upper() for n in names} | {n.capitalize() for n in names})


def build(spec: ArchSpec, overrides: dict | None = None, limits: Limits = DEFAULT,
          rewrite: str | None = None) -> Graph:
    return Builder(spec, overrides, limits, rewrite).build()
