"""A small, safe expression evaluator for spec values (`"int(64 * alpha)"`, `"2 if i == 0 else 1"`).

Expressions are parsed with `ast` and only a whitelist of node types is evaluated;
nothing is ever passed to `eval`. Integers stay exact; magnitudes are bounded so a
spec cannot make us compute 10**10**10.
"""
from __future__ import annotations

import ast
import functools
import math
import operator

from cnncost.errors import LimitError, SpecError
from cnncost.spec.limits import DEFAULT, Limits


def make_divisible(value, divisor=8, min_value=None):
    """Round `value` to a multiple of `divisor`, never more than 10% down (MobileNetV2 rule)."""
    if divisor <= 0:
        raise SpecError(f"make_divisible: divisor must be positive, received {divisor}")
    if min_value is None:
        min_value = divisor
    new_value = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new_value < 0.9 * value:
        new_value += divisor
    return new_value


def _int(value):
    if isinstance(value, float) and not math.isfinite(value):
        raise SpecError(f"int() of {value}")
    return int(value)


FUNCTIONS = {
    "min": min, "max": max, "abs": abs, "round": round, "int": _int, "float": float,
    "ceil": math.ceil, "floor": math.floor, "make_divisible": make_divisible,
    "log": math.log, "log2": math.log2, "sqrt": math.sqrt,    # RegNet's quantised widths need log
}

_BINOPS = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_CMPOPS = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}


def _check_magnitude(value, bits):
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value.bit_length() > bits:
        raise LimitError(f"integer too large in expression (more than {bits} bits)")
    if isinstance(value, float) and not math.isfinite(value):
        raise SpecError(f"expression produced {value}")
    return value


def evaluate(text: str, scope: dict, limits: Limits = DEFAULT):
    """Evaluate an expression string against `scope` (names to values)."""
    text = text.strip()
    if len(text) > limits.max_expr_chars:
        raise LimitError(f"expression is {len(text)} characters; the limit is {limits.max_expr_chars}")
    tree = _parse(text)
    try:
        return _eval(tree.body, scope, text, limits.max_int_bits)
    except (ZeroDivisionError, OverflowError) as exc:
        raise SpecError(f"cannot evaluate '{text}': {exc}") from None
    except RecursionError:
        raise LimitError(f"expression '{text[:40]}...' is nested too deeply") from None


@functools.lru_cache(maxsize=4096)
def _parse(text: str):
    """The tree of an expression; a repeat or a block evaluates the same text many times,
    and parsing is most of the cost (the tree is only read, never changed)."""
    source = text.replace("$", "")      # `$name` is accepted as a readable marker for a variable
    try:
        return ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise SpecError(f"invalid expression '{text}': {exc.msg}") from None
    except RecursionError:
        raise LimitError(f"expression '{text[:40]}...' is nested too deeply") from None


def _eval(node, scope, text, bits):
    if isinstance(node, ast.Constant):
        if isinstance(node.value, (int, float, str, bool)) or node.value is None:
            return node.value
        raise SpecError(f"constant {node.value!r} is not allowed in '{text}'")
    if isinstance(node, ast.Name):
        if node.id in scope:
            return scope[node.id]
        if node.id in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[node.id]
        known = ", ".join(sorted(k for k in scope if not k.startswith("_"))) or "none"
        raise SpecError(f"unknown name '{node.id}' in '{text}' (known names: {known})")
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        left, right = _eval(node.left, scope, text, bits), _eval(node.right, scope, text, bits)
        if isinstance(left, list) != isinstance(right, list):
            # a list with a number works element-wise: `kernel // 2` for kernel [1, 7]
            seq, num = (left, right) if isinstance(left, list) else (right, left)
            _require_numbers(text, num, *seq)
            op = _BINOPS[type(node.op)]
            return [_check_magnitude(op(v, num) if isinstance(left, list) else op(num, v), bits) for v in seq]
        _require_numbers(text, left, right)
        if isinstance(node.op, ast.Pow) and abs(right) > 64:
            raise LimitError(f"exponent {right} too large in '{text}'")
        return _check_magnitude(_BINOPS[type(node.op)](left, right), bits)
    if isinstance(node, ast.UnaryOp):
        value = _eval(node.operand, scope, text, bits)
        if isinstance(node.op, ast.Not):
            return not value
        _require_numbers(text, value)
        if isinstance(node.op, ast.USub):
            return -value
        if isinstance(node.op, ast.UAdd):
            return +value
    if isinstance(node, ast.BoolOp):
        values = (_eval(v, scope, text, bits) for v in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.Compare):
        left = _eval(node.left, scope, text, bits)
        for op, comp in zip(node.ops, node.comparators):
            if type(op) not in _CMPOPS:
                break
            right = _eval(comp, scope, text, bits)
            try:
                if not _CMPOPS[type(op)](left, right):
                    return False
            except TypeError:
                raise SpecError(f"cannot compare {left!r} and {right!r} in '{text}'") from None
            left = right
        else:
            return True
    if isinstance(node, ast.IfExp):
        branch = node.body if _eval(node.test, scope, text, bits) else node.orelse
        return _eval(branch, scope, text, bits)
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_eval(e, scope, text, bits) for e in node.elts]
    if isinstance(node, ast.Subscript) and not isinstance(node.slice, ast.Slice):
        # a row of a config table: widths[i], stages[i][1]
        seq = _eval(node.value, scope, text, bits)
        index = _eval(node.slice, scope, text, bits)
        if not isinstance(seq, list):
            raise SpecError(f"only a list can be indexed in '{text}', received {seq!r}")
        if isinstance(index, bool) or not isinstance(index, int):
            raise SpecError(f"a list index must be an integer in '{text}', received {index!r}")
        if not -len(seq) <= index < len(seq):
            raise SpecError(f"index {index} is out of range for a list of {len(seq)} in '{text}'")
        return seq[index]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        func = FUNCTIONS.get(node.func.id)
        if func is None:
            raise SpecError(f"unknown function '{node.func.id}' in '{text}' "
                            f"(allowed: {', '.join(sorted(FUNCTIONS))})")
        args = [_eval(a, scope, text, bits) for a in node.args]
        _require_numbers(text, *args)
        try:
            return _check_magnitude(func(*args), bits)
        except (TypeError, ValueError, OverflowError, ZeroDivisionError) as exc:
            raise SpecError(f"bad call in '{text}': {exc}") from None
    raise SpecError(f"'{ast.unparse(node)}' is not allowed in expressions ('{text}')")


def _require_numbers(text, *values):
    for v in values:
        if not isinstance(v, (int, float)):
            raise SpecError(f"expected a number in '{text}', received {v!r}")
