"""Draw the computation graph behind a :class:`~bmcourse.autograd.engine.Value` with matplotlib.

Leaves (inputs and parameters) are on the left, the result on the right; with
``vertical=True``, leaves are at the top and the result at the bottom, which suits a deep graph
on a narrow page. Each value is a box showing its label, its data and its gradient; each
operation is a small circle between the values it reads and the value it produces. No Graphviz
needed.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import FancyBboxPatch

from .engine import Value

__all__ = ["draw_graph"]

MAX_NODES = 120


def _columns(root: Value) -> dict[int, int]:
    """Column of each value, chosen so that every edge points rightwards and stays short.

    A computed value sits one column right of its deepest input; a leaf (an input, a parameter
    or a constant) sits just left of the first value that uses it rather than far away at
    the left edge.
    """
    order = root.topological_order()  # inputs come before the values computed from them
    depth: dict[int, int] = {}
    for node in order:
        if node._children:
            depth[id(node)] = 1 + max(depth.get(id(c), 0) for c in node._children)
        else:
            depth[id(node)] = 0
    # Leaves were put in column 0; move each next to its earliest consumer. Computed values
    # only need their inputs' columns to be smaller, which still holds afterwards.
    first_use: dict[int, int] = {}
    for node in order:
        for child in node._children:
            if not child._children:
                first_use[id(child)] = min(first_use.get(id(child), depth[id(node)]), depth[id(node)])
    for key, col in first_use.items():
        depth[key] = col - 1
    return depth


def draw_graph(root: Value, ax=None, show_grad: bool = True, digits: int = 4,
               vertical: bool = False):
    """Draw the graph that computed ``root``.

    Parameters
    ----------
    root : Value
        The result (usually a loss); call ``root.backward()`` first to see gradients.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure sized to the graph otherwise.
    show_grad : bool
        Print ``grad`` under each value.
    digits : int
        Significant digits of the numbers shown.
    vertical : bool
        Draw from top (leaves) to bottom (``root``) with smaller boxes, so that a graph many
        operations deep stays narrow enough to read on a page.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if not isinstance(root, Value):
        raise TypeError(f"draw_graph needs a Value, got {type(root).__name__}.")
    nodes = root.topological_order()
    if len(nodes) > MAX_NODES:
        raise ValueError(f"The graph has {len(nodes)} values; drawing is readable up to {MAX_NODES}. "
                         "Draw a smaller expression (e.g. one neuron) instead.")
    depth = _columns(root)
    n_cols = max(depth.values()) + 1

    # Rows: each computed value wants to sit at the mean height of its computed inputs (a
    # barycentre heuristic that keeps edges short and mostly uncrossed); a leaf wants to sit by
    # the value that uses it. Within a column, values are then stacked in that order.
    want: dict[int, float] = {}
    for i, node in enumerate(nodes):
        inner = [want[id(c)] for c in node._children if c._children]
        want[id(node)] = sum(inner) / len(inner) if inner else float(i)
    placed: set[int] = set()
    for node in nodes:
        for k, child in enumerate(node._children):
            if not child._children and id(child) not in placed:  # first consumer wins
                want[id(child)] = want[id(node)] + 0.01 * k
                placed.add(id(child))
    rows: dict[int, float] = {}
    by_col: dict[int, list[Value]] = {c: [] for c in range(n_cols)}
    for node in nodes:
        by_col[depth[id(node)]].append(node)
    for column in by_col.values():
        column.sort(key=lambda v: want[id(v)])
        for i, node in enumerate(column):
            rows[id(node)] = i - (len(column) - 1) / 2
    height = max(len(c) for c in by_col.values())

    # Spacing between columns and between the values within one, box size, and circle radius.
    # Vertically, a column becomes a level and the boxes shrink to fit a page's width.
    if vertical:
        col_gap, row_gap, box_w, box_h, radius = 1.4, 1.2, 1.12, 0.62, 0.2
    else:
        col_gap, row_gap, box_w, box_h, radius = 2.6, 1.1, 1.4, 0.76, 0.28
    if ax is None:
        if vertical:
            figsize = (row_gap * height + 0.3, col_gap * (n_cols - 1) + box_h + 0.3)
        else:
            figsize = (col_gap * n_cols + 1, row_gap * height + 1)
        _, ax = plt.subplots(figsize=figsize)
    if vertical:
        x_of = {id(n): row_gap * rows[id(n)] for n in nodes}
        y_of = {id(n): -col_gap * depth[id(n)] for n in nodes}
    else:
        x_of = {id(n): col_gap * depth[id(n)] for n in nodes}
        y_of = {id(n): -row_gap * rows[id(n)] for n in nodes}

    fmt = f"{{:.{digits}g}}"
    for node in nodes:
        x, y = x_of[id(node)], y_of[id(node)]
        if node._children:
            # The operation's circle sits just before (left of, or above) the value it produces;
            # arrows run from each input's box to the circle and on to the value's box.
            if vertical:
                ox, oy = x, y + box_h
                into_op, out_of_op = (ox, oy + radius), (ox, oy - radius)
                into_box = (x, y + box_h / 2)
            else:
                ox, oy = x - 1.0, y
                into_op, out_of_op = (ox - radius, oy), (ox + radius, oy)
                into_box = (x - box_w / 2, y)
            ax.add_patch(plt.Circle((ox, oy), radius, color="#fde2b8", ec="#b36b00", zorder=2))
            ax.text(ox, oy, node.op, ha="center", va="center", fontsize=8, zorder=3)
            for child in node._children:
                cx, cy = x_of[id(child)], y_of[id(child)]
                start = (cx, cy - box_h / 2) if vertical else (cx + box_w / 2, cy)
                ax.annotate("", xy=into_op, xytext=start,
                            arrowprops=dict(arrowstyle="->", color="#777", lw=0.8), zorder=1)
            ax.annotate("", xy=into_box, xytext=out_of_op,
                        arrowprops=dict(arrowstyle="->", color="#777", lw=0.8), zorder=1)
        text = (f"{node.label}  " if node.label else "") + "data " + fmt.format(node.data)
        if show_grad:
            text += "\ngrad " + fmt.format(node.grad)
        colour = "#d6e9ff" if node is not root else "#d9f2d9"
        ax.add_patch(FancyBboxPatch((x - box_w / 2, y - box_h / 2), box_w, box_h,
                                    boxstyle="round,pad=0.02", fc=colour, ec="#3a6ea5", zorder=2))
        ax.text(x, y, text, ha="center", va="center", fontsize=7.5, zorder=3)

    half = row_gap * height / 2 + 0.1  # half the extent across the columns
    if vertical:
        ax.set_xlim(-half, half)
        ax.set_ylim(-col_gap * (n_cols - 1) - box_h / 2 - 0.1, box_h / 2 + 0.1)
    else:
        ax.set_xlim(-1.0, col_gap * (n_cols - 1) + 1.0)
        ax.set_ylim(-0.6 - 0.55 * height, 0.6 + 0.55 * height)
    ax.set_aspect("equal")
    ax.axis("off")
    return ax
