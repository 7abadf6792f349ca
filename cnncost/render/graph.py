"""The layer graph as Graphviz DOT or a Mermaid flowchart: blocks become nested clusters,
nodes are labelled with kind, output shape and cost."""
from __future__ import annotations

from cnncost.core.analysis import Report
from cnncost.render.report import shape_str, si


def _tree(report: Report):
    """Nested {prefix: (children, [node indices])} following the dotted names."""
    root = ({}, [])
    for node in report.graph.nodes:
        parts = node.name.split(".")
        where = root
        for depth in range(1, len(parts)):
            prefix = ".".join(parts[:depth])
            where = where[0].setdefault(prefix, ({}, []))
        where[1].append(node.index)
    return root


def _label(report: Report, index: int, newline: str) -> str:
    node = report.graph.nodes[index]
    if index == 0:
        return f"input{newline}{shape_str(node.out_shape)}"
    row = report.layers[index - 1]
    cost = f"{newline}{si(row.mults)} mults" if row.mults else ""
    params = f", {si(row.params)} params" if row.params else ""
    return f"{node.name.split('.')[-1]} ({node.label}){newline}{shape_str(node.out_shape)}{cost}{params}"


def _walk(report: Report, indent: str, node_line, open_cluster, close_cluster) -> list[str]:
    """Nested clusters of the dotted-name tree, the same for both syntaxes."""
    lines = []

    def emit(tree, pad):
        children, nodes = tree
        lines.extend(pad + node_line(i) for i in nodes)
        for prefix, sub in children.items():
            lines.extend(pad + line for line in open_cluster(prefix))
            emit(sub, pad + "  ")
            lines.append(pad + close_cluster)

    emit(_tree(report), indent)
    return lines


def _edges(report: Report, arrow: str, end: str) -> list[str]:
    return [f"  n{i} {arrow} n{node.index}{end}" for node in report.graph.layers for i in node.inputs]


def to_dot(report: Report) -> str:
    def esc(text):
        return text.replace("\\", "\\\\").replace('"', '\\"')

    head = [f'digraph "{esc(report.name)}" {{', "  rankdir=TB;",
            '  node [shape=box, style="rounded", fontname="Helvetica", fontsize=10];',
            f'  label="{esc(report.name)}: {si(report.totals["mults"])} mults, '
            f'{si(report.totals["params"])} params"; labelloc=t;']

    def node_line(i):
        label = esc(_label(report, i, "\n")).replace("\n", "\\n")   # DOT's newline escape
        return f'n{i} [label="{label}"];'

    body = _walk(report, "  ", node_line,
                 lambda prefix: [f'subgraph "cluster_{esc(prefix)}" {{',
                                 f'  label="{esc(prefix)}"; style="rounded,dashed";'],
                 "}")
    return "\n".join(head + body + _edges(report, "->", ";") + ["}"]) + "\n"


def to_mermaid(report: Report) -> str:
    ids: dict[str, str] = {}

    def esc(text):
        return text.replace('"', "#quot;")

    def cluster(prefix):
        ids[prefix] = f"b{len(ids)}"
        return [f'subgraph {ids[prefix]}["{esc(prefix)}"]']

    body = _walk(report, "  ", lambda i: f'n{i}["{esc(_label(report, i, "<br/>"))}"]', cluster, "end")
    return "\n".join(["flowchart TD"] + body + _edges(report, "-->", "")) + "\n"
