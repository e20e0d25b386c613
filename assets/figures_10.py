"""Drawn figures of notebook 10; `python assets/figures.py --notebook 10` redraws and embeds them."""
from __future__ import annotations


from drawing import BLUE, DOC2, GREY, INK, LIGHT_BLUE, ORANGE, arrow, box, cell, finish, mask_grid, matrix, plt  # noqa: F401


NOTEBOOK = "10_preference_tuning.ipynb"


def dpo_flow():
    """Notebook 10: one DPO step. A pair becomes two rows of one batch (chosen, rejected); the policy and the frozen
    reference each give a summed log-prob per row; the loss compares the two log-ratios."""
    fig, ax = plt.subplots(figsize=(14.5, 4.6))
    for y, colour, name in ((3.2, BLUE, "chosen"), (1.2, ORANGE, "rejected")):
        box(ax, 0, y, 5, GREY, "prompt: story + question", text_colour=INK)
        box(ax, 5.2, y, 2.2, colour, name)
        ax.text(-0.5, y, "row", ha="right", va="center", fontsize=8.5)
    ax.text(3.7, 4.25, "a batch of 2n rows (n chosen, then n rejected): (2n, T)", ha="center", fontsize=9.5)
    ax.text(6.3, 0.35, "completion_mask: 1 on the answer only", ha="center", fontsize=8.5, color=INK)
    for y, colour, text in ((3.9, BLUE, "policy π_θ (trained)"), (0.5, GREY, "reference π_ref (frozen,\nor the adapter off)")):
        box(ax, 9.0, y, 3.4, colour, text, text_colour="white" if colour == BLUE else INK, height=1.1)
    arrow(ax, 7.6, 2.2, 8.9, 3.7)
    arrow(ax, 7.6, 2.2, 8.9, 0.7)
    for y, text in ((4.3, "log π_θ(y_w|x)"), (3.5, "log π_θ(y_l|x)"), (0.9, "log π_ref(y_w|x)"), (0.1, "log π_ref(y_l|x)")):
        ax.text(12.7, y, text, fontsize=9, va="center")
    arrow(ax, 15.0, 3.9, 16.0, 2.4)
    arrow(ax, 15.0, 0.5, 16.0, 2.0)
    box(ax, 16.1, 2.2, 4.6, LIGHT_BLUE, "loss = −log σ(β [(θ−ref)_w − (θ−ref)_l])", text_colour=INK, height=1.1,
        fontsize=8.5)
    ax.text(18.4, 3.2, "reward = β · log-ratio,  each (n,)", ha="center", fontsize=8.5)
    ax.set_xlim(-1.5, 21.2), ax.set_ylim(-0.5, 4.8)
    return finish(fig, [ax])


DRAWINGS = [dpo_flow]
