"""Drawn figures of notebook 09; `python assets/figures.py --notebook 09` redraws and embeds them."""
from __future__ import annotations

import sys
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

from drawing import BLUE, DOC2, GREY, INK, LIGHT_BLUE, ORANGE, arrow, box, cell, finish, mask_grid, matrix, plt  # noqa: F401


NOTEBOOK = "09_lora_and_qlora.ipynb"


def lora_adapter():
    """Notebook 09: a LoRA layer, y = W x + (alpha / r) B A x, with W frozen and only A and B trained."""
    fig, ax = plt.subplots(figsize=(14.5, 4.4))
    matrix(ax, 0, 4, 8, 8, GREY, "W", "(out, in) = (128, 128)\nfrozen: 16,384")
    ax.text(4.6, 2.25, "+", fontsize=22, ha="center", va="center")
    ax.text(5.6, 2.25, "α/r ·", fontsize=14, ha="center", va="center")
    matrix(ax, 6.6, 4, 8, 2, BLUE, "B", "(out, r)\n(128, 8)\nstarts at 0")
    ax.text(7.9, 2.25, "·", fontsize=22, ha="center", va="center")
    matrix(ax, 8.4, 3.0, 2, 8, BLUE, "A", "(r, in) = (8, 128)\nrandom at start")
    ax.text(12.9, 2.25, "=", fontsize=22, ha="center", va="center")
    matrix(ax, 13.6, 4, 8, 8, LIGHT_BLUE, "W + ΔW", "the layer's weight\n(merge: fold ΔW into W)")
    ax.text(9.95, -1.3, "trained: r (in + out) = 2,048 numbers, 12.5% of W", ha="center", fontsize=10, color=BLUE)
    ax.text(0.1, 5.5, "y = W x + (α / r) · B (A x)     x: (batch, seq, in) → A x: (batch, seq, r) → "
            "B A x: (batch, seq, out)", fontsize=10.5, ha="left")
    ax.set_xlim(-0.6, 17.8), ax.set_ylim(-1.7, 6.0)
    return finish(fig, [ax])


def nf4_quantization():
    """Notebook 09: one block of weights through NF4: divide by the block's absmax, snap each value to the nearest
    of 16 levels, keep the level's index (4 bits), pack two indices per byte, the first in the high nibble."""
    sys.path.insert(0, str(NOTEBOOKS))
    from rawllm.quant import NF4, quantize_nf4
    import torch
    values = [0.021, -0.047, 0.003, 0.088, -0.012, 0.035, -0.090, 0.054]
    q = quantize_nf4(torch.tensor(values), blocksize=32, double_quant=False)
    absmax, codes = float(q.absmax[0]), [int(c) for b in q.packed.tolist() for c in (b >> 4, b & 15)]
    fig, ax = plt.subplots(figsize=(14.5, 5.6))
    ax.text(-0.7, 6.0, "a block of weights (64 in NF4; 8 shown)", fontsize=10, weight="bold", va="center", ha="left")
    for i, v in enumerate(values):
        box(ax, 1.6 * i - 0.7, 5.2, 1.5, LIGHT_BLUE, f"{v:+.3f}", INK, fontsize=9)
        box(ax, 1.6 * i - 0.7, 4.2, 1.5, "white", f"{v / absmax:+.2f}", INK, fontsize=9)
    ax.text(12.3, 5.2, f"absmax = {absmax:.3f}: one float per block", fontsize=9.5, va="center")
    ax.text(12.3, 4.2, "÷ absmax: every value in [-1, 1]", fontsize=9.5, va="center")
    left, width = -0.7, 12.6                                          # the number line from -1 to 1
    where = [left + (float(level) + 1) / 2 * width for level in NF4]
    ax.plot([left, left + width], [2.9, 2.9], color=INK, lw=1)
    for k, x in enumerate(where):
        ax.plot([x, x], [2.75, 3.05], color=ORANGE, lw=2)
        ax.text(x, 2.55, str(k), ha="center", va="top", fontsize=8, color=ORANGE)
    for i, v in enumerate(values):
        arrow(ax, 1.6 * i + 0.05, 3.75, where[codes[i]], 3.1, colour=BLUE)
    ax.text(12.3, 2.9, "16 levels: quantiles of N(0, 1),\ndense near 0 where most weights are", fontsize=9.5,
            va="center")
    for i, c in enumerate(codes):
        box(ax, 1.6 * i - 0.7, 1.4, 1.5, BLUE, f"{c} = {c:04b}", fontsize=9)
    for b, byte in enumerate(q.packed.tolist()):
        box(ax, 3.2 * b - 0.7, 0.3, 3.1, ORANGE, f"byte 0x{byte:02X}: {byte >> 4:04b} {byte & 15:04b}", fontsize=9)
    ax.text(12.3, 1.4, "the index of the nearest level:\n4 bits per weight", fontsize=9.5, va="center")
    ax.text(12.3, 0.3, "two per byte, the first in the high nibble\n(bitsandbytes' layout)", fontsize=9.5,
            va="center")
    ax.set_xlim(-0.9, 16.5), ax.set_ylim(-0.3, 6.4)
    return finish(fig, [ax])


def qlora_layer():
    """Notebook 09: what a QLoRA layer stores (4-bit codes, 8-bit block scales, float32 scales of the scales) and
    how its forward pass runs: dequantize into the compute dtype, matmul, add the float32 adapter."""
    fig, ax = plt.subplots(figsize=(14.5, 4.6))
    stored = [("packed codes: uint8 (out · in / 2)", "4 bits per weight", 4.2),
              ("absmax codes: uint8, one per block of 64", "8 / 64 = 0.125 bits", 3.1),
              ("absmax2: float32, one per 256 blocks; offset", "32 / 16384 ≈ 0.002 bits", 2.0)]
    ax.text(0, 5.2, "stored (frozen): NF4 with double quantization", fontsize=10, weight="bold")
    for text, bits, y in stored:
        box(ax, 0, y, 5.2, GREY, text, INK, fontsize=8.5)
        ax.text(5.35, y, bits, fontsize=8.5, va="center")
    ax.text(0, 1.0, "4.127 bits per weight instead of 16 (bf16) or 32", fontsize=9.5, color=INK)
    box(ax, 8.2, 3.1, 2.6, LIGHT_BLUE, "dequantize", INK, fontsize=9)
    arrow(ax, 7.6, 3.1, 8.2, 3.1)
    box(ax, 11.4, 3.1, 2.4, LIGHT_BLUE, "W: bf16 (out, in)", INK, fontsize=8.5)
    arrow(ax, 10.8, 3.1, 11.4, 3.1)
    ax.text(12.6, 2.35, "lives for one matmul", ha="center", fontsize=8, color=INK)
    box(ax, 11.4, 4.6, 2.4, BLUE, "x: (batch, seq, in)", fontsize=8.5)
    box(ax, 14.6, 3.8, 1.4, ORANGE, "W x", fontsize=9)
    arrow(ax, 13.8, 3.1, 14.6, 3.6)
    arrow(ax, 13.8, 4.6, 14.6, 4.0)
    box(ax, 14.6, 1.5, 2.8, BLUE, "s · B (A x): float32", fontsize=8.5)
    ax.text(16.0, 0.85, "trained: A (r, in), B (out, r)", ha="center", fontsize=8.5, color=BLUE)
    arrow(ax, 12.6, 4.15, 14.9, 1.95)
    box(ax, 17.0, 3.8, 0.8, ORANGE, "+", fontsize=12)
    arrow(ax, 16.0, 3.8, 17.0, 3.8)
    arrow(ax, 16.6, 1.95, 17.3, 3.35)
    box(ax, 18.3, 3.8, 1.1, BLUE, "y", fontsize=10)
    arrow(ax, 17.8, 3.8, 18.3, 3.8)
    ax.text(11.4, 5.4, "forward: gradients flow through W x to x, never into the codes", fontsize=9.5)
    ax.set_xlim(-0.2, 19.6), ax.set_ylim(0.5, 5.8)
    ax.axis("off")
    fig.tight_layout()
    return fig


DRAWINGS = [lora_adapter, nf4_quantization, qlora_layer]
