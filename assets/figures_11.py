"""Drawn figures of notebook 11; `python assets/figures.py --notebook 11` redraws and embeds them."""
from __future__ import annotations


from drawing import BLUE, DOC2, GREY, INK, LIGHT_BLUE, ORANGE, arrow, box, cell, finish, mask_grid, matrix, plt  # noqa: F401


NOTEBOOK = "11_reinforcement_learning.ipynb"


def grpo_group():
    """Notebook 11: one GRPO batch. A task is sampled G times; a verifier scores each answer; each reward minus the
    group's mean, over its std, is the advantage every token of that answer gets."""
    fig, ax = plt.subplots(figsize=(14.5, 5.2))
    box(ax, 0, 2.5, 3.6, GREY, "task: story +\n\"How many shells ...?\"", text_colour=INK, height=1.6, fontsize=8.5)
    answers = [("7", 1), ("5", 0), ("7", 1), ("The story does not say.", 0), ("2", 0)]
    for i, (text, right) in enumerate(answers):
        y = 4.6 - i * 1.05
        arrow(ax, 3.7, 2.5, 4.7, y)
        n = max(1, len(text.split()))
        for k in range(min(n, 4)):
            cell(ax, 5.2 + k, y, BLUE, text.split()[k] if n > 1 else text, fontsize=7)
        cell(ax, 5.2 + min(n, 4), y, ORANGE, "end", fontsize=6.5)
        ax.text(10.6, y, f"r = {right}", ha="center", va="center", fontsize=9.5)
        adv = (right - 0.4) / 0.5477
        box(ax, 11.8, y, 2.4, LIGHT_BLUE if adv > 0 else GREY, f"A = {adv:+.2f}", text_colour=INK, height=0.8,
            fontsize=9)
    ax.text(7.2, 5.55, "G = 5 samples (a group): completion_ids (G, T)", ha="center", fontsize=9.5)
    ax.text(10.6, 5.55, "verifier", ha="center", fontsize=9.5)
    ax.text(13.0, 5.55, "(r - mean) / std", ha="center", fontsize=9.5)
    ax.text(7.2, -0.5, "blue: sampled tokens, orange: the stop token (both masked in)", ha="center", fontsize=8.5)
    ax.text(13.0, -0.5, "mean 0.4, std 0.55 over the group", ha="center", fontsize=8.5)
    ax.set_xlim(-0.5, 14.8), ax.set_ylim(-0.9, 6.0)
    return finish(fig, [ax])


def token_weights():
    """Notebook 11: how each loss type weighs one token of a short and of a long completion (same advantage)."""
    fig, axes = plt.subplots(1, 3, figsize=(14.5, 2.3))
    lengths, limit = (2, 6), 8
    rules = (("grpo: per sequence, then the mean", lambda n: 1 / (len(lengths) * n)),
             ("bnpo / dapo: over all tokens", lambda n: 1 / sum(lengths)),
             ("dr_grpo: over batch x max length", lambda n: 1 / (len(lengths) * limit)))
    for ax, (title, weight) in zip(axes, rules):
        for row, n in enumerate(lengths):
            for t in range(limit):
                real = t < n
                cell(ax, t, -row * 1.2, BLUE if real else GREY, f"{weight(n):.3f}" if real else "",
                     fontsize=6.5)
            ax.text(-0.9, -row * 1.2, f"{n} tokens", ha="right", va="center", fontsize=8.5)
        ax.set_title(title, fontsize=10)
        ax.set_xlim(-3.2, limit), ax.set_ylim(-2.0, 0.8)
    fig.suptitle("the weight of each token's term in the loss (2 completions, max_completion_length 8)", fontsize=10)
    return finish(fig, axes)


def ppo_gae():
    """Notebook 11: PPO for language. The policy's body feeds the vocabulary head and a value head; the reward is
    a KL penalty at every token plus the task's score at the last; GAE turns rewards and values into advantages."""
    fig, ax = plt.subplots(figsize=(14.5, 4.8))
    tokens = ["7", "end"]
    box(ax, 0, 3.6, 3.2, GREY, "prompt", text_colour=INK)
    for k, t in enumerate(tokens):
        cell(ax, 3.7 + k, 3.6, BLUE if k == 0 else ORANGE, t, fontsize=7)
    box(ax, 6.0, 3.6, 3.0, BLUE, "transformer body")
    arrow(ax, 5.1, 3.6, 6.0, 3.6)
    arrow(ax, 9.0, 3.6, 10.0, 4.3)
    arrow(ax, 9.0, 3.6, 10.0, 2.9)
    box(ax, 10.0, 4.3, 3.0, LIGHT_BLUE, "lm_head: log π (B, T)", text_colour=INK, height=0.8)
    box(ax, 10.0, 2.9, 3.0, ORANGE, "v_head: V (B, T)", height=0.8)
    ax.text(4.2, 2.2, "r_t = −kl_coef · (log π − log π_ref)_t   (+ score at the last token)", ha="left", fontsize=9)
    ax.text(4.2, 1.5, "δ_t = r_t + γ V_{t+1} − V_t        A_t = Σ_k (γλ)^k δ_{t+k}   (one matrix product)",
            ha="left", fontsize=9)
    ax.text(4.2, 0.8, "loss = clipped policy loss(A, whitened) + vf_coef · clipped value loss(V, A + V_old)",
            ha="left", fontsize=9)
    ax.set_xlim(-0.5, 14.5), ax.set_ylim(0.3, 5.0)
    return finish(fig, [ax])


DRAWINGS = [grpo_group, token_weights, ppo_gae]
