"""Drawn figures of notebook 07; `python assets/figures.py --notebook 07` redraws and embeds them."""
from __future__ import annotations

import math

from drawing import BLUE, DOC2, GREY, INK, LIGHT_BLUE, ORANGE, arrow, box, cell, finish, mask_grid, matrix, plt  # noqa: F401


def _row(ax, x0, y, colours, texts, text_colour="white", size=0.9, fontsize=8):
    """One row of cells at x0, x0 + 1, ...; colours and texts per cell."""
    for j, (colour, text) in enumerate(zip(colours, texts)):
        ink = text_colour(j) if callable(text_colour) else text_colour
        cell(ax, x0 + j, y, colour, text, ink, size=size, fontsize=fontsize)


def prefill_then_decode():
    """Notebook 07: the prompt goes through the model once, (B, T_prompt), filling the KV cache; then each step
    feeds one token, (B, 1), whose query reads every cached key and adds one position to the cache."""
    prompt = ["Once", "␣upon", "␣a", "␣time", ","]
    new = ["␣a", "␣fox", "␣sang", "␣and"]                # token 5 comes out of the prefill, then one per step
    slots = len(prompt) + 3
    fig, axes = plt.subplots(1, 2, figsize=(14.5, 5.2), gridspec_kw={"width_ratios": [1, 1.15]})

    ax = axes[0]
    _row(ax, 0, 4, [BLUE] * len(prompt), prompt)
    ax.text(2, 4.75, "input_ids (B, T_prompt) = (1, 5)", ha="center", va="bottom", fontsize=9)
    arrow(ax, 2, 3.4, 2, 2.55, "")
    ax.text(2.25, 2.95, "one forward pass: all 5 positions in parallel", ha="left", va="center", fontsize=8.5)
    for r, name in enumerate(("K", "V")):
        y = 1.9 - r * 1.0
        _row(ax, 0, y, [BLUE] * len(prompt) + [GREY] * (slots - len(prompt)), [str(j) for j in range(len(prompt))] + [""] * (slots - len(prompt)))
        ax.text(-0.75, y, name, ha="right", va="center", fontsize=10, weight="bold")
    ax.text(3.5, 0.2, "KV cache, per layer (B, kv_heads, max_len, head_dim):\npositions 0 … 4 written, the rest "
            "preallocated (grey)", ha="center", va="top", fontsize=8.5)
    _row(ax, 0, -1.6, [LIGHT_BLUE] * 4 + [ORANGE], [""] * 4 + ["z"], INK)
    ax.text(2, -2.25, "logits (B, T_prompt, V): only the last row is read", ha="center", va="top", fontsize=8.5)
    arrow(ax, 4.6, -1.6, 6.0, -1.6, "")
    cell(ax, 6.6, -1.6, ORANGE, "␣a", fontsize=8)
    ax.text(6.6, -2.25, "token 5", ha="center", va="top", fontsize=8.5)
    ax.set_title("prefill: the prompt once, shape (B, T_prompt)", fontsize=11, weight="bold", loc="left")
    ax.set_xlim(-1.4, 7.6), ax.set_ylim(-3.0, 5.4)

    ax = axes[1]
    for s in range(3):
        y = 3.6 - s * 2.1
        n = len(prompt) + s                      # positions the cache holds before this step
        cell(ax, 0, y, ORANGE, new[s], fontsize=8)
        ax.text(0, y + 0.6, "(B, 1)", ha="center", va="bottom", fontsize=8)
        arrow(ax, 0.6, y, 1.6, y, "")
        colours = [BLUE] * n + [ORANGE] + [GREY] * (slots - n - 1)
        _row(ax, 2.2, y, colours, [str(j) for j in range(n + 1)] + [""] * (slots - n - 1), size=0.8, fontsize=7.5)
        box(ax, 1.7, y + 0.78, n + 1, LIGHT_BLUE, f"its query reads keys 0 … {n} (the cache and itself)", INK,
            height=0.42, fontsize=7.5)
        arrow(ax, 2.2 + slots - 0.3, y, 2.2 + slots + 0.8, y, "")
        cell(ax, 2.2 + slots + 1.4, y, ORANGE, new[s + 1], fontsize=8)
        ax.text(-0.9, y, f"step {s + 1}", ha="right", va="center", fontsize=9)
        ax.text(2.2 + n, y - 0.55, f"k, v → slot {n}", ha="center", va="top", fontsize=7.5, color=INK)
    ax.text(5.7, -2.5, "each step: one token in, one token out; the work per step is the same,\napart from "
            "attention reading the cache, which grows by one position", ha="center", va="top", fontsize=9)
    ax.set_title("decode: one token per step, shape (B, 1)", fontsize=11, weight="bold", loc="left")
    ax.set_xlim(-2.2, 12.6), ax.set_ylim(-3.4, 5.4)
    return finish(fig, axes)


# A made-up next-token distribution over 8 tokens, and the settings of the sampling pipeline figure.
PIPELINE_TOKENS = [",", "␣of", "␣there", "␣Tom", "␣the", "␣a", "␣in", "␣we"]
PIPELINE_LOGITS = [3.0, 2.6, 1.9, 1.7, 1.2, 0.7, 0.2, -0.5]
SEEN, PENALTY, TEMPERATURE, TOP_K, TOP_P, MIN_P, U = (0,), 1.5, 0.8, 6, 0.85, 0.35, 0.62


def _softmax(logits):
    top = max(z for z in logits if z != -math.inf)
    e = [0.0 if z == -math.inf else math.exp(z - top) for z in logits]
    return [x / sum(e) for x in e]


def _pipeline_stages():
    """[(name, setting, logits after the stage)], computed with the notebook's formulas on the made-up logits."""
    z = list(PIPELINE_LOGITS)
    stages = [("logits z", "(V,) = (8,)", list(z))]
    z = [(x / PENALTY if x > 0 else x * PENALTY) if i in SEEN else x for i, x in enumerate(z)]
    stages.append(("repetition penalty", f"θ = {PENALTY}, ',' was written", list(z)))
    z = [x / TEMPERATURE for x in z]
    stages.append(("temperature", f"T = {TEMPERATURE}", list(z)))
    kth = sorted(z, reverse=True)[TOP_K - 1]
    z = [x if x >= kth else -math.inf for x in z]
    stages.append(("top-k", f"k = {TOP_K}", list(z)))
    p = _softmax(z)
    order = sorted(range(len(z)), key=lambda i: p[i])                  # ascending
    drop, mass = set(), 0.0
    for i in order[:-1]:
        mass += p[i]
        if mass <= 1 - TOP_P:
            drop.add(i)
    z = [-math.inf if i in drop else x for i, x in enumerate(z)]
    stages.append(("top-p", f"p = {TOP_P}", list(z)))
    p = _softmax(z)
    z = [x if p[i] >= MIN_P * max(p) else -math.inf for i, x in enumerate(z)]
    stages.append(("min-p", f"p = {MIN_P} × top", list(z)))
    return stages


def sampling_pipeline():
    """Notebook 07: the logits transforms in transformers' order on a made-up distribution of 8 tokens; each
    column shows softmax of the logits after that stage, a removed token is -inf (white), then one draw."""
    stages = _pipeline_stages()
    fig, ax = plt.subplots(figsize=(15, 5.6))
    step, bar = 3.7, 3.0                                  # columns apart, the length of a probability-1 bar
    n = len(PIPELINE_TOKENS)
    for i, token in enumerate(PIPELINE_TOKENS):
        ax.text(-0.35, -i, token, ha="right", va="center", fontsize=9, color=INK)
    for s, (name, setting, z) in enumerate(stages):
        x0 = s * step
        p = _softmax(z)
        for i in range(n):
            if z[i] == -math.inf:
                cell(ax, x0 + 0.3, -i, "white", "−∞", INK, size=0.7, fontsize=7.5)
                ax.add_patch(plt.Rectangle((x0 - 0.05, -i - 0.35), 0.7, 0.7, fill=False, edgecolor=GREY))
                continue
            box(ax, x0, -i, max(p[i] * bar, 0.12), ORANGE if s == 1 and i in SEEN else BLUE, height=0.62)
            ax.text(x0 + max(p[i] * bar, 0.12) + 0.08, -i, f"{p[i]:.2f}", ha="left", va="center", fontsize=7.5,
                    color=INK)
            if s == 0:
                ax.text(x0 + 2.2, -i, f"z = {z[i]:+.1f}", ha="left", va="center", fontsize=8, color=INK)
        kept = sum(1 for x in z if x != -math.inf)
        ax.text(x0 + 1.1, 1.25, name, ha="center", va="bottom", fontsize=10, weight="bold")
        ax.text(x0 + 1.1, 0.75, setting, ha="center", va="bottom", fontsize=8.5, color=INK)
        ax.text(x0 + 1.1, -n + 0.1, f"{kept} of {n} kept", ha="center", va="center", fontsize=9, color=INK)
        if s:
            arrow(ax, x0 - 1.5, -n + 0.1, x0 + 0.05, -n + 0.1)
    p = _softmax(stages[-1][2])
    cumulative, chosen = 0.0, None
    for i, pi in enumerate(p):
        cumulative += pi
        if chosen is None and U < cumulative:
            chosen = i
    x0 = len(stages) * step
    arrow(ax, x0 - 1.3, -3.5, x0 + 0.2, -3.5, "")
    ax.text(x0 - 0.55, -3.15, "softmax,\nsample", ha="center", va="bottom", fontsize=8.5)
    cell(ax, x0 + 0.9, -3.5, ORANGE, PIPELINE_TOKENS[chosen], fontsize=8.5, size=1.0)
    ax.text(x0 + 0.9, -4.2, f"u = {U}: the first token\nwhose cumulative\nprobability exceeds u", ha="center",
            va="top", fontsize=8)
    ax.text(x0 + 0.9, 1.25, "one token", ha="center", va="bottom", fontsize=10, weight="bold")
    ax.text(x0 + 0.9, 0.75, "torch.multinomial", ha="center", va="bottom", fontsize=8.5, color=INK)
    ax.text(x0 / 2, -n - 0.75, "each column: softmax of the logits after that stage (bar length = probability); a "
            "removed token's logit is −∞, probability exactly 0. Temperature and the penalty only reshape; "
            "top-k, top-p, min-p remove.", ha="center", va="top", fontsize=8.5, color=INK)
    ax.set_xlim(-1.4, x0 + 2.4), ax.set_ylim(-n - 1.3, 2.0)
    return finish(fig, [ax])


def speculative_decoding_round():
    """Notebook 07: one round of speculative decoding with k = 4: the draft proposes 4 tokens one at a time, the
    target scores the last token and the 4 drafts in one forward pass (5 distributions), the drafts are accepted
    left to right while u < p/q, the first rejection is replaced by a draw from the residual, the rest dropped."""
    context = ["Once", "␣upon", "␣a", "␣time"]
    drafts = [",", "␣a", "␣dog", "␣ran"]
    p = [0.90, 0.62, 0.05, 0.40]
    q = [0.80, 0.55, 0.40, 0.50]
    u = [0.31, 0.70, 0.58, None]
    fig, ax = plt.subplots(figsize=(13.5, 6.8))
    _row(ax, 0, 4, [BLUE] * len(context), context)
    ax.text(1.5, 5.25, "context (cached)", ha="center", va="bottom", fontsize=9)
    for j, token in enumerate(drafts):
        x = len(context) + j
        cell(ax, x, 4, ORANGE, token, fontsize=8)
        ax.text(x, 4.6, f"q={q[j]:.2f}", ha="center", va="bottom", fontsize=7.5)
        if j:
            ax.annotate("", xy=(x - 0.1, 4.45), xytext=(x - 0.9, 4.45),
                        arrowprops=dict(arrowstyle="->", color=ORANGE, lw=1, connectionstyle="arc3,rad=-0.5"))
    ax.text(9.0, 4, "1. the draft proposes k = 4 tokens, one small forward each,\n    x_j ~ q(· | context, x_<j)",
            ha="left", va="center", fontsize=9)
    ax.text(5.5, 5.25, "drafts (B, k) = (1, 4)", ha="center", va="bottom", fontsize=9)

    ax.text(9.0, 2.2, "2. the target runs once on (B, k + 1) = (1, 5) tokens:\n    the last context token and "
            "the 4 drafts;\n    it returns p after each prefix, (B, k + 1, V)", ha="left", va="center", fontsize=9)
    _row(ax, 3, 2.2, [BLUE] + [ORANGE] * 4, ["␣time"] + drafts, fontsize=8)
    box(ax, 2.5, 1.1, 5.0, LIGHT_BLUE, "one target forward pass", INK, height=0.6, fontsize=8.5)
    for j in range(5):
        ax.text(3 + j, 0.45, f"p_{j}", ha="center", va="center", fontsize=8.5, weight="bold")

    y = -1.0
    ax.text(9.0, y - 0.5, "3. left to right: accept x_j when u < p(x_j) / q(x_j)\n    (0.58 ≥ 0.05 / 0.40: '␣dog' is rejected)\n    (p_j, computed one column "
            "to the left, scores draft x_j);\n    at the first rejection draw from the residual\n    "
            "r = norm(max(0, p − q)) and end the round", ha="left", va="center", fontsize=9)
    for j in range(4):
        x = 4 + j
        if j < 2:
            colour, text, note = DOC2, "✓", f"p={p[j]:.2f}\nq={q[j]:.2f}\nu={u[j]:.2f}"
        elif j == 2:
            colour, text, note = "white", "✗", f"p={p[j]:.2f}\nq={q[j]:.2f}\nu={u[j]:.2f}"
        else:
            colour, text, note = GREY, "", "never\nchecked"
        cell(ax, x, y, colour, text, "white" if j < 2 else INK, fontsize=11)
        if j == 2:
            ax.add_patch(plt.Rectangle((x - 0.45, y - 0.45), 0.9, 0.9, fill=False, edgecolor=ORANGE, lw=1.5))
        ax.text(x, y - 0.55, note, ha="center", va="top", fontsize=7.5, linespacing=1.1)
        ax.text(x, y + 0.55, drafts[j], ha="center", va="bottom", fontsize=8)
    ax.text(3.4, y, "p/q test", ha="right", va="center", fontsize=9)

    y = -3.9
    _row(ax, 0, y, [BLUE] * 4 + [DOC2, DOC2, ORANGE], context + drafts[:2] + ["␣cat"], fontsize=8)
    ax.text(6, y + 0.6, "r", ha="center", va="bottom", fontsize=9, color=ORANGE, weight="bold")
    cell(ax, 7, y, GREY, "␣ran", INK, fontsize=8)
    ax.add_patch(plt.Rectangle((6.55, y - 0.45), 0.9, 0.9, fill=False, edgecolor=INK, lw=0.8, ls="--"))
    ax.text(9.0, y, "this round: 2 drafts kept, then '␣cat' from the residual at position 2:\n3 new tokens for one "
            "target pass; '␣ran' is dropped and both caches rewound.\nIf all 4 had been accepted, a bonus token "
            "from p_4: 5 tokens.", ha="left", va="center", fontsize=9)
    ax.set_title("one round of speculative decoding (k = 4): draft k tokens, verify them in one target pass",
                 fontsize=11, weight="bold", loc="left")
    ax.set_xlim(-0.8, 17.2), ax.set_ylim(-4.7, 5.9)
    return finish(fig, [ax])


def induction_pattern():
    """Notebook 07: on a sequence that repeats, a previous-token head puts its weight on the key just before the
    query; an induction head, at a token of the second copy, looks at the token that followed that token's first
    occurrence, so copying it predicts the next token."""
    words = ["fox", "jar", "sang", "blue", "fox", "jar", "sang", "blue"]
    n, half = len(words), len(words) // 2
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 5.4))
    previous = [[BLUE if j == i - 1 else LIGHT_BLUE if j <= i else "white" for j in range(n)] for i in range(n)]
    induction = [[ORANGE if i >= half and j == i - half + 1 else LIGHT_BLUE if j <= i else "white"
                  for j in range(n)] for i in range(n)]
    for ax, colours, title, note in (
            (axes[0], previous, "a previous-token head",
             "query i looks at key i − 1\nscore: mean weight A[i, i − 1]"),
            (axes[1], induction, "an induction head",
             "query L + i (second copy) looks at key i + 1,\nthe token after its first occurrence\n"
             "score: mean weight A[L + i, i + 1]")):
        mask_grid(ax, colours, 0, 3.5, words)
        ax.add_patch(plt.Rectangle((half - 0.5, 3.5 - n + 0.5), 0, n, edgecolor=INK, lw=0.8, ls="--"))
        ax.plot([-0.5, n - 0.5], [3.5 - half + 0.5] * 2, color=INK, lw=0.8, ls="--")
        ax.text(3.5, 6.0, title, ha="center", fontsize=11, weight="bold")
        ax.text(3.5, -4.9, note, ha="center", va="top", fontsize=9, color=INK)
        ax.text(-1.9, 0, "query", rotation=90, ha="center", va="center", fontsize=9)
        ax.text(3.5, 5.35, "key", ha="center", va="bottom", fontsize=9)
        ax.set_xlim(-2.4, 8.2), ax.set_ylim(-6.6, 6.6)
    axes[1].text(9.0, 0.5, "random tokens, repeated:\nL = 4 tokens, then the\nsame 4 again (T = 2L).\n\nIn the "
                 "second copy,\nafter 'sang' comes 'blue'\nagain: a head that finds\nthe earlier 'sang' and\nlooks "
                 "one to the right\ncan copy 'blue'.", ha="left", va="center", fontsize=9, color=INK)
    axes[1].set_xlim(-2.4, 12.5)
    return finish(fig, axes)


NOTEBOOK = "07_generation.ipynb"
DRAWINGS = (   # each shown by one markdown cell of NOTEBOOK, as attachment:<function name>.png
    prefill_then_decode,
    sampling_pipeline,
    speculative_decoding_round,
    induction_pattern,
)
