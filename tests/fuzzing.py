"""Spec mutators for the fuzz tests: each takes (random, text of a bundled spec) and
returns a mutated text or bytes. Kept apart from the tests so a longer run can import it."""
import random

import yaml

from cnncost.spec import bundled_names, read_spec

SPECS = {name: read_spec(name)[1].decode() for name in bundled_names()}
WEIRD_VALUES = [-1, 0, 10**12, 10**40, 2.5, -0.5, "abc", "", "1/0", "10**10**10", "x" * 600, True, None,
                [], {}, [1, 2, 3, 4, 5], {"a": 1}, "nan", float("inf"), "ρ", "'same'", "[1, 2]"]
UNICODE = ["ρ", "层", "conv😀", "a\u200bb", "Ω.x", "é" * 300, "名前", "\u202e", "a b", "x/y"]


def _walk(node, path=()):
    """Every (container, key) pair in a loaded YAML document."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield node, k
            yield from _walk(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield node, i
            yield from _walk(v, path + (i,))


def _layers(doc):
    out = []

    def visit(entries):
        if isinstance(entries, list):
            for e in entries:
                if isinstance(e, dict):
                    out.append(e)
                    visit(e.get("layers"))
    visit(doc.get("layers"))
    for block in (doc.get("blocks") or {}).values():
        if isinstance(block, dict):
            visit(block.get("layers"))
    return out


def _dump(doc):
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def drop_key(rng, text):
    doc = yaml.safe_load(text)
    pairs = [(c, k) for c, k in _walk(doc) if isinstance(c, dict)]
    c, k = rng.choice(pairs)
    del c[k]
    return _dump(doc)


def duplicate_key(rng, text):
    lines = text.splitlines()
    candidates = [i for i, line in enumerate(lines) if ":" in line and not line.lstrip().startswith("#")]
    i = rng.choice(candidates)
    lines.insert(i + 1, lines[i])
    return "\n".join(lines) + "\n"


def wrong_type(rng, text):
    doc = yaml.safe_load(text)
    c, k = rng.choice(list(_walk(doc)))
    c[k] = rng.choice(WEIRD_VALUES)
    return _dump(doc)


def bad_size(rng, text):
    doc = yaml.safe_load(text)
    ints = [(c, k) for c, k in _walk(doc) if isinstance(c[k], int) and not isinstance(c[k], bool)]
    if not ints:
        return wrong_type(rng, text)
    c, k = rng.choice(ints)
    c[k] = rng.choice([-1, 0, 10**12, 10**30, 2.5, "abc", -10**9, 2**31, 1e308])
    return _dump(doc)


def unicode_name(rng, text):
    doc = yaml.safe_load(text)
    layer = rng.choice(_layers(doc))
    layer["name"] = rng.choice(UNICODE)
    return _dump(doc)


def deep_nesting(rng, text):
    if rng.random() < 0.5:   # deep YAML structure
        depth = rng.randint(50, 3000)
        return "input: [4, 4, 1]\nlayers: " + "[" * depth + "{kind: relu}" + "]" * depth + "\n"
    doc = yaml.safe_load(text)   # layers wrapped in many inline groups
    body = doc["layers"]
    for i in range(rng.randint(1, 120)):
        body = [{"name": f"g{i}", "layers": body}]
    doc["layers"] = body
    return _dump(doc)


def unknown_kind(rng, text):
    doc = yaml.safe_load(text)
    layer = rng.choice([l for l in _layers(doc) if "kind" in l] or _layers(doc))
    layer["kind"] = rng.choice(["convolution", "Conv2D", "", "relu ", "ReLU", 7, None, "kind", "layers"])
    return _dump(doc)


def cyclic_inputs(rng, text):
    doc = yaml.safe_load(text)
    layers = [l for l in doc["layers"] if isinstance(l, dict)]
    i = rng.randrange(len(layers))
    own = layers[i].setdefault("name", f"auto{i}")
    later = [l.get("name") for l in layers[i + 1:] if l.get("name")]
    target = rng.choice([own] + later) if later else own
    layers[i]["inputs"] = rng.choice([target, [target], [target, "input"], ["input", target, own]])
    return _dump(doc)


def self_using_block(rng, text):
    doc = yaml.safe_load(text)
    doc.setdefault("blocks", {})
    doc["blocks"]["loop_a"] = {"layers": [{"name": "x", "use": rng.choice(["loop_a", "loop_b"])}]}
    doc["blocks"]["loop_b"] = {"layers": [{"name": "y", "use": "loop_a"}]}
    doc["layers"].insert(rng.randrange(len(doc["layers"]) + 1), {"name": "recursion", "use": "loop_a"})
    return _dump(doc)


def truncated(rng, text):
    return text[: rng.randrange(len(text))]


def garbage(rng, text):
    if rng.random() < 0.5:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 400)))
    pos = rng.randrange(len(text))
    junk = "".join(rng.choice("{}[]:-&*!|>'\"%@`#,?\t\n\\") for _ in range(rng.randint(1, 20)))
    return text[:pos] + junk + text[pos:]


def alias_bomb(rng, text):
    n = rng.randint(3, 12)
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, n)]
    where = rng.choice(["vars", "layers", "input", "expect"])
    body = {"vars": f"vars: {{bomb: *a{n - 1}}}\ninput: [4, 4, 1]\nlayers: [{{kind: relu}}]",
            "layers": f"input: [4, 4, 1]\nlayers: *a{n - 1}",
            "input": f"input: *a{n - 1}\nlayers: [{{kind: relu}}]",
            "expect": f"input: [4, 4, 1]\nlayers: [{{kind: relu}}]\nexpect: {{layers: {{relu1: *a{n - 1}}}}}"}[where]
    return "x_anchors:\n" + "\n".join("  " + l for l in lines) + "\n" + body + "\n"


MUTATORS = {f.__name__: f for f in (drop_key, duplicate_key, wrong_type, bad_size, unicode_name,
                                     deep_nesting, unknown_kind, cyclic_inputs, self_using_block,
                                     truncated, garbage, alias_bomb)}


def mutate(seed: int, mutator: str, spec: str):
    rng = random.Random(seed)
    return MUTATORS[mutator](rng, SPECS[spec])
