"""Drawn figures of notebook 03; `python assets/figures.py --notebook 03` redraws and embeds them."""
from __future__ import annotations

import math

from matplotlib.colors import to_hex, to_rgb

from drawing import BLUE, DOC2, GREY, INK, LIGHT_BLUE, ORANGE, arrow, box, cell, finish, mask_grid, matrix, plt  # noqa: F401

PAIR_COLOURS = (BLUE, ORANGE, DOC2, LIGHT_BLUE)      # pair 0, 1, 2, 3 of an 8-dimensional head


def _mix(a, b, w):
    """The colour a fraction w of the way from a to b."""
    return to_hex([(1 - w) * x + w * y for x, y in zip(to_rgb(a), to_rgb(b))])


def _hand(ax, x, y, angle, radius=0.38, colour=BLUE, ghost=None):
    """A clock face of radius `radius` at (x, y), a hand at `angle` radians (counter-clockwise from east), and
    a grey hand at `ghost`, where it started."""
    ax.add_patch(plt.Circle((x, y), radius, facecolor="none", edgecolor=GREY, linewidth=1.2))
    if ghost is not None:
        ax.plot([x, x + radius * math.cos(ghost)], [y, y + radius * math.sin(ghost)], color=GREY, linewidth=1.4)
    ax.plot([x], [y], marker="o", markersize=2.5, color=INK)
    arrow(ax, x, y, x + radius * math.cos(angle), y + radius * math.sin(angle), colour=colour)


def rope_pair_clocks():
    """RoPE on one query of d = 16: each pair (q_2i, q_2i+1) is a 2-D arrow turned by m * theta_i; the fast pairs
    (left) spin, the slow pairs (right) barely move over the same positions."""
    d, theta, positions, dx = 16, 10_000.0, (0, 1, 2, 10, 100), 1.4
    inv_freq = [theta ** (-2 * i / d) for i in range(d // 2)]
    start = [0.3, 1.9, 0.9, 2.6, 0.1, 1.3, 2.2, 0.6]      # the query's own direction in each pair
    fig, ax = plt.subplots(figsize=(11.5, 6.8))
    for i, freq in enumerate(inv_freq):
        x = dx * i
        ax.text(x, 1.05, f"pair {i}\n(q{2 * i}, q{2 * i + 1})", ha="center", va="bottom", fontsize=8.5)
        ax.text(x, 0.72, f"θ{i} = {freq:.3g}", ha="center", va="bottom", fontsize=8.5, color=BLUE)
        for r, m in enumerate(positions):
            y = -1.15 * r
            _hand(ax, x, y, start[i] + m * freq, colour=BLUE if m == 0 else ORANGE,
                  ghost=start[i] if m else None)
            ax.text(x, y - 0.5, f"+{math.degrees(m * freq) % 360:.0f}°", ha="center", va="center", fontsize=8,
                    color=INK)
    for r, m in enumerate(positions):
        ax.text(-0.7, -1.15 * r, f"position m = {m}", ha="right", va="center", fontsize=9)
    mid = dx * 3.5
    ax.text(mid, 2.05, "one query, head_dim d = 16: 8 pairs, pair i turned by m · θ_i,  θ_i = 10000^(−2i/16)",
            ha="center", fontsize=11, weight="bold")
    arrow(ax, 0.0, -5.55, dx * 7, -5.55)
    ax.text(0.0, -5.8, "fast: wavelength 2π/θ₀ ≈ 6.3 tokens", ha="left", va="top", fontsize=8.5)
    ax.text(dx * 7, -5.8, "slow: wavelength 2π/θ₇ ≈ 19,869 tokens", ha="right", va="top", fontsize=8.5)
    ax.text(mid, -6.35, "under each hand: the angle m · θ_i added at position m, in degrees modulo 360 "
            "(blue: m = 0, the vector as projected; grey: where it started)", ha="center", va="top", fontsize=8.5)
    ax.set_xlim(-2.9, dx * 7 + 0.9), ax.set_ylim(-6.8, 2.5)
    return finish(fig, [ax])


def rope_two_layouts():
    """The two RoPE layouts of an 8-dimensional head: interleaved pairs (2i, 2i+1), half-split pairs (i, i + d/2),
    the permutation between them, and rotate_half with the cos / sin tables of the half-split layout."""
    fig, axes = plt.subplots(1, 2, figsize=(14.5, 4.9), gridspec_kw={"width_ratios": [1, 1.1]})
    ax = axes[0]
    interleaved = [j // 2 for j in range(8)]
    half_split = [j % 4 for j in range(8)]
    for row, (y, pairs, title) in enumerate(((3.0, interleaved, "interleaved: pair i = (2i, 2i + 1)"),
                                            (-0.4, half_split, "half-split: pair i = (i, i + d/2)"))):
        ax.text(3.5, y + 0.85, title, ha="center", fontsize=10, weight="bold")
        order = list(range(8)) if row == 0 else [0, 2, 4, 6, 1, 3, 5, 7]
        for j in range(8):
            cell(ax, j, y, PAIR_COLOURS[pairs[j]], f"x{order[j]}", "white" if pairs[j] != 3 else INK)
        for j in range(8):
            ax.text(j, y - 0.62, f"θ{pairs[j]}", ha="center", va="top", fontsize=8.5, color=INK)
        if row == 0:
            for i in range(4):
                ax.annotate("", xy=(2 * i + 1, y - 1.0), xytext=(2 * i, y - 1.0), arrowprops=dict(
                    arrowstyle="-", color=INK, lw=1, connectionstyle="arc3,rad=0.3"))
    arrow(ax, 3.5, 1.6, 3.5, 0.85)
    ax.text(3.7, 1.05, "perm = (0, 2, 4, 6, 1, 3, 5, 7):\nreorder q and k the same way", ha="left", va="center",
            fontsize=8.5)
    ax.text(3.5, -1.75, "same pairs, same angles, so the same scores: a checkpoint converts by\npermuting the rows "
            "of q_proj and k_proj within each head", ha="center", va="top", fontsize=8.5)
    ax.set_xlim(-0.8, 7.8), ax.set_ylim(-2.7, 4.3)

    ax = axes[1]
    rows = [("x (half-split)", [f"x{j}" for j in range(8)], [PAIR_COLOURS[j % 4] for j in range(8)]),
            ("rotate_half(x)", ["−x4", "−x5", "−x6", "−x7", "x0", "x1", "x2", "x3"],
             [PAIR_COLOURS[j % 4] for j in range(8)]),
            ("cos", [f"c{j % 4}" for j in range(8)], [GREY] * 8),
            ("sin", [f"s{j % 4}" for j in range(8)], [GREY] * 8)]
    for r, (name, labels, colours) in enumerate(rows):
        y = 3.0 - 1.15 * r
        ax.text(-0.8, y, name, ha="right", va="center", fontsize=9.5)
        for j in range(8):
            text_colour = INK if colours[j] in (GREY, LIGHT_BLUE) else "white"
            cell(ax, j, y, colours[j], labels[j], text_colour, fontsize=8.5)
    ax.plot([3.5, 3.5], [3.6, -0.9], color=INK, linestyle=":", linewidth=1)
    ax.text(3.5, 4.15, "half-split RoPE (d = 8): every pair rotated in one multiply-add", ha="center", fontsize=10,
            weight="bold")
    ax.text(8.0, 1.85, "c_i = cos(m θ_i)\ns_i = sin(m θ_i)\ntables (positions, d):\nthe 4 angles twice",
            ha="left", va="center", fontsize=8.5)
    ax.text(3.5, -1.3, "rope(x) = x ⊙ cos + rotate_half(x) ⊙ sin\nfirst half: x_i cos − x_{i+4} sin;   "
            "second half: x_{i+4} cos + x_i sin", ha="center", va="top", fontsize=9)
    ax.set_xlim(-3.2, 10.8), ax.set_ylim(-2.6, 4.6)
    return finish(fig, axes)


def _band_weights(d=64, theta=10_000.0, context=2048, factor=4.0):
    """Interpolation weight w_i per pair (theta_i' = theta_i (1 - w_i + w_i / s)) for four schemes."""
    inv_freq = [theta ** (-2 * i / d) for i in range(d // 2)]
    wavelength = [2 * math.pi / f for f in inv_freq]

    def weight(ratio):
        return min(max((1 - ratio) / (1 - 1 / factor), 0.0), 1.0)

    ntk = [weight(factor ** (-2 * i / (d - 2))) for i in range(d // 2)]
    llama3 = [1.0 if lam > context else 0.0 if lam < context / 4 else 1 - (context / lam - 1) / 3 for lam in wavelength]

    def pair_with_turns(turns):
        return d * math.log(context / (turns * 2 * math.pi)) / (2 * math.log(theta))

    low, high = math.floor(pair_with_turns(32)), math.ceil(pair_with_turns(1))
    yarn = [min(max((i - low) / (high - low), 0.0), 1.0) for i in range(d // 2)]
    return {"linear": [1.0] * (d // 2), "NTK-aware": ntk, "Llama 3": llama3, "YaRN": yarn}


def _tokens(length):
    return f"{length:.1f}" if length < 10 else f"{length:,.0f}"


def rope_scaling_bands():
    """What linear, NTK-aware, Llama 3 and YaRN do to the 32 pairs of a d = 64 head (theta 1e4, L = 2048, s = 4):
    each pair coloured from kept (blue) to divided by s (orange), on a wavelength axis with the lengths marked."""
    d, theta, context, factor = 64, 10_000.0, 2048, 4.0
    fig, ax = plt.subplots(figsize=(15, 5.0))
    notes = {"linear": "every pair ÷ s", "NTK-aware": "base Θ·s^(d/(d−2)): a smooth bend",
             "Llama 3": "by wavelength: keep < L/4, ÷ s > L", "YaRN": "by turns in L: keep > 32, ÷ s < 1"}
    for r, (name, weights) in enumerate(_band_weights(d, theta, context, factor).items()):
        y = -1.5 * r
        ax.text(-1.0, y + 0.12, name, ha="right", va="center", fontsize=10, weight="bold")
        ax.text(-1.0, y - 0.32, notes[name], ha="right", va="center", fontsize=8)
        for i, w in enumerate(weights):
            cell(ax, i, y, _mix(BLUE, ORANGE, w))
        kept, divided = sum(w == 0 for w in weights), sum(w == 1 for w in weights)
        extra = "\nand cos, sin × 1.14 (0.1 ln s + 1)" if name == "YaRN" else ""
        ax.text(32.0, y, f"{kept} kept, {len(weights) - kept - divided} blended, {divided} ÷ s{extra}", ha="left",
                va="center", fontsize=8.5)

    def at(wavelength):                              # the (fractional) pair index with this wavelength
        return d * math.log(wavelength / (2 * math.pi)) / (2 * math.log(theta))

    for lam, label in ((context / 32, "L/32 = 64\n(32 turns)"), (context / 4, "L/4 = 512"),
                       (context, "L = 2048\n(1 turn)"), (factor * context, "sL = 8192")):
        ax.plot([at(lam)] * 2, [0.8, -5.35], color=INK, linestyle=":", linewidth=1.1)
        ax.text(at(lam), 0.9, label, ha="center", va="bottom", fontsize=8.5)
    for i in range(0, 32, 4):
        ax.text(i, -5.6, f"{i}\n{_tokens(2 * math.pi * theta ** (2 * i / d))}", ha="center", va="top", fontsize=8)
    ax.text(-1.0, -5.6, "pair i\nwavelength (tokens)", ha="right", va="top", fontsize=8)
    ax.text(0, -6.55, "← high-frequency pairs: local order, seen all around their circle", ha="left", va="top",
            fontsize=8.5, color=BLUE)
    ax.text(31, -6.55, "low-frequency pairs: less than one turn in L →", ha="right", va="top", fontsize=8.5,
            color=ORANGE)
    for k, (w, label) in enumerate(((0.0, "kept (×1)"), (0.5, "blended"), (1.0, "interpolated (÷ s)"))):
        cell(ax, 8 + 6 * k, 2.6, _mix(BLUE, ORANGE, w), size=0.6)
        ax.text(8.5 + 6 * k, 2.6, label, ha="left", va="center", fontsize=8.5)
    ax.text(15.5, 3.4, "how each scheme scales the 32 pairs of a head: d = 64, Θ = 10⁴, L = 2048, s = 4",
            ha="center", fontsize=11, weight="bold")
    ax.set_xlim(-9.0, 38.5), ax.set_ylim(-7.2, 3.9)
    return finish(fig, [ax])


def alibi_bias_grid():
    """ALiBi's (T, T) causal bias -m * (i - j) for three of eight heads: a steep slope sees only the last tokens."""
    T, heads = 6, ((1, 1 / 2), (3, 1 / 8), (5, 1 / 32))
    fig, axes = plt.subplots(1, 3, figsize=(14.5, 5.0))
    for ax, (h, slope) in zip(axes, heads):
        for i in range(T):
            for j in range(T):
                if j > i:
                    cell(ax, j, -i, "white", "−∞", INK, size=0.92, fontsize=8)
                    continue
                bias = -slope * (i - j)
                w = min((i - j) * slope / 2.5, 1.0)
                cell(ax, j, -i, _mix(BLUE, "white", 0.85 * w), f"{bias:.2g}" if bias else "0",
                     "white" if w < 0.45 else INK, size=0.92, fontsize=8.5)
        for t in range(T):
            ax.text(t, 0.65, f"k{t}", ha="center", va="bottom", fontsize=8.5)
            ax.text(-0.7, -t, f"q{t}", ha="right", va="center", fontsize=8.5)
        ax.text(2.5, 1.5, f"head {h} of 8: m = 2^(−{h}) = 1/{round(1 / slope)}", ha="center", fontsize=10,
                weight="bold")
        ax.text(2.5, -T + 0.2, f"after 5 tokens: bias {-5 * slope:.3g}\nweight × e^{-5 * slope:.3g} = "
                f"{math.exp(-5 * slope):.2f}", ha="center", va="top", fontsize=8.5)
        ax.set_xlim(-1.6, T - 0.3), ax.set_ylim(-T - 1.2, 2.1)
    fig.suptitle("ALiBi: bias (n_heads, T, T) = −m_h · (i − j), added to the scores before softmax; "
                 "no rotation of q or k", fontsize=10.5)
    return finish(fig, axes)


def rope_unseen_angles():
    """Why the slow pairs break past L: the arc of angles a pair sweeps in training, at s*L without scaling,
    and after position interpolation."""
    L, s = 2048, 4
    slow, fast = 10_000.0 ** (-48 / 64), 1.0          # pair 24 and pair 0 of a d = 64 head
    panels = [("fast pair 0, positions 0..L", fast * L, 0.0, "θ₀ = 1: hundreds of turns,\nevery angle is seen"),
              ("slow pair 24, positions 0..L", slow * L, 0.0, f"θ₂₄ = 0.001: {slow * L:.2f} rad,\n"
               f"a third of a turn"),
              ("pair 24 at sL = 8192, no scaling", slow * L, slow * s * L,
               f"positions L..sL add {slow * (s - 1) * L:.1f} rad:\nangles never seen in training"),
              ("pair 24 at sL, θ ÷ s (linear)", slow * L, 0.0, "back inside the seen arc; but\nneighbours are "
               "s× closer")]
    fig, axes = plt.subplots(1, 4, figsize=(14.5, 4.4))
    for ax, (title, seen, reached, note) in zip(axes, panels):
        ax.add_patch(plt.Circle((0, 0), 1, facecolor="none", edgecolor=GREY, linewidth=5))
        seen_arc = min(seen, 2 * math.pi)
        ts = [seen_arc * k / 200 for k in range(201)]
        ax.plot([math.cos(t) for t in ts], [math.sin(t) for t in ts], color=BLUE, linewidth=5)
        if reached > seen:
            extra = [seen + (min(reached, seen + 2 * math.pi - 0.05) - seen) * k / 200 for k in range(201)]
            ax.plot([0.82 * math.cos(t) for t in extra], [0.82 * math.sin(t) for t in extra], color=ORANGE,
                    linewidth=5)
        hand = (reached or seen) % (2 * math.pi)                 # the angle of the last position
        arrow(ax, 0, 0, math.cos(hand), math.sin(hand))
        ax.text(0, 1.35, title, ha="center", va="bottom", fontsize=9.5, weight="bold")
        ax.text(0, -1.3, note, ha="center", va="top", fontsize=8.5)
        ax.set_xlim(-1.6, 1.6), ax.set_ylim(-2.2, 1.8)
    fig.suptitle("blue: the angles m·θ_i a pair takes over the training positions 0 .. L = 2048; orange: the angles "
                 "only positions past L reach (s = 4); the arrow: the last position", fontsize=10.5)
    return finish(fig, axes)


NOTEBOOK = "03_positions.ipynb"
DRAWINGS = (   # each shown by one markdown cell of NOTEBOOK, as attachment:<function name>.png
    rope_pair_clocks,
    rope_two_layouts,
    rope_unseen_angles,
    rope_scaling_bands,
    alibi_bias_grid,
)
