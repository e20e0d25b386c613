"""Drawn figures of notebook 02; `python assets/figures.py --notebook 02` redraws and embeds them."""
from __future__ import annotations

import math

from drawing import BLUE, DOC2, GREY, INK, LIGHT_BLUE, ORANGE, arrow, box, cell, finish, mask_grid, matrix, plt  # noqa: F401

HEAD_COLOURS = (BLUE, ORANGE, DOC2, LIGHT_BLUE)

# A fixed (5, 5) table of scores q_i . k_j / sqrt(d), so that the figure never changes between draws.
SCORES = [[1.2, 0.4, -0.3, 0.9, -1.1],
          [0.6, 1.5, -0.2, 0.3, 0.8],
          [-0.4, 0.7, 0.9, -0.6, 0.2],
          [0.1, -0.8, 1.1, 0.5, -0.3],
          [0.9, 0.2, -0.5, 1.3, 0.4]]


def _grid(ax, x0, y0, rows, cols, colour, label, shape, texts=None, text_colour="white", size=0.9, fontsize=7.5):
    """A tensor as rows x cols cells (top-left cell centred at x0, y0), bold name above, shape below."""
    for i in range(rows):
        for j in range(cols):
            text = texts[i][j] if texts else ""
            colour_ij = colour(i, j) if callable(colour) else colour
            ink = text_colour(i, j) if callable(text_colour) else text_colour
            cell(ax, x0 + j, y0 - i, colour_ij, text, ink, size=size, fontsize=fontsize)
    ax.text(x0 + (cols - 1) / 2, y0 + 0.75, label, ha="center", va="bottom", fontsize=10.5, weight="bold", color=INK)
    ax.text(x0 + (cols - 1) / 2, y0 - rows + 0.35, shape, ha="center", va="top", fontsize=9, color=INK)


def attention_score_grid():
    """Notebook 02: Q K^T / sqrt(d) as a (T, T) grid of scores, the causal mask sets j > i to -inf, the softmax
    turns each row into weights that sum to 1, and the weights times V give one output row per query."""
    T, d = 5, 3
    weights = []
    for i, row in enumerate(SCORES):
        e = [math.exp(s) if j <= i else 0.0 for j, s in enumerate(row)]
        weights.append([w / sum(e) for w in e])
    fig, axes = plt.subplots(2, 1, figsize=(14.5, 8.4))
    ax = axes[0]
    _grid(ax, 0, 0, T, d, LIGHT_BLUE, "Q", "(T, d) = (5, 3)")
    ax.text(3.0, -2, "·", ha="center", va="center", fontsize=24)
    _grid(ax, 4, -1, d, T, LIGHT_BLUE, "Kᵀ", "(d, T) = (3, 5)")
    ax.text(9.6, -2, "/ √d  =", ha="center", va="center", fontsize=14)
    scores = [[f"{s:+.1f}" for s in row] for row in SCORES]
    _grid(ax, 11, 0, T, T, BLUE, "scores S", "(T, T): row i = query i, column j = key j", scores)
    arrow(ax, 15.8, -2, 18.6, -2, "causal mask: + M")
    ax.text(17.2, -2.55, "M[i, j] = −∞ where j > i", ha="center", va="top", fontsize=8.5, color=INK)
    masked = [[scores[i][j] if j <= i else "−∞" for j in range(T)] for i in range(T)]
    _grid(ax, 19.5, 0, T, T, lambda i, j: BLUE if j <= i else "white", "S + M", "query i sees keys 0 … i",
          masked, lambda i, j: "white" if j <= i else INK)
    for i in range(T):
        for j in range(T):
            if j > i:
                ax.add_patch(plt.Rectangle((19.5 + j - 0.45, -i - 0.45), 0.9, 0.9, fill=False, edgecolor=GREY))
    ax.set_title("1. every score at once: one (T, d) × (d, T) product, then the mask", fontsize=11, weight="bold",
                 loc="left")
    ax.set_xlim(-0.8, 24.8), ax.set_ylim(-5.6, 2.2)

    ax = axes[1]
    texts = [[f"{w:.2f}" if j <= i else "0" for j, w in enumerate(row)] for i, row in enumerate(weights)]
    _grid(ax, 0, 0, T, T, lambda i, j: (BLUE if weights[i][j] >= 0.3 else LIGHT_BLUE) if j <= i else "white",
          "weights A = softmax(S + M)", "(T, T), softmax over each row", texts,
          lambda i, j: "white" if j <= i and weights[i][j] >= 0.3 else INK)
    for i in range(T):
        ax.text(4.75, -i, "Σ = 1", ha="left", va="center", fontsize=8.5, color=INK)
    ax.text(7.2, -2, "·", ha="center", va="center", fontsize=24)
    _grid(ax, 8.2, 0, T, d, DOC2, "V", "(T, d) = (5, 3)")
    ax.text(11.9, -2, "=", ha="center", va="center", fontsize=20)
    _grid(ax, 13.2, 0, T, d, BLUE, "out = A V", "(T, d): row i = Σ_j A[i, j] v_j")
    ax.text(17.2, -0.5, "exp(−∞) = 0: a masked key gets weight exactly 0,\nso query i averages the values of tokens 0 … i "
            "only.", ha="left", va="center", fontsize=9.5, color=INK)
    ax.text(17.2, -2.4, "dark cells: weight ≥ 0.3.  Row 0 can only see itself:\nits weight is 1.00 and its output "
            "is v_0.", ha="left", va="center", fontsize=9.5, color=INK)
    ax.set_title("2. the softmax, row by row, then one (T, T) × (T, d) product", fontsize=11, weight="bold", loc="left")
    ax.set_xlim(-0.8, 24.8), ax.set_ylim(-5.6, 2.2)
    return finish(fig, axes)


def multi_head_split():
    """Notebook 02: the q, k, v projections of width H * d are viewed as H heads of d columns; each head computes
    its own (T, T) weights and output; the outputs are concatenated back to H * d and mixed by o_proj."""
    T, H, d = 4, 4, 2
    fig, ax = plt.subplots(figsize=(14.5, 6.6))
    s, small = 0.5, 0.42                                  # spacing of the cells of a full tensor, of a head's
    mid = -0.75                                           # the height of the row x, Q, concat, out

    def block(x0, y0, rows, cols, colour, step=s):
        for i in range(rows):
            for j in range(cols):
                cell(ax, x0 + j * step, y0 - i * step, colour(j) if callable(colour) else colour, size=step * 0.92)

    block(0, 0, T, 8, GREY)
    ax.text(1.75, 0.45, "x", ha="center", va="bottom", fontsize=11, weight="bold")
    ax.text(1.75, -2.0, "(T, d_model)", ha="center", va="top", fontsize=9)
    arrow(ax, 4.0, mid, 6.0, mid, "q_proj")
    ax.text(5.0, -1.45, "(k_proj and v_proj\nthe same way)", ha="center", va="top", fontsize=8)
    block(6.5, 0, T, H * d, lambda j: HEAD_COLOURS[j // d])
    for h in range(H):
        ax.text(6.5 + (h * d + 0.5) * s, 0.35, f"h{h}", ha="center", va="bottom", fontsize=8.5)
    ax.text(8.25, 0.85, "Q", ha="center", va="bottom", fontsize=11, weight="bold")
    ax.text(8.25, -2.0, "(T, H·d): H = 4 slices of d", ha="center", va="top", fontsize=9)
    ax.text(8.25, -2.45, ".view(B, T, H, d)\n.transpose(1, 2)", ha="center", va="top", fontsize=8.5, color=BLUE)
    patterns = ["the previous token", "the first token", "all tokens evenly", "itself"]
    strong = [lambda i, j: j == max(i - 1, 0), lambda i, j: j == 0, lambda i, j: True, lambda i, j: i == j]
    for h in range(H):                                    # one row per head: q_h, its (T, T) weights, out_h
        y = 2.9 - h * 2.3
        arrow(ax, 10.8, mid, 12.6, y - 0.6)
        block(13.0, y, T, d, HEAD_COLOURS[h], small)
        for i in range(T):
            for j in range(T):
                colour = "white" if j > i else (HEAD_COLOURS[h] if strong[h](i, j) else GREY)
                cell(ax, 15.0 + j * small, y - i * small, colour, size=small * 0.92)
        ax.text(15.0 + 1.5 * small, y - 4 * small + 0.05, f"head {h} looks at {patterns[h]}", ha="center", va="top",
                fontsize=8, color=INK)
        arrow(ax, 17.0, y - 0.6, 18.6, y - 0.6, "· v_h")
        block(19.0, y, T, d, HEAD_COLOURS[h], small)
        arrow(ax, 20.1, y - 0.6, 21.6, mid)
    ax.text(13.2, 3.6, "q_h\n(T, d)", ha="center", fontsize=9, weight="bold")
    ax.text(15.6, 3.6, "weights\n(T, T)", ha="center", fontsize=9, weight="bold")
    ax.text(19.2, 3.6, "out_h\n(T, d)", ha="center", fontsize=9, weight="bold")
    block(22.0, 0, T, H * d, lambda j: HEAD_COLOURS[j // d])
    ax.text(23.75, 0.45, "concat", ha="center", va="bottom", fontsize=11, weight="bold")
    ax.text(23.75, -2.0, "(T, H·d)\n.transpose(1, 2)\n.reshape(B, T, H·d)", ha="center", va="top", fontsize=8.5)
    arrow(ax, 25.8, mid, 27.3, mid, "o_proj")
    block(27.7, 0, T, 8, BLUE)
    ax.text(29.45, 0.45, "out", ha="center", va="bottom", fontsize=11, weight="bold")
    ax.text(29.45, -2.0, "(T, d_model)\nW_O mixes the heads", ha="center", va="top", fontsize=8.5)
    ax.text(15.5, -7.2, "one matmul computes every head's q (and k, v); a head is just d of the columns. "
            "Each head's weights are softmax(q_h k_hᵀ / √d + M); grey: a small weight.", ha="center", va="center",
            fontsize=9.5, color=INK)
    ax.text(15.5, 4.55, "multi-head attention: H = 4 heads of width d on one layer, one set of (T, T) weights each",
            ha="center", va="bottom", fontsize=11, weight="bold")
    ax.set_xlim(-0.6, 31.8), ax.set_ylim(-7.5, 5.2)
    return finish(fig, [ax])


def gqa_kv_sharing():
    """Notebook 02: 8 query heads against 8, 2 and 1 key/value heads (MHA, GQA, MQA); kv head j serves query heads
    j*g ... (j+1)*g - 1, and the cache holds only the kv heads."""
    H, head_dim = 8, 128
    fig, axes = plt.subplots(1, 3, figsize=(14.5, 3.9))
    for ax, (name, n_kv) in zip(axes, (("MHA", 8), ("GQA", 2), ("MQA", 1))):
        g = H // n_kv
        for h in range(H):
            cell(ax, h, 2.6, BLUE, f"q{h}", fontsize=8)
        for j in range(n_kv):
            x = j * g + (g - 1) / 2                       # under the middle of the query heads it serves
            box(ax, x - 0.45, 0, 0.9 if g == 1 else 1.3, DOC2, f"kv{j}", fontsize=8)
            for h in range(j * g, (j + 1) * g):
                arrow(ax, x + (0.2 if g > 1 else 0), 0.5, h, 2.1)
        numbers = n_kv * 2 * head_dim
        title = {"MHA": "MHA: one kv head per query head", "GQA": "GQA: n_kv_heads = 2, groups of g = 4",
                 "MQA": "MQA: one kv head for all"}[name]
        ax.set_title(title, fontsize=10.5, weight="bold")
        ax.text(3.5, -1.0, f"cache per token and layer (head_dim {head_dim}):\n{n_kv} × (k + v) × {head_dim} = {numbers:,} numbers\n"
                f"= {numbers * 2 / 1024:g} KiB in bf16", ha="center", va="top", fontsize=9.5, color=INK)
        ax.text(-0.8, 2.6, "query\nheads", ha="right", va="center", fontsize=8.5)
        ax.text(-0.8, 0, "kv heads\n(cached)", ha="right", va="center", fontsize=8.5)
        ax.set_xlim(-2.4, 7.8), ax.set_ylim(-2.5, 3.3)
    return finish(fig, axes)


def kv_cache_decode():
    """Notebook 02: a preallocated cache of max_len rows; the prefill writes the prompt's keys and values at once,
    then every decode step writes one row at `pos` and its single query attends over rows 0 ... pos."""
    max_len, prompt, width = 7, 4, 3
    fig, axes = plt.subplots(1, 3, figsize=(14.5, 6.0))
    steps = (("prefill: the prompt, 4 tokens", 0, prompt), ("decode step 1: one new token", prompt, 1),
             ("decode step 2: one more", prompt + 1, 1))
    for ax, (title, start, n) in zip(axes, steps):
        end = start + n
        for t in range(max_len):
            colour = LIGHT_BLUE if t < start else BLUE if t < end else GREY
            for i in range(width):
                cell(ax, i * 0.8, -t * 0.8, colour, size=0.72)
                cell(ax, 3.0 + i * 0.8, -t * 0.8, colour, size=0.72)
            ax.text(-0.7, -t * 0.8, f"{t}", ha="right", va="center", fontsize=8.5)
        ax.text(0.8, 0.65, "cache.k", ha="center", fontsize=9.5, weight="bold")
        ax.text(3.8, 0.65, "cache.v", ha="center", fontsize=9.5, weight="bold")
        ax.text(-1.3, -2.4, "slot = position", rotation=90, ha="center", va="center", fontsize=8.5)
        ax.text(7.3, -(start + (n - 1) / 2) * 0.8, f"◀ written now:\n{n} row{'s' if n > 1 else ''}"
                f" at pos = {start}", ha="center", va="center", fontsize=9, color=BLUE)
        for i in range(n):                                # the scores of this call: (n queries, end keys)
            for j in range(end):
                cell(ax, j * 0.5, -6.2 - i * 0.5, BLUE if j <= start + i else "white", size=0.45)
        ax.text(3.8, -6.2 - (n - 1) * 0.25, f"scores ({n}, {end}):\n{n} quer{'ies' if n > 1 else 'y'} × {end} keys",
                ha="left", va="center", fontsize=9)
        ax.text(2.2, -6.6 - n * 0.5, f"afterwards pos = {end}; grey: still empty", ha="center", va="top",
                fontsize=9, color=INK)
        ax.set_title(title, fontsize=10.5, weight="bold")
        ax.set_xlim(-2.0, 9.0), ax.set_ylim(-9.0, 1.3)
    fig.text(0.5, 0.015, "each cache tensor is (batch, kv_heads, max_len, head_dim); light: rows kept from earlier "
             "calls, never recomputed", ha="center", fontsize=9.5)
    return finish(fig, axes)


def sliding_window_cache():
    """Notebook 02: the band mask of a sliding window (w = 4) and the rolling cache of w slots, where position p
    lives in slot p % w and a new token overwrites the key that just left the window."""
    n, w = 10, 4
    fig, axes = plt.subplots(1, 2, figsize=(14.5, 5.6), gridspec_kw={"width_ratios": [1, 1.35]})
    ax = axes[0]
    colours = [[BLUE if i - w < j <= i else "white" for j in range(n)] for i in range(n)]
    mask_grid(ax, colours, 0, 0, [str(t) for t in range(n)])
    ax.text(4.5, 1.8, "sliding window w = 4: (10, 10) band mask", ha="center", fontsize=10.5, weight="bold")
    ax.text(4.5, -10.0, "query i sees keys i − 3 … i: j ≤ i and j > i − w", ha="center", va="top", fontsize=9.5)
    ax.text(-1.9, -4.5, "query", rotation=90, ha="center", va="center", fontsize=9)
    ax.set_xlim(-2.4, 10), ax.set_ylim(-10.8, 2.4)
    ax = axes[1]
    for r, t in enumerate(range(5, 10)):                  # after writing position t
        y = -r * 1.9
        for slot in range(w):
            p = t - ((t - slot) % w)                      # the latest position p <= t with p % w == slot
            cell(ax, 2 + slot * 1.1, y, ORANGE if p == t else BLUE, f"pos {p}", fontsize=8.5, size=0.95)
        ax.text(0.9, y, f"token {t} arrives:", ha="right", va="center", fontsize=9)
        ax.text(6.6, y, f"slot {t % w} ← {t}, overwrites {t - w}", ha="left", va="center", fontsize=9, color=INK)
    for slot in range(w):
        ax.text(2 + slot * 1.1, 1.0, f"slot {slot}", ha="center", va="bottom", fontsize=8.5)
    ax.text(5.0, 1.8, "RollingKVCache: w = 4 slots, position p in slot p % w", ha="center", fontsize=10.5,
            weight="bold")
    ax.text(5.0, -9.0, "orange: the slot written by this token. The slots are out of order; the cache keeps each\n"
            "slot's position, and the mask is computed from positions. Memory: w slots, whatever the length.",
            ha="center", va="top", fontsize=9, color=INK)
    ax.set_xlim(-2.4, 11.4), ax.set_ylim(-10.8, 2.4)
    return finish(fig, axes)


def mla_latent_cache():
    """Notebook 02: MLA compresses each token's keys and values into one latent c_kv (cached, with one shared rope
    key); kv_b_proj expands it into every head's keys and values, or, absorbed, the query moves into latent space."""
    fig, axes = plt.subplots(2, 1, figsize=(14.5, 7.8))
    ax = axes[0]
    box(ax, 0, 0, 2.2, GREY, "h_t\n(d_model = 7168)", text_colour=INK, height=1.3, fontsize=9)
    arrow(ax, 2.3, 0, 4.6, 0, "kv_a_proj_with_mqa")
    box(ax, 4.8, 0.45, 3.0, ORANGE, "c_kv (r = 512)", fontsize=9, height=0.8)
    box(ax, 4.8, -0.5, 1.6, DOC2, "k_rope (64)", fontsize=8.5, height=0.8)
    ax.add_patch(plt.Rectangle((4.65, -1.1), 3.3, 2.15, fill=False, edgecolor=ORANGE, lw=1.6, ls="--"))
    ax.text(6.3, -1.3, "the KV cache: 512 + 64 = 576\nnumbers per token and layer", ha="center", va="top",
            fontsize=9, color=ORANGE, weight="bold")
    arrow(ax, 8.0, 0.45, 12.3, 1.45, "kv_a_layernorm, kv_b_proj")
    ax.text(10.4, 0.35, "(r → H·(128 + 128))", ha="center", va="center", fontsize=8.5)
    for h in range(4):
        y = 2.4 - h * 0.95
        label = f"head {h}" if h < 3 else "… head 127"
        box(ax, 12.5, y, 2.4, BLUE, f"k_nope {label}", fontsize=8, height=0.75)
        box(ax, 14.95, y, 1.0, DOC2, "k_rope", fontsize=7.5, height=0.75)
        box(ax, 16.3, y, 2.4, LIGHT_BLUE, f"v {label}", text_colour=INK, fontsize=8, height=0.75)
    arrow(ax, 6.5, -0.5, 15.45, -1.0)
    ax.text(11.4, -0.95, "rotate; one k_rope shared by every head", ha="center", va="top", fontsize=8.5)
    ax.text(19.1, 1.0, "expanded (training, prefill):\nper-head keys (128 + 64) and\nvalues (128), then ordinary\n"
            "attention; 128 × 320 = 40,960\nnumbers per token if cached", ha="left", va="center", fontsize=9)
    ax.set_title("MLA (DeepSeek-V3): cache one latent per token, expand it into 128 heads", fontsize=11,
                 weight="bold", loc="left")
    ax.set_xlim(-0.3, 22.8), ax.set_ylim(-2.6, 3.2)

    ax = axes[1]
    ax.text(0, 2.1, "q_nope_h · k_nope_h,t  =  q_nope_h · (W_UK_h c_t)  =  (W_UK_hᵀ q_nope_h) · c_t", ha="left",
            va="center", fontsize=11)
    ax.text(0, 1.3, "Σ_t a_h,t (W_UV_h c_t)  =  W_UV_h (Σ_t a_h,t c_t)", ha="left", va="center", fontsize=11)
    box(ax, 0, -0.4, 2.2, BLUE, "q_nope_h (128)", fontsize=8.5)
    arrow(ax, 2.3, -0.4, 4.3, -0.4, "· W_UK_h")
    box(ax, 4.5, -0.4, 3.0, ORANGE, "q_latent_h (512)", fontsize=8.5)
    box(ax, 7.6, -0.4, 1.0, DOC2, "q_rope", fontsize=8)
    arrow(ax, 8.7, -0.4, 10.4, -0.4, "attend")
    box(ax, 10.6, -0.4, 4.0, ORANGE, "over cached [c_t ; k_rope_t] (576)", fontsize=8.5)
    arrow(ax, 14.7, -0.4, 16.2, -0.4, "· W_UV_h")
    box(ax, 16.4, -0.4, 2.2, LIGHT_BLUE, "out_h (128)", text_colour=INK, fontsize=8.5)
    ax.text(9.3, -1.5, "absorbed (decoding): fold W_UK into the query and W_UV into the output. The cached latents "
            "are never expanded:\nmulti-query attention with one key of width 512 + 64 and one value of width 512, "
            "shared by the 128 heads.", ha="center", va="top", fontsize=9.5, color=INK)
    ax.set_title("weight absorption: the same scores and outputs, computed in latent space", fontsize=11,
                 weight="bold", loc="left")
    ax.set_xlim(-0.3, 22.8), ax.set_ylim(-2.6, 2.7)
    return finish(fig, axes)


NOTEBOOK = "02_attention.ipynb"
DRAWINGS = (   # each shown by one markdown cell of NOTEBOOK, as attachment:<function name>.png
    attention_score_grid,
    multi_head_split,
    gqa_kv_sharing,
    kv_cache_decode,
    sliding_window_cache,
    mla_latent_cache,
)
