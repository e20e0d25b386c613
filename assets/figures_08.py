"""Drawn figures of notebook 08; `python assets/figures.py --notebook 08` redraws and embeds them."""
from __future__ import annotations


from drawing import BLUE, DOC2, GREY, INK, LIGHT_BLUE, ORANGE, arrow, box, cell, finish, mask_grid, matrix, plt  # noqa: F401


NOTEBOOK = "08_supervised_fine_tuning.ipynb"


def chat_template_mask():
    """Notebook 08: one conversation through the chat template, and the mask of the tokens SFT trains on."""
    pieces = [("<|im_start|>", 1.6, "t"), ("user", 0.8, "t"), ("\u23ce", 0.5, "t"),
              ("Story: Tom found a red kite. ...  Question: What colour was the kite?", 7.2, "u"),
              ("<|im_end|>", 1.4, "t"), ("\u23ce", 0.5, "t"), ("<|im_start|>", 1.6, "t"), ("assistant", 1.3, "t"),
              ("\u23ce", 0.5, "t"), ("red", 0.7, "a"), ("<|im_end|>", 1.4, "a"), ("\u23ce", 0.5, "t")]
    colours = {"t": GREY, "u": LIGHT_BLUE, "a": BLUE}
    fig, ax = plt.subplots(figsize=(14.5, 3.0))
    x = 0.0
    for text, width, kind in pieces:
        box(ax, x, 2, width, colours[kind], text, "white" if kind == "a" else INK, fontsize=8)
        box(ax, x, 0.9, width, colours[kind] if kind == "a" else "white", "1" if kind == "a" else "0",
            "white" if kind == "a" else INK, height=0.7)
        box(ax, x, 0, width, "white", "its id" if kind == "a" else "-100", INK, height=0.7)
        x += width
    for y, label in ((2, "text"), (0.9, "assistant_masks"), (0, "labels")):
        ax.text(-0.3, y, label, ha="right", va="center", fontsize=9)
    ax.text(x / 2, 2.85, "read, not learned (grey: the template, light blue: the user)          "
            "learned: the answer and its end-of-turn marker (blue)", ha="center", fontsize=9.5)
    ax.set_xlim(-3.2, x + 0.2), ax.set_ylim(-0.6, 3.2)
    ax.axis("off")
    fig.tight_layout()
    return fig


def padding_vs_packing():
    """Notebook 08: five conversations as padded rows, and packed first-fit into rows of 12 tokens."""
    lengths, names = [6, 9, 4, 7, 3], "ABCDE"
    palette = [BLUE, DOC2, ORANGE, "#8e6bb8", "#c0504d"]
    fig, axes = plt.subplots(1, 2, figsize=(14.5, 4.2), gridspec_kw={"width_ratios": [9, 12]})
    ax = axes[0]
    for r, n in enumerate(lengths):
        for t in range(9):
            real = t < n
            cell(ax, t, 4 - r, palette[r] if real else GREY, names[r] if real else "", fontsize=8)
    ax.set_title("padding: (5, 9), 29 of 45 slots real, attention_mask 0 on grey", fontsize=10)
    ax.set_xlim(-0.6, 8.6), ax.set_ylim(-0.8, 4.6)
    ax = axes[1]
    rows = [[0, 2], [1, 4], [3]]
    for r, row in enumerate(rows):
        t = 0
        for i in row:
            for p in range(lengths[i]):
                cell(ax, t, 3 - 1.3 * r, palette[i], str(p), fontsize=8)
                t += 1
        for p in range(t, 12):
            cell(ax, p, 3 - 1.3 * r, GREY)
    ax.set_title("packing: (3, 12), 29 of 36 slots real; position_ids (the numbers) restart per conversation",
                 fontsize=10)
    ax.set_xlim(-0.6, 11.6), ax.set_ylim(-0.8, 4.6)
    return finish(fig, axes)


DRAWINGS = [chat_template_mask, padding_vs_packing]
