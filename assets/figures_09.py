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


def dora_magnitude_direction():
    """Notebook 09: DoRA writes the adapted weight W' = W + s B A as a trained length per output row times a
    direction of unit norm: W' = m * (W + s B A) / |W + s B A|_row, m (out,) starting at |W|_row."""
    fig, ax = plt.subplots(figsize=(14.5, 4.6))
    matrix(ax, 0, 4, 6, 6, GREY, "W", "(out, in)\nfrozen")
    ax.text(3.2, 2.75, "+", fontsize=20, ha="center", va="center")
    matrix(ax, 3.8, 4, 6, 6, BLUE, "s B A", "(out, in)\nLoRA's change")
    ax.text(7.0, 2.75, "=", fontsize=20, ha="center", va="center")
    matrix(ax, 7.6, 4, 6, 6, LIGHT_BLUE, "V = W + s B A", "(out, in)")
    arrow(ax, 10.6, 2.75, 12.4, 2.75, "÷ its row norms")
    matrix(ax, 12.9, 4, 6, 6, LIGHT_BLUE, "V / |V|_row", "(out, in): every row\nof length 1 (direction)")
    ax.text(16.1, 2.75, "⊙", fontsize=20, ha="center", va="center")
    matrix(ax, 16.7, 4, 6, 1, ORANGE, "m", "(out,)\ntrained,\nstarts at |W|_row")
    ax.text(17.9, 2.75, "=", fontsize=20, ha="center", va="center")
    matrix(ax, 18.5, 4, 6, 6, BLUE, "W'", "(out, in)\nthe layer's weight")
    ax.text(-0.2, 5.4, "DoRA: the length of each output row (m) and its direction (LoRA's B A) train apart",
            fontsize=11, weight="bold")
    ax.text(-0.2, -0.6, "trained: A (r, in), B (out, r) and m (out); |V|_row is treated as a constant in the "
            "backward pass (PEFT does the same), so y = (m / |V|_row) ⊙ (W x + s B A x)", fontsize=9.5)
    ax.set_xlim(-0.5, 21.6), ax.set_ylim(-1.0, 5.9)
    return finish(fig, [ax])


def lora_merge_unmerge():
    """Notebook 09: a LoRA layer during training runs two paths (W x and s B (A x)); merged, s B A is added into W
    once and the layer is one matmul again; unmerge subtracts it (DoRA keeps its row factors to undo them)."""
    fig, axes = plt.subplots(1, 2, figsize=(14.5, 4.4), gridspec_kw={"width_ratios": [1.15, 1]})
    ax = axes[0]
    box(ax, 0, 2.5, 2.2, BLUE, "x (tokens, in)", fontsize=9)
    box(ax, 3.2, 3.8, 2.6, GREY, "W x  (tokens, out)", INK, fontsize=9)
    box(ax, 3.2, 1.2, 1.9, LIGHT_BLUE, "A x  (tokens, r)", INK, fontsize=8.5)
    box(ax, 5.6, 1.2, 2.3, LIGHT_BLUE, "s · B (A x)  (tokens, out)", INK, fontsize=8)
    box(ax, 8.6, 2.5, 0.9, ORANGE, "+", fontsize=12)
    box(ax, 10.1, 2.5, 1.6, BLUE, "y (tokens, out)", fontsize=8)
    arrow(ax, 2.2, 2.7, 3.2, 3.6), arrow(ax, 2.2, 2.3, 3.2, 1.4)
    arrow(ax, 5.1, 1.2, 5.6, 1.2), arrow(ax, 5.8, 3.8, 8.7, 2.8), arrow(ax, 7.9, 1.2, 8.7, 2.2)
    arrow(ax, 9.5, 2.5, 10.1, 2.5)
    ax.text(5.6, -0.1, "three matmuls per layer: W x, A x, B (A x)\nthe (out, in) product B A is never formed",
            ha="center", va="top", fontsize=9)
    ax.set_title("adapter on (training)", fontsize=11, weight="bold", loc="left")
    ax.set_xlim(-0.2, 11.9), ax.set_ylim(-1.3, 4.6)
    ax = axes[1]
    matrix(ax, 0, 3.6, 5, 5, GREY, "W", "(out, in)")
    ax.text(2.8, 2.6, "+", fontsize=20, ha="center", va="center")
    matrix(ax, 3.4, 3.6, 5, 5, LIGHT_BLUE, "s B A", "(out, in), formed once")
    arrow(ax, 6.0, 2.6, 7.0, 2.6, "merge")
    matrix(ax, 7.4, 3.6, 5, 5, BLUE, "W + s B A", "a plain nn.Linear:\none matmul, no adapter")
    ax.text(0.0, -0.6, "unmerge: W ← W − s B A (DoRA divides out m / |V|_row first), so one base can carry\n"
            "several adapters in turn; merge_lora instead returns plain nn.Linear layers", fontsize=9, va="top")
    ax.set_title("merged (inference)", fontsize=11, weight="bold", loc="left")
    ax.set_xlim(-0.4, 10.4), ax.set_ylim(-1.6, 4.6)
    return finish(fig, axes)


def lora_block_targets():
    """Notebook 09: which modules of a decoder block add_lora adapts: the seven linear layers (attention's q, k, v,
    o; the MLP's gate, up, down), with their shapes in our model and each one's adapter size at r = 4; norms,
    embedding and the tied head stay frozen."""
    fig, ax = plt.subplots(figsize=(14.5, 5.0))
    d, f, r = 128, 384, 4
    ax.text(-0.1, 5.75, "a decoder block of our model: the seven linear layers add_lora can wrap, and each one's "
            f"adapter at r = {r}: r (in + out) numbers", fontsize=11, weight="bold")
    box(ax, 0, 4.4, 2.6, GREY, "embed_tokens (4096, 128)", INK, fontsize=8)
    box(ax, 0, 0.6, 2.6, GREY, "lm_head: tied to embed", INK, fontsize=8)
    arrow(ax, 1.3, 3.9, 1.3, 1.1, "× 4 blocks")
    box(ax, 3.3, 2.5, 1.6, GREY, "RMSNorm", INK, fontsize=8.5)
    attention = [("q_proj", d, d), ("k_proj", d, d), ("v_proj", d, d), ("o_proj", d, d)]
    mlp = [("gate_proj", f, d), ("up_proj", f, d), ("down_proj", d, f)]
    ax.text(5.4, 5.05, "self_attn", fontsize=10, weight="bold")
    ax.text(12.6, 5.05, "mlp", fontsize=10, weight="bold")
    box(ax, 10.5, 2.5, 1.6, GREY, "RMSNorm", INK, fontsize=8.5)
    for k, (name, out, inp) in enumerate(attention):
        y = 4.4 - k * 1.25
        default = name in ("q_proj", "v_proj")
        box(ax, 5.4, y, 2.5, BLUE, f"{name} ({out}, {inp})", fontsize=8.5)
        box(ax, 8.0, y, 1.9, ORANGE if default else LIGHT_BLUE, f"+ B A: {r * (inp + out):,}",
            "white" if default else INK, fontsize=8.5)
    for k, (name, out, inp) in enumerate(mlp):
        y = 4.4 - k * 1.25
        box(ax, 12.6, y, 2.7, BLUE, f"{name} ({out}, {inp})", fontsize=8.5)
        box(ax, 15.4, y, 1.9, LIGHT_BLUE, f"+ B A: {r * (inp + out):,}", INK, fontsize=8.5)
    arrow(ax, 4.9, 2.5, 5.4, 2.5), arrow(ax, 9.9, 2.5, 10.5, 2.5), arrow(ax, 12.1, 2.5, 12.6, 2.5)
    ax.text(3.3, -0.35, "grey: frozen and not adapted (norms, embedding, head)     blue: linear layers add_lora can "
            "wrap     orange: add_lora's default targets (q_proj, v_proj)", fontsize=9, va="center")
    ax.text(12.6, 0.45, f"r = {r} on all seven: {4 * r * (d + d) + 2 * r * (d + f) + r * (f + d):,} per block,\n"
            f"{4 * (4 * r * (d + d) + 3 * r * (d + f)):,} in 4 blocks, of 1.4M", fontsize=9, va="center")
    ax.set_xlim(-0.2, 17.5), ax.set_ylim(-0.8, 6.1)
    return finish(fig, [ax])


def trainable_token_rows():
    """Notebook 09: train_token_rows lets two rows of the (vocab, d_model) embedding train (the chat markers the
    base model never saw); a gradient hook multiplies the full gradient by a (vocab, 1) mask, so every other row
    stays frozen; the tied head shares the same rows."""
    fig, ax = plt.subplots(figsize=(14.5, 4.6))
    names = ["0", "1", "2", "…", "<|im_start|>", "<|im_end|>", "…", "4095"]
    trained = {4, 5}
    for i, name in enumerate(names):
        y = 4.0 - i * 0.55
        ax.text(-0.3, y, name, ha="right", va="center", fontsize=8.5, color=INK)
        for j in range(8):
            cell(ax, j * 0.55, y, ORANGE if i in trained else GREY, size=0.5)
            cell(ax, 6.0 + j * 0.55, y, BLUE, size=0.5)
            cell(ax, 13.2 + j * 0.55, y, BLUE if i in trained else GREY, size=0.5)
        cell(ax, 11.0, y, ORANGE if i in trained else GREY, "1" if i in trained else "0",
             "white" if i in trained else INK, size=0.5, fontsize=8)
    ax.text(1.9, 4.55, "embed_tokens.weight (4096, 128)", ha="center", fontsize=10, weight="bold")
    ax.text(7.9, 4.55, "its gradient (4096, 128)", ha="center", fontsize=10, weight="bold")
    ax.text(11.0, 4.55, "keep (4096, 1)", ha="center", fontsize=10, weight="bold")
    ax.text(15.1, 4.55, "gradient AdamW sees", ha="center", fontsize=10, weight="bold")
    ax.text(10.3, 2.1, "×", fontsize=18, ha="center", va="center")
    ax.text(12.3, 2.1, "=", fontsize=18, ha="center", va="center")
    ax.text(1.9, -0.75, "orange rows train; the rest stay frozen\n(the tied lm_head reads the same rows)",
            ha="center", va="center", fontsize=9)
    ax.text(7.9, -0.75, "autograd computes every row: the tied head's\nsoftmax reaches all 4096 tokens",
            ha="center", va="center", fontsize=9)
    ax.text(14.2, -0.75, "a gradient hook multiplies by keep: the other rows\nget zero (and no weight decay), so they never move",
            ha="center", va="center", fontsize=9)
    ax.text(-2.2, 5.3, "train_token_rows: two rows of the embedding train, every other row stays frozen", fontsize=11,
            weight="bold")
    ax.set_xlim(-2.3, 17.6), ax.set_ylim(-1.4, 5.6)
    return finish(fig, [ax])


DRAWINGS = [lora_adapter, dora_magnitude_direction, lora_merge_unmerge, lora_block_targets, trainable_token_rows,
            nf4_quantization, qlora_layer]
