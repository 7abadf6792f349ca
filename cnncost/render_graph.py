"""The layer graph as Graphviz DOT or a Mermaid flowchart: blocks become nested clusters,
nodes are labelled with kind, output shape and cost."""
from __future__ import annotations

from .analysis import Report
from .render import shape_str, si


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


def to_dot(report: Report) -> str:
    def esc(text):
        return text.replace("\\", "\\\\").replace('"', '\\"')

    lines = [f'digraph "{esc(report.name)}" {{', "  rankdir=TB;",
             '  node [shape=box, style="rounded", fontname="Helvetica", fontsize=10];',
             f'  label="{esc(report.name)}: {si(report.totals["mults"])} mults, '
             f'{si(report.totals["params"])} params"; labelloc=t;']

    def emit(tree, indent):
        children, nodes = tree
        for i in nodes:
            label = esc(_label(report, i, "\n")).replace("\n", "\\n")
            lines.append(f'{indent}n{i} [label="{label}"];')
        for prefix, sub in children.items():
            lines.append(f'{indent}subgraph "cluster_{esc(prefix)}" {{')
            lines.append(f'{indent}  label="{esc(prefix)}"; style="rounded,dashed";')
            emit(sub, indent + "  ")
            lines.append(f"{indent}}}")

    emit(_tree(report), "  ")
    for node in report.graph.layers:
        for i in node.inputs:
            lines.append(f"  n{i} -> n{node.index};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(report: Report) -> str:
    lines = ["flowchart TD"]
    ids = {}

    def esc(text):
        return text.replace('"', "#quot;")

    def emit(tree, indent):
        children, nodes = tree
        for i in nodes:
            lines.append(f'{indent}n{i}["{esc(_label(report, i, "<br/>"))}"]')
        for prefix, sub in children.items():
            ids[prefix] = f"b{len(ids)}"
            lines.append(f'{indent}subgraph {ids[prefix]}["{esc(prefix)}"]')
            emit(sub, indent + "  ")
            lines.append(f"{indent}end")

    emit(_tree(report), "  ")
    for node in report.graph.layers:
        for i in node.inputs:
            lines.append(f"  n{i} --> n{node.index}")
    return "\n".join(lines) + "\n"
