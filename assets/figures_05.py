"""Drawn figures of notebook 05; `python assets/figures.py --notebook 05` redraws and embeds them."""
from __future__ import annotations

from drawing import BLUE, DOC2, GREY, INK, LIGHT_BLUE, ORANGE, arrow, box, cell, finish, mask_grid, matrix, plt  # noqa: F401

EXPERT_FILL = (BLUE, ORANGE, DOC2, LIGHT_BLUE)             # experts 0-3, the same in every figure of the notebook
EXPERT_TEXT = ("white", "white", "white", INK)
# one small routing used by the flow and the dispatch figures: 6 tokens, E = 4 experts, top-2
CHOICES = [((0, 0.6), (2, 0.4)), ((1, 0.7), (0, 0.3)), ((2, 0.55), (3, 0.45)), ((0, 0.8), (1, 0.2)),
           ((3, 0.6), (2, 0.4)), ((0, 0.65), (3, 0.35))]


def expert_cell(ax, x, y, e, text="", size=0.9, fontsize=9):
    cell(ax, x, y, EXPERT_FILL[e], text, EXPERT_TEXT[e], size=size, fontsize=fontsize)


def moe_layer_flow():
    """Notebook 05: one MoE layer, router -> top-k -> dispatch -> experts -> weighted sum, with every shape."""
    fig, ax = plt.subplots(figsize=(15, 5.6))
    n, E = len(CHOICES), 4
    ys = [5 - t for t in range(n)]
    for t, y in enumerate(ys):                                    # tokens x (N, d)
        box(ax, 0, y, 2.2, BLUE, f"token {t}", fontsize=8.5)
    ax.text(1.1, 6.35, "x", ha="center", fontsize=12, weight="bold")
    ax.text(1.1, -0.9, "(N, d)\nN = B·T = 6", ha="center", va="top", fontsize=9)
    arrow(ax, 2.4, 2.5, 3.9, 2.5, "router\nℓ = x W_rᵀ")
    for t, y in enumerate(ys):                                    # logits (N, E)
        chosen = {e for e, _ in CHOICES[t]}
        for e in range(E):
            cell(ax, 4.5 + e, y, BLUE if e in chosen else LIGHT_BLUE, "top" if e in chosen else "",
                 fontsize=7.5)
    for e in range(E):
        ax.text(4.5 + e, 5.65, f"e{e}", ha="center", va="bottom", fontsize=8.5)
    ax.text(6.0, 6.35, "logits ℓ", ha="center", fontsize=12, weight="bold")
    ax.text(6.0, -0.9, "(N, E) = (6, 4)\nscores: softmax or σ", ha="center", va="top", fontsize=9)
    arrow(ax, 8.2, 2.5, 9.4, 2.5, "top-k\nk = 2")
    for t, y in enumerate(ys):                                    # ids and weights (N, k)
        for s, (e, w) in enumerate(CHOICES[t]):
            expert_cell(ax, 10.0 + s, y, e, str(e))
            cell(ax, 12.4 + s, y, GREY, f"{w:.2f}", INK, fontsize=8)
    ax.text(10.5, 6.35, "ids", ha="center", fontsize=12, weight="bold")
    ax.text(12.9, 6.35, "weights g", ha="center", fontsize=12, weight="bold")
    ax.text(11.7, -0.9, "(N, k) each\na token's g sum to 1 (renormalised)", ha="center", va="top", fontsize=9)
    arrow(ax, 14.0, 2.5, 15.5, 2.5, "dispatch")
    groups = [[(t, w) for t in range(n) for e2, w in CHOICES[t] if e2 == e] for e in range(E)]
    for e, members in enumerate(groups):                          # per-expert token groups
        y = 5.2 - e * 1.55
        for j, (t, _) in enumerate(members):
            expert_cell(ax, 16.4 + j * 0.75, y, e, f"t{t}", size=0.66, fontsize=8)
        box(ax, 19.6, y, 2.3, EXPERT_FILL[e], f"FFN_{e} (SwiGLU)", EXPERT_TEXT[e], height=0.8, fontsize=8.5)
        ax.text(16.1, y - 0.55, f"n_{e} = {len(members)} tokens: ({len(members)}, d) → ({len(members)}, d)",
                ha="left", va="top", fontsize=8)
    ax.text(18.6, 6.35, "experts, each on its own tokens", ha="center", fontsize=12, weight="bold")
    ax.text(18.6, -0.9, "Σ n_e = N·k = 12 (token, expert) pairs\nnot N·E = 24: the saving", ha="center",
            va="top", fontsize=9)
    arrow(ax, 22.1, 2.5, 23.6, 2.5, "combine\nΣ g·FFN_e(x)")
    for t, y in enumerate(ys):                                    # output (N, d)
        (e0, w0), (e1, w1) = CHOICES[t]
        box(ax, 23.9, y, 3.6, LIGHT_BLUE, f"{w0:.2f}·FFN_{e0} + {w1:.2f}·FFN_{e1}", INK, fontsize=8)
    ax.text(25.7, 6.35, "MoE(x)", ha="center", fontsize=12, weight="bold")
    ax.text(25.7, -0.9, "(N, d), reshaped to (B, T, d)\nthe block adds it to x", ha="center", va="top",
            fontsize=9)
    ax.set_xlim(-0.3, 27.8), ax.set_ylim(-2.0, 6.9)
    return finish(fig, [ax])


def sorted_dispatch():
    """Notebook 05: the sorted dispatch. The N·k pairs are argsorted by expert id, so each expert reads one
    contiguous slice (split by the counts); index_add returns each output to its token."""
    fig, ax = plt.subplots(figsize=(14.5, 5.2))
    pairs = [(t, e) for t, choice in enumerate(CHOICES) for e, _ in choice]          # pair p = token·k + slot
    for p, (t, e) in enumerate(pairs):
        expert_cell(ax, p, 4.0, e, f"t{t}", fontsize=8.5)
        ax.text(p, 4.65, str(p), ha="center", va="bottom", fontsize=8)
    ax.text(-0.8, 4.0, "pairs", ha="right", va="center", fontsize=10, weight="bold")
    ax.text(5.5, 5.45, "routing.experts.reshape(-1): (N·k,) = (12,), pair p = token·k + slot; colour = expert id",
            ha="center", fontsize=10, weight="bold")
    order = sorted(range(len(pairs)), key=lambda p: pairs[p][1])                     # stable sort by expert
    arrow(ax, 5.5, 3.35, 5.5, 2.35)
    ax.text(5.75, 2.85, "order = argsort(expert id, stable): earlier tokens stay first within an expert",
            ha="left", va="center", fontsize=9)
    for q, p in enumerate(order):
        t, e = pairs[p]
        expert_cell(ax, q, 1.6, e, f"t{t}", fontsize=8.5)
        ax.text(q, 0.95, f"p{p}", ha="center", va="top", fontsize=7.5)
    ax.text(-0.8, 1.6, "sorted", ha="right", va="center", fontsize=10, weight="bold")
    counts = [sum(1 for _, e in pairs if e == k) for k in range(4)]
    start = 0
    for e, c in enumerate(counts):
        ax.plot([start - 0.45, start + c - 0.55], [0.25, 0.25], color=EXPERT_FILL[e], lw=3, solid_capstyle="round")
        ax.text(start + (c - 1) / 2, 0.0, f"FFN_{e} reads\nx[order[{start}:{start + c}] // k]", ha="center",
                va="top", fontsize=8, color=INK)
        start += c
    ax.text(5.5, -1.05, f"counts = bincount(ids) = {counts}; inputs.split(counts): one contiguous slice per expert "
            "(the layout a grouped matmul wants)", ha="center", va="top", fontsize=9)
    ax.text(13.0, 4.0, "E scans of (N, k)\n(the loop) become\none sort", ha="left", va="center", fontsize=9.5,
            color=BLUE)
    ax.text(13.0, 1.6, "back: y · g[order],\nindex_add into\nout[order // k]  (N, d)", ha="left", va="center",
            fontsize=9.5, color=BLUE)
    ax.set_xlim(-2.2, 16.6), ax.set_ylim(-1.6, 5.9)
    return finish(fig, [ax])


def expert_capacity_overflow():
    """Notebook 05: capacity C = ceil(c·N·k/E) slots per expert; pairs past the C-th are dropped, and a token
    whose pairs are all dropped leaves the layer through the residual alone."""
    fig, axes = plt.subplots(1, 2, figsize=(14.5, 5.4), gridspec_kw={"width_ratios": [1.25, 1]})
    ax = axes[0]
    tokens = {0: [0, 1, 2, 3, 5, 6, 7], 1: [0, 2, 4, 6], 2: [1, 3, 4], 3: [5, 7]}          # N = 8, k = 2, E = 4
    capacity = 4
    for e, members in tokens.items():
        x = e * 2.0
        for s in range(max(capacity, len(members))):
            y = s * 0.8
            if s < len(members):
                over = s >= capacity
                cell(ax, x, y, ORANGE if over else EXPERT_FILL[e], f"t{members[s]}",
                     "white" if over else EXPERT_TEXT[e], size=0.7, fontsize=8.5)
            else:
                cell(ax, x, y, GREY, "free", INK, size=0.7, fontsize=7.5)
        ax.text(x, -0.75, f"expert {e}\nn = {len(members)}", ha="center", va="top", fontsize=9)
    ax.plot([-0.7, 6.7], [capacity * 0.8 - 0.4] * 2, color=INK, lw=1.2, ls="--")
    ax.text(6.9, capacity * 0.8 - 0.4, f"C = {capacity}", ha="left", va="center", fontsize=10, weight="bold")
    ax.text(3.0, 6.3, "capacity C = ⌈c · N · k / E⌉ = ⌈1.0 · 8 · 2 / 4⌉ = 4 slots per expert", ha="center",
            fontsize=10, weight="bold")
    ax.text(3.0, 5.7, "orange: pairs past an expert's C-th, dropped (earlier tokens keep their slot)",
            ha="center", fontsize=9, color=INK)
    ax.text(3.0, -1.9, "dropped 3 of 16 pairs (19%); the busiest expert, 7 / mean 4 = 1.75,\nsets the step time "
            "when experts run in parallel", ha="center", va="top", fontsize=9)
    ax.set_xlim(-1.4, 8.0), ax.set_ylim(-2.9, 6.7)

    ax = axes[1]
    ax.text(3.2, 6.3, "a dropped token: the residual carries it", ha="center", fontsize=10, weight="bold")
    for row, (name, pieces, y) in enumerate([("t0", "expert 0 kept, expert 1 kept", 4.6),
                                             ("t6", "expert 0 dropped, expert 1 kept", 2.6),
                                             ("t7", "expert 0 dropped, expert 3 kept", 0.6)]):
        cell(ax, 0, y, BLUE, name)
        ax.text(0.7, y + 0.25, pieces, ha="left", va="center", fontsize=8.5)
        ax.text(0.7, y - 0.3, "MoE(x) = g₀·FFN₀ + g₁·FFN₁" if row == 0 else "MoE(x) = only the kept pair's term",
                ha="left", va="center", fontsize=8.5, color=BLUE if row == 0 else ORANGE)
    box(ax, 0.0, -0.9, 6.4, GREY, "all pairs dropped:  MoE(x) = 0,   h = x + 0 = x  (block's residual)", INK,
        height=0.8, fontsize=8.5)
    ax.text(3.2, -1.9, "c = 1.0-1.25 (Switch); dropless (no C) in Mixtral,\nQwen3-MoE and DeepSeek-V3",
            ha="center", va="top", fontsize=9)
    ax.set_xlim(-0.7, 7.0), ax.set_ylim(-2.9, 6.7)
    return finish(fig, axes)


def shared_experts():
    """Notebook 05: routed experts only (Mixtral), against routed plus always-on shared experts (DeepSeek-V3)."""
    fig, axes = plt.subplots(1, 2, figsize=(14.5, 5.8))
    for ax, shared in zip(axes, (False, True)):
        box(ax, 0, 0, 2.0, BLUE, "x (N, d)", fontsize=9)
        arrow(ax, 2.1, 0.0, 3.1, 0.0)
        box(ax, 3.2, 0, 1.6, GREY, "router", INK, fontsize=9)
        chosen = (1, 4)
        for e in range(6):
            y = 2.6 - e * 0.75 if not shared else 3.2 - e * 0.75
            colour = BLUE if e in chosen else GREY
            box(ax, 6.0, y, 2.1, colour, f"routed FFN_{e}", "white" if e in chosen else INK, height=0.6,
                fontsize=8.5)
            if e in chosen:
                arrow(ax, 4.9, 0.0, 5.95, y)
                arrow(ax, 8.15, y, 9.55, 0.15 if not shared else 0.45)
        ax.text(7.05, (3.3 if not shared else 3.9), "E routed experts, top-k used", ha="center", fontsize=9)
        ax.add_patch(plt.Circle((9.9, 0.0), 0.3, facecolor="white", edgecolor=INK, lw=1.2, zorder=3))
        ax.text(9.9, 0.0, "+", ha="center", va="center", fontsize=12, zorder=4)
        arrow(ax, 10.25, 0.0, 11.0, 0.0)
        box(ax, 11.1, 0, 1.6, LIGHT_BLUE, "y (N, d)", INK, fontsize=9)
        if shared:
            box(ax, 6.0, -2.4, 2.1, ORANGE, "shared FFN", fontsize=9, height=0.7)
            ax.annotate("", xy=(5.95, -2.4), xytext=(1.0, -0.5),
                        arrowprops=dict(arrowstyle="->", color=ORANGE, lw=1.4, connectionstyle="angle,angleA=-90,angleB=180"))
            arrow(ax, 8.15, -2.4, 9.65, -0.3, colour=ORANGE)
            ax.text(7.05, -3.15, "every token, no router: n_shared_experts · moe_d_ff wide", ha="center",
                    va="top", fontsize=8.5, color=ORANGE)
            ax.text(6.3, 4.9, "DeepSeek-V3: routed + shared\ny = Σ_(i ∈ top-k) g_i FFN_i(x) + FFN_shared(x)\n"
                    "(256 routed, k = 8, 1 shared)", ha="center", va="bottom", fontsize=10, weight="bold")
        else:
            ax.text(6.3, 4.9, "Mixtral, Qwen3-MoE: routed only\ny = Σ_(i ∈ top-k) g_i FFN_i(x)\n"
                    "(Mixtral: E = 8, k = 2)", ha="center", va="bottom", fontsize=10, weight="bold")
            ax.text(7.0, -2.4, "every common pattern (articles, punctuation)\nmust be learnt by several experts",
                    ha="center", va="center", fontsize=8.5, color=INK)
        ax.set_xlim(-0.3, 12.9), ax.set_ylim(-3.9, 6.6)
    return finish(fig, axes)


def sigmoid_group_routing():
    """Notebook 05: DeepSeek-V3's router on one token: sigmoid scores, a bias that only ranks, group-limited
    top-k, weights from the scores alone, times the routed scaling factor."""
    fig, ax = plt.subplots(figsize=(15, 4.4))
    s = [0.62, 0.31, 0.55, 0.20, 0.48, 0.71, 0.15, 0.40, 0.35, 0.52, 0.58, 0.25, 0.66, 0.18, 0.30, 0.45]
    b = [-0.10, 0.05, 0.00, 0.02, 0.06, -0.02, 0.03, 0.01, 0.00, 0.04, 0.07, -0.03, -0.08, 0.02, 0.05, -0.01]
    sb = [x + y for x, y in zip(s, b)]
    groups = [list(range(g * 4, g * 4 + 4)) for g in range(4)]
    group_score = [sum(sorted((sb[i] for i in g), reverse=True)[:2]) for g in groups]
    kept_groups = sorted(range(4), key=lambda g: -group_score[g])[:2]
    eligible = [i for g in kept_groups for i in groups[g]]
    chosen = sorted(sorted(eligible, key=lambda i: -sb[i])[:4])
    x_of = [i + (i // 4) * 0.6 for i in range(16)]
    for i in range(16):
        cell(ax, x_of[i], 4.0, LIGHT_BLUE, f"{s[i]:.2f}", INK, fontsize=8)
        cell(ax, x_of[i], 2.7, LIGHT_BLUE if i in eligible else GREY, f"{sb[i]:.2f}", INK, fontsize=8)
        cell(ax, x_of[i], 1.4, BLUE if i in chosen else "white", f"{s[i]:.2f}" if i in chosen else "",
             fontsize=8)
        ax.text(x_of[i], 4.6, str(i), ha="center", va="bottom", fontsize=7.5)
    for g in range(4):
        centre = (x_of[g * 4] + x_of[g * 4 + 3]) / 2
        kept = g in kept_groups
        ax.text(centre, 5.1, f"group {g}: top-2 sum {group_score[g]:.2f}" + (" ✓" if kept else " ✗"),
                ha="center", va="bottom", fontsize=8.5, weight="bold" if kept else "normal",
                color=BLUE if kept else INK)
    for y, label in ((4.0, "s = σ(ℓ)"), (2.7, "s + b"), (1.4, "chosen: s")):
        ax.text(-0.9, y, label, ha="right", va="center", fontsize=10, weight="bold")
    ax.text(18.6, 4.0, "scores (E,) = (16,): each expert\nscored alone, in (0, 1)", ha="left", va="center",
            fontsize=9)
    ax.text(18.6, 2.7, "bias b only ranks; groups ✗\nare masked out (grey)", ha="left", va="center", fontsize=9)
    ax.text(18.6, 1.4, f"top-k = 4 of s + b in the\nkept groups: experts {chosen}", ha="left", va="center",
            fontsize=9)
    total = sum(s[i] for i in chosen)
    weights = ", ".join(f"{2.5 * s[i] / total:.2f}" for i in chosen)
    ax.text(8.5, 0.35, f"weights g = ρ · s_i / Σ s_chosen = 2.5 · s_i / {total:.2f} = [{weights}]  (sum ρ = 2.5; "
            "b never enters g)", ha="center", va="center", fontsize=9.5)
    ax.text(8.5, -0.35, "without b, groups 0 and 1 would win: the bias moved the choice; expert 12 (s 0.66) is in a losing group",
            ha="center", va="center", fontsize=9, color=ORANGE)
    ax.text(8.5, 6.0, "one token, E = 16 experts in n_group = 4 groups, topk_group = 2, k = 4", ha="center",
            fontsize=11, weight="bold")
    ax.set_xlim(-3.2, 22.6), ax.set_ylim(-0.5, 6.5)
    return finish(fig, [ax])


NOTEBOOK = "05_mixture_of_experts.ipynb"
DRAWINGS = (   # each shown by one markdown cell of NOTEBOOK, as attachment:<function name>.png
    moe_layer_flow,
    sigmoid_group_routing,
    sorted_dispatch,
    expert_capacity_overflow,
    shared_experts,
)
