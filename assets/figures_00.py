"""Drawn figures of notebook 00; `python assets/figures.py --notebook 00` redraws and embeds them.

The text and the counts on `text_to_byte_ids`, `bigram_count_table` and `bigram_network_row` are computed from the
bundled training stories when the figure is drawn, so a regenerated corpus redraws them true. The numbers on
`logistic_neuron_graph` are those of the notebook's neuron, computed here with `math`.
"""
from __future__ import annotations

import math
import sys
from functools import lru_cache
from pathlib import Path

from drawing import BLUE, DOC2, GREY, INK, LIGHT_BLUE, ORANGE, arrow, box, cell, finish, mask_grid, matrix, plt  # noqa: F401

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "notebooks"))

V, EOT = 257, 256


def shown(i: int) -> str:
    """An id as the notebook's `label` writes it: the character, ␣ for a space, EOT for 256."""
    return {EOT: "EOT", ord(" "): "␣", ord("\n"): "\\n"}.get(i, chr(i) if 32 < i < 127 else f"x{i:02x}")


@lru_cache(maxsize=None)
def train_text() -> list[str]:
    from rawllm.world import corpus_texts
    return corpus_texts("train")


@lru_cache(maxsize=None)
def pair_counts():
    """The notebook's N_train: (V, V) counts of id j following id i in EOT story EOT story ... EOT."""
    import torch
    eot = torch.tensor([EOT])
    pieces = [eot]
    for story in train_text():
        pieces += [torch.frombuffer(bytearray(story.encode("utf-8")), dtype=torch.uint8).long(), eot]
    ids = torch.cat(pieces)
    return torch.bincount(ids[:-1] * V + ids[1:], minlength=V * V).view(V, V).double()


def broadcast_shapes():
    """Notebook 00: (3, 1) + (4,) lined up from the right and stretched to (3, 4); and the keepdim pitfall, a
    (3, 3) matrix divided by its row sums kept as a column (3, 1) or read as a row (1, 3)."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4), gridspec_kw={"width_ratios": [2.05, 1, 1]})
    ax = axes[0]
    col, row = [0, 10, 20], [1, 2, 3, 4]
    for i in range(3):
        for j in range(4):
            real = j == 0
            cell(ax, j, 2 - i, BLUE if real else LIGHT_BLUE, f"{col[i]}", "white" if real else INK)
            real = i == 0
            cell(ax, 5.5 + j, 2 - i, BLUE if real else LIGHT_BLUE, f"{row[j]}", "white" if real else INK)
            cell(ax, 11 + j, 2 - i, BLUE, f"{col[i] + row[j]}")
    ax.text(4.25, 1, "+", ha="center", va="center", fontsize=20, color=INK)
    ax.text(9.75, 1, "=", ha="center", va="center", fontsize=20, color=INK)
    ax.text(1.5, -0.85, "col (3, 1)\nits column copied 4 times", ha="center", va="top", fontsize=9)
    ax.text(7.0, -0.85, "row (4,), read as (1, 4)\nits row copied 3 times", ha="center", va="top", fontsize=9)
    ax.text(12.5, -0.85, "out (3, 4)\nout[i, j] = col[i, 0] + row[j]", ha="center", va="top", fontsize=9)
    ax.text(7.25, 4.1, "(3, 1) + (4,) → (3, 4)", ha="center", fontsize=11, weight="bold")
    align = "col: (3, 1)\nrow: (   4)  → (1, 4)\nout: (3, 4)"
    ax.text(7.25, 3.45, "line the shapes up from the right; a missing size counts as 1; a size 1 is stretched",
            ha="center", va="center", fontsize=9, color=INK)
    ax.text(-0.45, -2.35, align, ha="left", va="top", fontsize=9, family="DejaVu Sans Mono", color=INK)
    ax.text(4.9, -2.35, "dark: the tensor's own numbers\npale: the copies broadcasting pretends to make "
            "(no memory is allocated)", ha="left", va="top", fontsize=8.5, color=INK)
    ax.set_xlim(-0.8, 15), ax.set_ylim(-3.6, 4.5)

    S = [[1, 1, 2], [0, 3, 1], [5, 0, 5]]
    sums = [sum(r) for r in S]
    for ax, keep in ((axes[1], True), (axes[2], False)):
        for i in range(3):
            for j in range(3):
                cell(ax, j, 2 - i, GREY, f"{S[i][j]}", INK)
                own = (j == 0) if keep else (i == 0)
                divisor = sums[i] if keep else sums[j]
                cell(ax, 4.2 + j, 2 - i, (BLUE if keep else ORANGE) if own else LIGHT_BLUE,
                     f"{divisor}", "white" if own else INK)
        ax.text(3.1, 1, "÷", ha="center", va="center", fontsize=18, color=INK)
        ax.text(1, -0.85, "S (3, 3)", ha="center", va="top", fontsize=9)
        if keep:
            ax.text(3.2, 4.1, "S / S.sum(dim=1, keepdim=True)", ha="center", fontsize=10, weight="bold")
            ax.text(5.2, -0.85, "sums (3, 1): a column", ha="center", va="top", fontsize=9)
            ax.text(3.2, -2.1, "row i ÷ the sum of row i:\nevery row sums to 1", ha="center", va="top",
                    fontsize=9, color=BLUE)
        else:
            ax.text(3.2, 4.1, "S / S.sum(dim=1)", ha="center", fontsize=10, weight="bold")
            ax.text(5.2, -0.85, "sums (3,) → (1, 3): a row", ha="center", va="top", fontsize=9)
            ax.text(3.2, -2.1, "column j ÷ the sum of row j:\nno error, wrong numbers", ha="center", va="top",
                    fontsize=9, color=ORANGE)
        ax.text(3.2, 3.45, f"row sums of S: {sums}", ha="center", va="center", fontsize=9, color=INK)
        ax.set_xlim(-0.7, 7.1), ax.set_ylim(-3.6, 4.5)
    return finish(fig, axes)


def logistic_neuron_graph():
    """Notebook 00: the graph of z = w·x + b, p = σ(z), L = -ln p with the notebook's numbers; forward values
    above the arrows, the gradients that backward sends from L to the leaves below them."""
    w, x, b = [0.3, 0.1, -0.4], [1.0, -2.0, 0.5], 0.2
    z = sum(wi * xi for wi, xi in zip(w, x)) + b
    p = 1 / (1 + math.exp(-z))
    loss = -math.log(p)
    dz = p - 1
    fig, ax = plt.subplots(figsize=(15, 5.2))
    leaves = [(3.2, "w  (3,)  requires_grad", f"[{w[0]}, {w[1]}, {w[2]}]", BLUE),
              (1.6, "x  (3,)  no gradient", f"[{x[0]:g}, {x[1]:g}, {x[2]:g}]", GREY),
              (0.0, "b  ()  requires_grad", f"{b}", BLUE)]
    for y, name, value, colour in leaves:
        box(ax, 0, y, 3.6, colour, f"{name}\n{value}", "white" if colour == BLUE else INK, height=1.1, fontsize=9)
        ax.annotate("", xy=(4.95, 1.9), xytext=(3.6, y), arrowprops=dict(arrowstyle="->", color=BLUE, lw=1.4))
    ops = [(5.0, "w @ x + b", f"z = {z:.4f}"), (9.0, "σ(z)", f"p = {p:.4f}"), (13.0, "−ln p", f"L = {loss:.4f}")]
    for x0, name, value in ops:
        box(ax, x0, 1.6, 2.4, LIGHT_BLUE, name, INK, height=1.1, fontsize=10)
    for (x0, _, value), (x1, _, _) in zip(ops, ops[1:]):
        arrow(ax, x0 + 2.45, 1.9, x1 - 0.05, 1.9, value, colour=BLUE)
    ax.text(16.8, 1.9, f"L = {loss:.4f}", ha="left", va="center", fontsize=10, color=BLUE)
    ax.annotate("", xy=(16.7, 1.9), xytext=(15.45, 1.9), arrowprops=dict(arrowstyle="->", color=BLUE, lw=1.4))
    back = [(16.7, 15.45, "∂L/∂L = 1"), (12.95, 11.45, f"∂L/∂p = −1/p\n= {-1 / p:.4f}"),
            (8.95, 7.45, f"∂L/∂z = ∂L/∂p · p(1 − p)\n= p − 1 = {dz:.4f}")]
    for x0, x1, text in back:
        ax.annotate("", xy=(x1, 1.3), xytext=(x0, 1.3), arrowprops=dict(arrowstyle="->", color=ORANGE, lw=1.4))
        ax.text((x0 + x1) / 2, 0.9, text, ha="center", va="top", fontsize=9, color=ORANGE)
    ax.annotate("", xy=(3.7, 2.9), xytext=(4.95, 1.3), arrowprops=dict(arrowstyle="->", color=ORANGE, lw=1.4))
    ax.annotate("", xy=(3.7, -0.3), xytext=(4.95, 1.3), arrowprops=dict(arrowstyle="->", color=ORANGE, lw=1.4))
    grad_w = ", ".join(f"{dz * xi:.3f}" for xi in x)
    ax.text(0, 4.3, f"w.grad = ∂L/∂z · x = [{grad_w}]", ha="left", va="center", fontsize=9, color=ORANGE)
    ax.text(0, -1.05, f"b.grad = ∂L/∂z · 1 = {dz:.4f}", ha="left", va="center", fontsize=9, color=ORANGE)
    ax.text(8.5, 5.0, "forward: each operation records its inputs (blue); backward: the chain rule, "
            "from L to the leaves (orange)", ha="center", fontsize=11, weight="bold")
    ax.text(14.2, 3.0, "L.grad_fn: NegBackward0,\nthen LogBackward0, ...", ha="center", va="center", fontsize=8.5,
            color=INK)
    ax.set_xlim(-0.3, 18.6), ax.set_ylim(-1.6, 5.4)
    return finish(fig, [ax])


def text_to_byte_ids():
    """Notebook 00: the first word of the first training story, with the EOT in front, as characters, UTF-8 bytes
    and int64 ids; and 'café', whose é is two bytes."""
    text = train_text()[0]
    word = text.split(" ", 1)[0][:10]
    fig, ax = plt.subplots(figsize=(15, 4.6))
    rows = {"text": 2.4, "UTF-8 bytes": 0.9, "ids (int64)": -0.6}
    for name, y in rows.items():
        ax.text(-1.0, y, name, ha="right", va="center", fontsize=9.5, color=INK)
    cell(ax, 0, rows["text"], ORANGE, "EOT")
    ax.text(0, rows["UTF-8 bytes"], "(not a\nbyte)", ha="center", va="center", fontsize=8, color=INK)
    cell(ax, 0, rows["ids (int64)"], ORANGE, f"{EOT}")
    for k, ch in enumerate(word, start=1):
        byte = ch.encode("utf-8")[0]
        cell(ax, k, rows["text"], LIGHT_BLUE, ch, INK, fontsize=10)
        cell(ax, k, rows["UTF-8 bytes"], GREY, f"0x{byte:02X}", INK, fontsize=8)
        cell(ax, k, rows["ids (int64)"], BLUE, f"{byte}")
    n = len(word) + 1
    ax.text((n - 1) / 2, 3.55, f"the first story begins '{word}': EOT, then one byte per ASCII character",
            ha="center", fontsize=10.5, weight="bold")
    ax.text((n - 1) / 2, -1.45, f"ids[:{n}] of encode_stories(train): shape ({n},), dtype int64",
            ha="center", va="top", fontsize=9, color=INK)
    for y0, y1, label in ((rows["text"], rows["UTF-8 bytes"], "str.encode('utf-8')"),
                          (rows["UTF-8 bytes"], rows["ids (int64)"], ".long()")):
        ax.annotate("", xy=(n + 0.1, y1 + 0.35), xytext=(n + 0.1, y0 - 0.35),
                    arrowprops=dict(arrowstyle="->", color=INK, lw=1.4))
        ax.text(n + 0.3, (y0 + y1) / 2, label, ha="left", va="center", fontsize=8.5, color=INK)

    x0 = n + 3.6
    x = x0
    for ch in "café":
        data = ch.encode("utf-8")
        multi = len(data) > 1
        box(ax, x - 0.5, rows["text"], len(data), DOC2 if multi else LIGHT_BLUE, ch, "white" if multi else INK,
            fontsize=10)
        for byte in data:
            cell(ax, x, rows["UTF-8 bytes"], DOC2 if multi else GREY, f"0x{byte:02X}", "white" if multi else INK,
                 fontsize=8)
            cell(ax, x, rows["ids (int64)"], DOC2 if multi else BLUE, f"{byte}")
            x += 1
    ax.text(x0 + 2, 3.55, "'café': é is two bytes", ha="center", fontsize=10.5, weight="bold")
    ax.text(x0 + 2, -1.45, "4 characters → 5 bytes → 5 ids;\nany text fits the 256 byte ids",
            ha="center", va="top", fontsize=9, color=INK)
    ax.set_xlim(-3.2, x + 0.2), ax.set_ylim(-2.5, 4.0)
    return finish(fig, [ax])


def bigram_count_table():
    """Notebook 00: the pairs of '␣the␣' each adding one to the (V, V) count table N (rows: previous id, columns:
    next id), six rows and columns of the real N, and the same cells of P = N / row sums."""
    counts = pair_counts()
    chosen = [ord(c) for c in " then."]
    rows_total = counts.sum(dim=1)
    fig, axes = plt.subplots(1, 3, figsize=(15, 5.6), gridspec_kw={"width_ratios": [0.8, 1, 1]})
    ax = axes[0]
    snippet = [ord(c) for c in " the "]
    for k, i in enumerate(snippet):
        cell(ax, k, 3.0, LIGHT_BLUE, shown(i), INK, fontsize=10)
    pairs = list(zip(snippet, snippet[1:]))
    for k, (i, j) in enumerate(pairs):
        y = 1.6 - k * 0.85
        ax.annotate("", xy=(k + 0.92, 2.5), xytext=(k + 0.08, 2.5),
                    arrowprops=dict(arrowstyle="-", color=ORANGE, lw=1.6, connectionstyle="arc3,rad=0.6"))
        ax.text(1.9, y, f"N[{shown(i)}, {shown(j)}] += 1", ha="center", va="center", fontsize=9.5, color=ORANGE,
                family="DejaVu Sans Mono")
    ax.text(2, 4.2, "1. every neighbouring pair", ha="center", fontsize=10.5, weight="bold")
    ax.text(2, -2.1, "row = the previous id, column = the next id\n"
            f"(all {int(counts.sum()):,} pairs of the training text)", ha="center", va="top", fontsize=8.5)
    ax.set_xlim(-0.7, 4.7), ax.set_ylim(-3.4, 4.8)

    top_left = 2.5
    for ax, title, shape, fmt in ((axes[1], "2. counts N", "(257, 257)", "count"),
                                  (axes[2], "3. P = N / N.sum(dim=1, keepdim=True)", "(257, 257)", "prob")):
        cells = [[counts[i, j].item() for j in chosen] for i in chosen]
        labels = [shown(i) for i in chosen]
        for r, i in enumerate(chosen):
            for c, j in enumerate(chosen):
                n = cells[r][c]
                q = n / rows_total[i].item()
                if fmt == "count":
                    text = f"{n / 1000:.1f}k" if n >= 1000 else f"{int(n)}"
                else:
                    text = f"{q:.3f}" if q >= 0.0005 else "0"
                colour = BLUE if q >= 0.1 else LIGHT_BLUE if n > 0 else "white"
                cell(ax, c, top_left - r, colour, text, "white" if colour == BLUE else INK, fontsize=7.5)
                if (i, j) in pairs:
                    ax.add_patch(plt.Rectangle((c - 0.47, top_left - r - 0.47), 0.94, 0.94, fill=False,
                                               edgecolor=ORANGE, linewidth=2.2))
        for k, label in enumerate(labels):
            ax.text(k, top_left + 0.7, label, ha="center", va="bottom", fontsize=9.5)
            ax.text(-0.7, top_left - k, label, ha="right", va="center", fontsize=9.5)
        ax.text(2.5, top_left + 1.7, f"{title}  {shape}", ha="center", fontsize=10.5, weight="bold")
        ax.text(-1.5, top_left - 2.5, "previous id", rotation=90, ha="center", va="center", fontsize=8.5)
        ax.text(2.5, top_left + 1.25, "next id", ha="center", va="center", fontsize=8.5)
        note = (f"6 of the 257 rows and columns;\nrow '␣' holds {int(rows_total[ord(' ')].item()):,} pairs in all"
                if fmt == "count" else
                f"each row sums to 1 over all 257 columns\n(row 't': these 6 hold "
                f"{sum(cells[chosen.index(ord('t'))]) / rows_total[ord('t')].item():.3f} of it)")
        ax.text(2.5, top_left - 6.0, note, ha="center", va="top", fontsize=8.5)
        ax.set_xlim(-2.0, 5.6), ax.set_ylim(top_left - 7.4, top_left + 2.3)
    arrow(axes[2], -2.6, top_left - 2.5, -1.9, top_left - 2.5)
    return finish(fig, axes)


def bigram_network_row():
    """Notebook 00: one position through the network: the current id's one-hot row picks a row of W (V, V), its
    logits go through softmax, and the loss is -ln of the target's probability; the gradient is p - onehot."""
    counts = pair_counts()
    current, target = ord("t"), ord("h")
    probs = (counts[current] + 0.001) / (counts[current] + 0.001).sum()
    logits = probs.log()
    shown_ids = [ord("h"), ord(" "), ord("o"), ord("e"), ord("a"), ord("t")]
    fig, ax = plt.subplots(figsize=(15, 5.4))

    def strip(y, values, colour_of, fmt, note):
        for k, (i, v) in enumerate(zip(shown_ids, values)):
            colour = colour_of(i)
            cell(ax, k, y, colour, fmt(v), "white" if colour in (BLUE, ORANGE) else INK, fontsize=8)
        ax.text(len(shown_ids) - 0.3, y, "…", ha="left", va="center", fontsize=14, color=INK)
        ax.text(len(shown_ids) + 0.4, y, note, ha="left", va="center", fontsize=9, color=INK)

    matrix(ax, -7.0, 3.3, 6, 6, LIGHT_BLUE, "W", "(V, V) = (257, 257)")
    t_row = 2
    for j in range(6):
        cell(ax, -7.0 + j * 0.5, 3.3 - t_row * 0.5, BLUE, size=0.46)
    ax.text(-7.45, 3.3 - t_row * 0.5, f"row '{shown(current)}'", ha="right", va="center", fontsize=9)
    arrow(ax, -4.1, 2.3, -0.7, 2.3, f"one-hot('{shown(current)}') @ W = W['{shown(current)}']\n"
          "a row lookup, as nn.Embedding does")
    for k, i in enumerate(shown_ids):
        ax.text(k, 2.95, shown(i), ha="center", va="bottom", fontsize=10)
    ax.text(2.5, 3.55, "next id j  (6 of V = 257 shown)", ha="center", fontsize=9)
    strip(2.3, [logits[i].item() for i in shown_ids], lambda i: LIGHT_BLUE, lambda v: f"{v:.2f}",
          "logits W['t'] (1, V): here the counting model's log-probabilities,\nwhere training ends up")
    strip(0.9, [probs[i].item() for i in shown_ids], lambda i: ORANGE if i == target else LIGHT_BLUE,
          lambda v: f"{v:.3f}", f"softmax (1, V): sums to 1 over all V ids;\nthe target '{shown(target)}' gets "
          f"p = {probs[target].item():.3f}")
    grad = [probs[i].item() - (i == target) for i in shown_ids]
    strip(-0.5, grad, lambda i: ORANGE if i == target else LIGHT_BLUE, lambda v: f"{v:+.3f}",
          "∂L/∂logits = softmax − one-hot(target), (1, V): the target's\nlogit goes up, every other one down by "
          "its probability")
    for y0, y1, label, colour in ((2.3, 0.9, "softmax", INK), (0.9, -0.5, "backward", ORANGE)):
        ax.annotate("", xy=(-0.75, y1 + 0.35), xytext=(-0.75, y0 - 0.35),
                    arrowprops=dict(arrowstyle="->", color=colour, lw=1.3))
        ax.text(-0.95, (y0 + y1) / 2, label, ha="right", va="center", fontsize=8.5, color=colour)
    loss = -math.log(probs[target].item())
    box(ax, -7.6, -0.5, 5.9, ORANGE, f"L = −ln p('{shown(target)}') = −ln {probs[target].item():.3f} = {loss:.3f}",
        fontsize=9.5)
    ax.text(-4.65, -1.2, "cross-entropy: −ln of the orange probability", ha="center", va="top", fontsize=8.5)
    ax.text(3.5, 4.6, f"one position of the network: current id '{shown(current)}', target (next) id "
            f"'{shown(target)}'", ha="center", fontsize=11, weight="bold")
    ax.set_xlim(-8.2, 15.8), ax.set_ylim(-1.7, 5.0)
    return finish(fig, [ax])


NOTEBOOK = "00_raw_ops.ipynb"
DRAWINGS = (   # each shown by one markdown cell of NOTEBOOK, as attachment:<function name>.png
    broadcast_shapes,
    logistic_neuron_graph,
    text_to_byte_ids,
    bigram_count_table,
    bigram_network_row,
)
