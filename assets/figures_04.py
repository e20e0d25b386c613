"""Drawn figures of notebook 04; `python assets/figures.py --notebook 04` redraws and embeds them.

The shapes are those of the notebook's CPU demo model: d = 256, d_ff = 704, 8 query heads and 2 key/value heads
of width 32, V = 4096 tokens.
"""
from __future__ import annotations

from drawing import BLUE, DOC2, GREY, INK, LIGHT_BLUE, ORANGE, arrow, box, cell, finish, mask_grid, matrix, plt  # noqa: F401


def op(ax, x, y, width, text, colour=LIGHT_BLUE, text_colour=INK, height=0.9, fontsize=9.5):
    """An operation as a rounded box of `width` centred at (x, y)."""
    box(ax, x - width / 2, y, width, colour, text, text_colour, height=height, fontsize=fontsize)


def plus(ax, x, y, radius=0.28):
    """The residual addition: a circled +."""
    ax.add_patch(plt.Circle((x, y), radius, facecolor="white", edgecolor=INK, lw=1.3, zorder=3))
    ax.text(x, y, "+", ha="center", va="center", fontsize=12, zorder=4)


def stream(ax, x0, y0, x1, y1, lw=3.0):
    """The residual stream: a thick blue arrow."""
    ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops=dict(arrowstyle="-|>", color=BLUE, lw=lw,
                                                                  mutation_scale=18))


def swiglu_shapes():
    """Notebook 04: SwiGLU on a (B, T, d) input: gate and up projections to d_ff, SiLU on the gate, the elementwise
    product, the down projection back to d."""
    fig, ax = plt.subplots(figsize=(14.5, 5.2))
    box(ax, 0, 2.5, 2.2, BLUE, "x", fontsize=13)
    ax.text(1.1, 1.75, "(B, T, d)\nd = 256", ha="center", va="top", fontsize=9)
    for y, name, label in ((4.6, "gate_proj", "W_gate"), (0.4, "up_proj", "W_up")):
        arrow(ax, 2.3, 2.5, 3.4, y)
        matrix(ax, 3.7, y + 0.75, 3, 5, GREY, label, "")
        ax.text(4.7, y - 0.95, f"{name}: (d_ff, d)", ha="center", va="top", fontsize=9)
        arrow(ax, 6.2, y, 7.6, y, "x Wᵀ")
        box(ax, 7.7, y, 2.6, LIGHT_BLUE, "(B, T, d_ff)", INK, fontsize=9.5)
    ax.text(9.0, 5.35, "the gate", ha="center", va="bottom", fontsize=9, weight="bold")
    ax.text(9.0, -0.35, "the value", ha="center", va="top", fontsize=9, weight="bold")
    arrow(ax, 10.4, 4.6, 11.6, 4.6, "SiLU")
    op(ax, 12.9, 4.6, 2.6, "SiLU(z) = z·σ(z)", ORANGE, "white", fontsize=9)
    ax.text(12.9, 5.35, "(B, T, d_ff), smooth, ≈ 0 for z < -4", ha="center", va="bottom", fontsize=8.5)
    arrow(ax, 12.9, 4.1, 12.9, 3.0)
    arrow(ax, 10.4, 0.4, 12.6, 2.2)
    cell(ax, 12.9, 2.5, "white", "⊙", INK, size=0.7, fontsize=15)
    ax.add_patch(plt.Circle((12.9, 2.5), 0.36, facecolor="none", edgecolor=INK, lw=1.3))
    ax.text(13.4, 1.75, "elementwise product\n(B, T, d_ff): each hidden unit\n= gate · value (bilinear in x)",
            ha="left", va="top", fontsize=8.5)
    arrow(ax, 13.35, 2.5, 15.3, 2.5, "down_proj")
    matrix(ax, 15.6, 3.4, 3, 5, GREY, "W_down", "(d, d_ff)")
    arrow(ax, 18.1, 2.5, 19.3, 2.5)
    box(ax, 19.4, 2.5, 2.2, BLUE, "FFN(x)", fontsize=11)
    ax.text(20.5, 1.75, "(B, T, d)\nadded to the stream", ha="center", va="top", fontsize=9)
    ax.text(10.8, 6.35, "SwiGLU: down_proj( SiLU(gate_proj(x)) ⊙ up_proj(x) ),   d_ff = 704 ≈ 8/3 · d: three "
            "(d, d_ff) matrices = 8 d² weights", ha="center", fontsize=10.5, weight="bold")
    ax.text(10.8, -1.25, "every token on its own: T and B never mix here (attention did that)", ha="center",
            fontsize=9, color=INK)
    ax.set_xlim(-0.3, 21.9), ax.set_ylim(-1.6, 6.8)
    return finish(fig, [ax])


def prenorm_block_shapes():
    """Notebook 04: one pre-norm decoder block, with the tensor shape on every arrow: the stream x passes
    through two additions; each branch reads a normed copy."""
    fig, ax = plt.subplots(figsize=(15, 4.4))
    y0 = 0.0
    stream(ax, -0.2, y0, 20.4, y0)
    ax.text(-0.2, y0 - 0.45, "x", ha="left", va="top", fontsize=13, weight="bold", color=BLUE)
    ax.text(0.6, y0 - 0.5, "(B, T, d)", ha="left", va="top", fontsize=9)
    ax.text(20.6, y0, "y  (B, T, d)", ha="left", va="center", fontsize=13, weight="bold", color=BLUE)
    for x, norm_name, name, detail, plus_x, out in (
            (1.4, "input_layernorm", "self_attn", "q (B, 8, T, 32)\nk, v (B, 2, T, 32)\nRoPE (cos, sin) (T, 32)\n"
             "causal softmax(qkᵀ/√32) v", 9.2, "h"),
            (11.0, "post_attention_layernorm", "mlp", "SwiGLU\n(B, T, d) → (B, T, d_ff = 704)\n→ (B, T, d)", 18.8,
             "y")):
        arrow(ax, x, y0 + 0.15, x, 1.3, "")
        ax.text(x + 0.15, 0.7, "(B, T, d)", ha="left", va="center", fontsize=8.5)
        op(ax, x + 1.2, 1.85, 2.6, "RMSNorm", GREY)
        ax.text(x + 1.2, 2.45, norm_name, ha="center", va="bottom", fontsize=8.5)
        arrow(ax, x + 2.55, 1.85, x + 4.0, 1.85, "(B, T, d)")
        op(ax, x + 5.0, 1.85, 2.0, name, BLUE, "white", fontsize=10)
        ax.text(x + 5.0, 2.45, detail, ha="center", va="bottom", fontsize=8.5)
        arrow(ax, x + 6.05, 1.85, plus_x - 0.05, 0.35)
        ax.text(x + 7.2, 1.25, "(B, T, d)", ha="left", va="center", fontsize=8.5)
        plus(ax, plus_x, y0)
        ax.text(plus_x, y0 - 0.45, f"{out} = {'x' if out == 'h' else 'h'} + …", ha="center", va="top", fontsize=9)
    ax.text(10.1, 4.25, "a pre-norm block: h = x + Attention(RMSNorm(x)),  y = h + SwiGLU(RMSNorm(h))", ha="center",
            fontsize=11, weight="bold")
    ax.text(10.1, -1.25, "the stream (blue) is never normed inside a block: it only receives two additions, "
            "so every block keeps the shape (B, T, d)", ha="center", fontsize=9)
    ax.set_xlim(-0.6, 23.2), ax.set_ylim(-1.6, 4.6)
    return finish(fig, [ax])


def decoder_model_flow():
    """Notebook 04: the whole model, token ids (B, T) to logits (B, T, V): embedding, N blocks sharing one pair of
    rotary tables, the final norm, the head, and weight tying."""
    fig, ax = plt.subplots(figsize=(15, 5.6))
    for t, token in enumerate((412, 9, 87, 1503)):
        cell(ax, 0.2 + t * 0.95, 2.5, BLUE, str(token), fontsize=8.5)
    ax.text(1.6, 3.35, "input_ids", ha="center", va="bottom", fontsize=11, weight="bold")
    ax.text(1.6, 1.7, "(B, T) integers\nin 0 .. V - 1", ha="center", va="top", fontsize=9)
    arrow(ax, 3.25, 2.5, 4.6, 2.5, "lookup")
    matrix(ax, 4.9, 3.75, 6, 3, ORANGE, "E", "(V, d)\nembed_tokens")
    arrow(ax, 6.3, 2.5, 7.6, 2.5, "(B, T, d)")
    for i, label in enumerate(("block 0", "block 1", "…", "block N-1")):
        x = 7.7 + i * 1.7
        box(ax, x, 2.5, 1.5, BLUE if label != "…" else "white", label, "white" if label != "…" else INK,
            height=1.6, fontsize=9)
        if i < 3:
            arrow(ax, x + 1.45, 2.5, x + 1.75, 2.5)
        arrow(ax, x + 0.75, 4.45, x + 0.75, 3.35)
    box(ax, 7.4, 4.8, 7.2, LIGHT_BLUE, "rotary tables (cos, sin), each (T, head_dim): made once, read by all",
        INK, height=0.6, fontsize=8.5)
    ax.text(11.0, 0.95, "model.layers: N pre-norm blocks, (B, T, d) → (B, T, d)", ha="center", va="top",
            fontsize=9)
    arrow(ax, 14.4, 2.5, 15.2, 2.5)
    op(ax, 16.0, 2.5, 1.5, "norm", GREY, height=1.6)
    ax.text(16.0, 3.45, "RMSNorm", ha="center", va="bottom", fontsize=8.5)
    arrow(ax, 16.8, 2.5, 18.0, 2.5, "(B, T, d)")
    matrix(ax, 18.2, 3.75, 3, 6, ORANGE, "lm_head", "weight (V, d), used as\nits transpose: h Wᵀ")
    arrow(ax, 21.2, 2.5, 22.3, 2.5, "(B, T, V)")
    for v in range(5):
        cell(ax, 22.9, 3.9 - v * 0.7, LIGHT_BLUE if v != 2 else BLUE, "", size=0.6)
    ax.text(22.9, 4.5, "logits", ha="center", va="bottom", fontsize=11, weight="bold")
    ax.text(22.9, 0.45, "(B, T, V)\nscores of the\nnext token", ha="center", va="top", fontsize=9)
    ax.annotate("", xy=(19.45, 4.75), xytext=(5.4, 4.75),
                arrowprops=dict(arrowstyle="<->", color=ORANGE, lw=1.6, linestyle="--",
                                connectionstyle="arc3,rad=-0.12"))
    ax.text(12.4, 5.85, "tie_embeddings=True: lm_head.weight IS E (one tensor; V·d weights saved)", ha="center",
            va="center", fontsize=9.5, color=ORANGE, weight="bold")
    ax.text(12.0, 6.8, "the decoder: token ids (B, T) → embedding → N blocks → final norm → head → logits (B, T, V)",
            ha="center", va="center", fontsize=11, weight="bold")
    ax.text(12.0, -1.0, "Transformer = model (embed_tokens, layers, norm) + lm_head: the module tree and the "
            "state_dict names of LlamaForCausalLM", ha="center", fontsize=9.5)
    ax.set_xlim(-0.5, 24.2), ax.set_ylim(-1.4, 7.2)
    return finish(fig, [ax])


def residual_stream():
    """Notebook 04: the residual stream seen as one vector per token that every block reads (through a norm) and
    writes (by an addition); o_proj and down_proj are the writers, hence their smaller init."""
    fig, ax = plt.subplots(figsize=(12, 6.4))
    stream(ax, 0, -0.2, 0, 9.3, lw=4)
    box(ax, -1.6, -0.7, 3.2, ORANGE, "x₀ = embed_tokens(ids)", "white", height=0.7, fontsize=9)
    writes = [(1.2, "block 1 · attention", "o_proj"), (2.7, "block 1 · SwiGLU", "down_proj"),
              (4.5, "block 2 · attention", "o_proj"), (6.0, "block 2 · SwiGLU", "down_proj")]
    for k, (y, name, writer) in enumerate(writes):
        arrow(ax, 0.1, y - 0.35, 1.3, y, "")
        op(ax, 2.1, y, 1.4, "RMSNorm", GREY, height=0.6, fontsize=8.5)
        arrow(ax, 2.85, y, 3.5, y)
        op(ax, 4.9, y, 2.7, name, BLUE, "white", height=0.6, fontsize=8.5)
        ax.text(6.35, y, f"→ {writer}", ha="left", va="center", fontsize=8.5, color=ORANGE, weight="bold")
        arrow(ax, 6.3, y + 0.35, 0.3, y + 0.75)
        plus(ax, 0, y + 0.78, radius=0.22)
        ax.text(-0.4, y + 0.78, f"x{k + 1} = x{k} + u{k + 1}", ha="right", va="center", fontsize=9)
    ax.text(3.5, 7.35, "⋮  blocks 3 … L: the same two reads and two writes", ha="left", va="center", fontsize=9)
    op(ax, 0, 8.4, 2.2, "final RMSNorm", GREY, height=0.6, fontsize=8.5)
    ax.text(0, 9.55, "→ lm_head → logits", ha="center", va="bottom", fontsize=9)
    ax.text(-0.4, 7.3, "x(2L) = x₀ + u₁ + u₂ + … + u(2L)", ha="right", va="center", fontsize=9.5, color=BLUE,
            weight="bold")
    ax.text(-2.2, 4.2, "the stream:\n(B, T, d) all the way,\nnever normed itself", ha="right", va="center",
            fontsize=9, color=BLUE)
    ax.text(8.6, 5.3, "reads: every branch sees RMSNorm(x),\nrms 1, whatever the stream's size", ha="left",
            va="center", fontsize=9)
    ax.text(8.6, 3.6, "writes: 2L updates u, each (B, T, d),\nadded by o_proj and down_proj", ha="left",
            va="center", fontsize=9)
    ax.text(8.6, 1.9, "init: those two get std 0.02 / √(2L),\nso the sum of 2L updates has the\nvariance of one unscaled update",
            ha="left", va="center", fontsize=9, color=ORANGE)
    ax.text(3.6, 10.3, "the residual stream: each block reads a normed copy and adds its output",
            ha="center", fontsize=11, weight="bold")
    ax.set_xlim(-5.0, 13.0), ax.set_ylim(-1.3, 10.7)
    return finish(fig, [ax])


NOTEBOOK = "04_transformer.ipynb"
DRAWINGS = (   # each shown by one markdown cell of NOTEBOOK, as attachment:<function name>.png
    swiglu_shapes,
    prenorm_block_shapes,
    decoder_model_flow,
    residual_stream,
)
