"""A block use copied from an earlier identical one (core/replay.py) gives the graph that
expanding it would: every bundled network, node for node, and dotted names into a copied
block still resolve."""
import pytest

from conftest import analyze_text
from cnncost.core import build as builder
from cnncost.core import replay
from cnncost.spec import bundled_names, load_spec


def _nodes(graph):
    return [(n.name, n.label, dict(n.args), n.inputs, n.in_shapes, n.out_shape, n.loc, n.trainable,
             n.kind.name if n.kind else None) for n in graph.nodes]


@pytest.mark.parametrize("name", bundled_names())
def test_copied_blocks_are_the_expanded_ones(name, monkeypatch):
    spec = load_spec(name)
    with_copies = builder.build(spec)
    monkeypatch.setattr(replay, "key", lambda *a: None)     # every use expanded
    assert _nodes(builder.build(spec)) == _nodes(with_copies)


def test_resnet152_copies_most_of_its_blocks():
    b = builder.Builder(load_spec("resnet152"))
    b.build()
    assert 0 < len(b.recorded) < 20          # 50 uses of bottleneck, a few distinct ways


BLOCKS = """
blocks:
  pair:
    params: {f: 4}
    layers:
      - {name: a, kind: conv, filters: f, kernel: 3, padding: same}
      - {name: b, kind: relu}
"""


def test_dotted_names_into_a_copied_block_resolve():
    rep = analyze_text("input: [8, 8, 3]" + BLOCKS + """layers:
  - {name: p1, use: pair}
  - {name: p2, use: pair}
  - {name: p3, use: pair}
  - {name: cat, kind: concat, inputs: [p1.a, p2.a, p3.b]}
""")
    names = [r.name for r in rep.layers]
    assert names[:6] == ["p1.a", "p1.b", "p2.a", "p2.b", "p3.a", "p3.b"]
    cat = rep.graph.nodes[rep.graph.by_name["cat"]]
    assert [rep.graph.nodes[i].name for i in cat.inputs] == ["p1.a", "p2.a", "p3.b"]


def test_a_block_reading_outside_itself_is_expanded_each_time():
    rep = analyze_text("input: [8, 8, 3]" + """
blocks:
  side:
    layers:
      - {name: a, kind: conv, filters: 3, kernel: 1}
      - {name: s, kind: add, inputs: [a, stem]}
layers:
  - {name: stem, kind: relu}
  - {name: x1, use: side}
  - {name: x2, use: side}
""")
    adds = [rep.graph.nodes[rep.graph.by_name[n]] for n in ("x1.s", "x2.s")]
    stem = rep.graph.by_name["stem"]
    assert all(stem in n.inputs for n in adds)


def test_a_block_given_one_node_twice_is_not_copied_to_two():
    rep = analyze_text("input: [8, 8, 3]" + """
blocks:
  join:
    inputs: [a, b]
    layers:
      - {name: s, kind: add, inputs: [a, b]}
layers:
  - {name: x, kind: relu}
  - {name: y, kind: relu, inputs: input}
  - {name: j1, use: join, inputs: [x, x]}
  - {name: j2, use: join, inputs: [x, y]}
""")
    g = rep.graph
    assert [g.nodes[i].name for i in g.nodes[g.by_name["j2.s"]].inputs] == ["x", "y"]
