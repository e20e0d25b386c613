"""The series' drawing vocabulary: one palette, one font, and the shapes every drawn figure is made of.

One visual language:
- a token or a tensor cell is a rounded square (`cell`); a piece of several tokens is a rounded bar (`box`);
- real tokens and allowed attention links are blue, padding is grey, a blocked link is white, a token's link to
  itself (kept for padding) orange; a second document or a second kind of thing is green;
- a weight matrix is a block of small cells with its name above and its shape below (`matrix`);
- an operation is an arrow with its name on it (`arrow`); shapes are written on the figure.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

BLUE, LIGHT_BLUE, GREY, ORANGE, INK, DOC2 = "#3b75af", "#a9c8e8", "#d4d4d4", "#ef8a3c", "#222222", "#6aa84f"
plt.rcParams.update({"font.family": "DejaVu Sans", "font.size": 10, "svg.hashsalt": "rawllm"})


def cell(ax, x, y, colour, text="", text_colour="white", size=0.9, fontsize=9):
    """One rounded square of side `size` centred at (x, y), with a label."""
    ax.add_patch(FancyBboxPatch((x - size / 2, y - size / 2), size, size, boxstyle="round,pad=0,rounding_size=0.12",
                                facecolor=colour, edgecolor="white", linewidth=1))
    if text:
        ax.text(x, y, text, ha="center", va="center", color=text_colour, fontsize=fontsize)


def mask_grid(ax, colours, x0, y0, labels):
    """A (T, T) attention mask: row i = query i, column j = key j; colours[i][j] fills each cell."""
    n = len(colours)
    for i in range(n):
        for j in range(n):
            cell(ax, x0 + j, y0 - i, colours[i][j], size=0.92)
    for j, label in enumerate(labels):
        ax.text(x0 + j, y0 + 0.8, label, ha="center", va="bottom", fontsize=8, rotation=90, color=INK)
        ax.text(x0 - 0.8, y0 - j, label, ha="right", va="center", fontsize=8, color=INK)


def finish(fig, axes):
    """Square cells, no axes, tight margins: how every figure of cells ends."""
    for ax in axes:
        ax.set_aspect("equal")
        ax.axis("off")
    fig.tight_layout()
    return fig


def box(ax, x, y, width, colour, text="", text_colour="white", height=0.9, fontsize=8):
    """A rounded rectangle of `width` cells starting at x (a multi-token piece), centred vertically at y."""
    ax.add_patch(FancyBboxPatch((x + 0.04, y - height / 2), width - 0.08, height,
                                boxstyle="round,pad=0,rounding_size=0.12", facecolor=colour, edgecolor="white"))
    if text:
        ax.text(x + width / 2, y, text, ha="center", va="center", color=text_colour, fontsize=fontsize)


def arrow(ax, x0, y0, x1, y1, text="", colour=INK):
    """An arrow from (x0, y0) to (x1, y1), with an optional label above its middle."""
    ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops=dict(arrowstyle="->", color=colour, lw=1.4))
    if text:
        ax.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.25, text, ha="center", va="bottom", fontsize=8.5, color=colour)


def matrix(ax, x, y, rows, cols, colour, label, shape):
    """A weight matrix as a block of rows x cols cells (top-left at x, y), its name inside, its shape below."""
    for i in range(rows):
        for j in range(cols):
            cell(ax, x + j * 0.5, y - i * 0.5, colour, size=0.46)
    ax.text(x + (cols - 1) * 0.25, y + 0.35, label, ha="center", va="bottom", fontsize=12, weight="bold",
            color=INK)
    ax.text(x + (cols - 1) * 0.25, y - rows * 0.5 + 0.05, shape, ha="center", va="top", fontsize=9, color=INK)
