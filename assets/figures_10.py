"""Drawn figures of notebook 10; `python assets/figures.py --notebook 10` redraws and embeds them."""
from __future__ import annotations

import math

from drawing import BLUE, DOC2, GREY, INK, LIGHT_BLUE, ORANGE, arrow, box, cell, finish, mask_grid, matrix, plt  # noqa: F401


NOTEBOOK = "10_preference_tuning.ipynb"

# One unanswerable pair, tokenized as the chat tokenizer does (the answer starts with a space), and made-up
# per-token log-probs of a model that already prefers the refusal.
PAIR_CHOSEN = [("␣The", -0.31), ("␣story", -0.05), ("␣do", -0.04), ("es", -0.01), ("␣not", -0.02), ("␣say", -0.03),
               (".", -0.02), ("<|im_end|>", -0.02)]
PAIR_REJECTED = [("␣beaver", -3.42), ("<|im_end|>", -0.10)]


def _answer_row(ax, x0, y, tokens, colour, width, slots):
    """An answer's tokens after the prompt, padded to `slots`; below them the completion mask and each token's
    log-prob; returns the sum."""
    for j in range(slots):
        x = x0 + j * width
        if j < len(tokens):
            text, logp = tokens[j]
            box(ax, x, y, width, colour, text, fontsize=7.5 if len(text) > 6 else 8)
            box(ax, x, y - 0.85, width, "white", "1", INK, height=0.6, fontsize=9)
            box(ax, x, y - 1.55, width, "white", f"{logp:.2f}", INK, height=0.6, fontsize=8.5)
        else:
            box(ax, x, y, width, GREY, "pad", INK, fontsize=8)
            box(ax, x, y - 0.85, width, "white", "0", INK, height=0.6, fontsize=9)
            box(ax, x, y - 1.55, width, "white", "·", INK, height=0.6, fontsize=8.5)
    return sum(logp for _, logp in tokens)


def preference_pair_tokens():
    """Notebook 10: a preference pair as two rows of one batch. The prompt is shared, the answers differ in length;
    completion_mask is 1 on the answer tokens (and their end-of-turn token), and the sum of their log-probs is the
    answer's log-probability."""
    fig, ax = plt.subplots(figsize=(14.5, 5.6))
    prompt_w, width, slots = 5.2, 1.25, len(PAIR_CHOSEN)
    x0 = prompt_w + 0.1
    for y, tokens, colour, name, who in ((5.0, PAIR_CHOSEN, BLUE, "chosen", "y_w"),
                                          (1.4, PAIR_REJECTED, ORANGE, "rejected", "y_l")):
        box(ax, 0, y, prompt_w, LIGHT_BLUE, "prompt: template, story, question,\n<|im_start|>assistant⏎", INK,
            fontsize=8)
        box(ax, 0, y - 0.85, prompt_w, "white", "0 0 0 … 0", INK, height=0.6, fontsize=9)
        box(ax, 0, y - 1.55, prompt_w, "white", "read, not scored", INK, height=0.6, fontsize=8.5)
        total = _answer_row(ax, x0, y, tokens, colour, width, slots)
        for dy, label in ((0, f"{name} row"), (-0.85, "completion_mask"), (-1.55, "log p(token | before)")):
            ax.text(-0.25, y + dy, label, ha="right", va="center", fontsize=9, weight="bold" if dy == 0 else None)
        xs = x0 + slots * width + 0.35
        arrow(ax, xs - 0.2, y - 1.55, xs + 0.6, y - 1.55)
        ax.text(xs + 0.75, y - 1.55, f"Σ = {total:.2f} = log π({who} | x)\n{len(tokens)} answer tokens",
                ha="left", va="center", fontsize=9, color=colour)
    ax.text(x0 + slots * width / 2, 0.65 - 1.55, "padding: attention_mask 0, never scored", ha="center",
            va="top", fontsize=8.5)
    ax.text(x0 + len(PAIR_CHOSEN) * width / 2, 5.75, "the answer: 1 in the mask, its log-probs summed", ha="center",
            va="bottom", fontsize=8.5)
    ax.set_title("a pair as two rows of one batch: (2n, T), the n chosen rows first, right-padded; "
                 "'What kind of animal is Fudge?'", fontsize=11, weight="bold", loc="left")
    ax.set_xlim(-3.6, x0 + slots * width + 4.2), ax.set_ylim(-0.9, 6.2)
    return finish(fig, [ax])


def reward_model_head():
    """Notebook 10: the reward model. The transformer body turns each row into hidden states (2n, T, d); the scalar
    head `score` reads the last real token of each row; the Bradley-Terry loss compares the pair's two scores."""
    fig, ax = plt.subplots(figsize=(14.5, 4.4))
    lengths, slots = (6, 4), 6
    for r, (y, colour, name) in enumerate(((3.0, BLUE, "chosen"), (1.2, ORANGE, "rejected"))):
        for j in range(slots):
            real = j < lengths[r]
            cell(ax, j, y, (LIGHT_BLUE if j < 3 else colour) if real else GREY, "" if real else "pad",
                 INK, fontsize=7.5)
            hidden = DOC2 if j == lengths[r] - 1 else (LIGHT_BLUE if real else GREY)
            cell(ax, 10.6 + j, y, hidden, "h" if real else "", "white" if hidden == DOC2 else INK, fontsize=8)
        ax.text(-0.7, y, name, ha="right", va="center", fontsize=9, weight="bold")
        ax.text(10.6 + lengths[r] - 1, y - 0.6, f"last = {lengths[r] - 1}", ha="center", va="top", fontsize=8)
        box(ax, 17.6, y, 2.0, DOC2, "h[last]  (d,)", fontsize=8.5)
        arrow(ax, 19.7, y, 21.0, y, "· score")
        cell(ax, 21.6, y, colour, "r_w" if r == 0 else "r_l", fontsize=9)
    arrow(ax, 16.2, 3.0, 17.55, 3.0)
    ax.annotate("", xy=(17.55, 0.95), xytext=(14.0, 0.85),
                arrowprops=dict(arrowstyle="->", color=INK, lw=1.4, connectionstyle="arc3,rad=0.3"))
    ax.text(2.5, 3.65, "input_ids (2n, T): prompt, answer, padding", ha="center", va="bottom", fontsize=9)
    arrow(ax, 5.6, 2.1, 6.6, 2.1)
    box(ax, 6.7, 2.1, 2.8, GREY, "transformer body\n(the chat model\nwithout lm_head)", INK, height=2.6, fontsize=8.5)
    arrow(ax, 9.5, 2.1, 10.1, 2.1)
    ax.text(13.1, 3.65, "hidden states (2n, T, d)", ha="center", va="bottom", fontsize=9)
    ax.text(13.1, 0.1, "last real token: the last 1 of attention_mask", ha="center", va="top", fontsize=8.5)
    ax.text(18.6, 3.65, "gathered: (2n, d)", ha="center", va="bottom", fontsize=9)
    ax.text(20.35, 0.1, "score: Linear(d, 1),\none scalar per row: (2n,)", ha="center", va="top", fontsize=8.5)
    arrow(ax, 22.2, 2.1, 23.0, 2.1)
    box(ax, 23.1, 2.1, 4.4, LIGHT_BLUE, "loss = −log σ(r_w − r_l)\nP(y_w ≻ y_l) = σ(r_w − r_l)", INK, height=1.4,
        fontsize=9)
    ax.text(25.3, 3.0, "Bradley–Terry", ha="center", va="bottom", fontsize=9, weight="bold")
    ax.set_title("the reward model: the language model's head (d, V) replaced by one scalar, read at each row's "
                 "last real token", fontsize=11, weight="bold", loc="left")
    ax.set_xlim(-2.2, 27.7), ax.set_ylim(-0.9, 4.3)
    return finish(fig, [ax])


def _logsigmoid(z):
    return -math.log1p(math.exp(-z)) if z > 0 else z - math.log1p(math.exp(z))


def dpo_loss_curves():
    """Notebook 10: the losses of DPO's family as functions of the margin z = beta * (log-ratio of the chosen answer
    - log-ratio of the rejected one); IPO's squared loss against the per-token margin, with its target 1 / (2 beta)."""
    fig, axes = plt.subplots(1, 2, figsize=(14.5, 4.6), gridspec_kw={"width_ratios": [1.35, 1]})
    zs = [-4 + 8 * i / 400 for i in range(401)]
    eps, gamma = 0.1, 0.5
    ax = axes[0]
    curves = (("sigmoid: −log σ(z)", BLUE, "-", lambda z: -_logsigmoid(z)),
              (f"robust (ε = {eps}): flipped labels corrected", LIGHT_BLUE, "--",
               lambda z: (-(1 - eps) * _logsigmoid(z) + eps * _logsigmoid(-z)) / (1 - 2 * eps)),
              ("hinge: relu(1 − z)", ORANGE, "-", lambda z: max(0.0, 1 - z)),
              (f"SimPO: −log σ(z − γ), γ = {gamma}, z on mean log-probs", DOC2, "-",
               lambda z: -_logsigmoid(z - gamma)))
    for label, colour, style, f in curves:
        ax.plot(zs, [f(z) for z in zs], style, color=colour, lw=2.2, label=label)
    ax.plot([0], [math.log(2)], "o", color=INK)
    ax.annotate("z = 0 at the start (policy = reference):\nloss log 2 = 0.693", (0, math.log(2)), (0.6, 2.6),
                fontsize=8.5, arrowprops=dict(arrowstyle="->", color=INK))
    ax.annotate("hinge: exactly 0 once z ≥ 1,\nno gradient", (1, 0), (2.0, 0.9), fontsize=8.5,
                arrowprops=dict(arrowstyle="->", color=ORANGE))
    ax.set(xlabel="z = β · [log π_θ/π_ref (y_w) − log π_θ/π_ref (y_l)]", ylabel="loss", ylim=(-0.6, 4.6))
    ax.axhline(0, color=GREY, lw=1)
    ax.legend(fontsize=8.5, loc="upper right")
    ax.set_title("DPO's losses against the margin z (β = the pull to the reference)", fontsize=11, weight="bold", loc="left")
    ax = axes[1]
    ds = [-2 + 10 * i / 400 for i in range(401)]
    for beta, colour in ((0.1, BLUE), (0.5, ORANGE)):
        target = 1 / (2 * beta)
        ax.plot(ds, [(d - target) ** 2 for d in ds], color=colour, lw=2.2, label=f"β = {beta}: target {target:g}")
        ax.axvline(target, color=colour, lw=1, ls=":")
    ax.set(xlabel="per-token margin: mean log-ratio of y_w − of y_l", ylabel="loss", ylim=(-1, 38))
    ax.legend(fontsize=8.5, loc="upper center")
    ax.text(1.5, 19, "a margin past the target\nis pulled back: the loss\nstops growing the gap", fontsize=8.5,
            ha="left")
    ax.set_title("ipo: (margin − 1/(2β))², a target, not a race", fontsize=11, weight="bold", loc="left")
    for a in axes:
        a.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


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
    ax.set_title("one DPO step: four summed log-probs per pair, the reference's without gradients (or precomputed)",
                 fontsize=11, weight="bold", loc="left")
    ax.set_xlim(-1.5, 21.2), ax.set_ylim(-0.5, 4.8)
    return finish(fig, [ax])


def reference_adapter_off():
    """Notebook 10: where the reference model comes from. Full fine-tuning keeps a second, frozen copy of every
    weight; with LoRA the frozen base is the reference: the same layer with its adapter switched off."""
    fig, axes = plt.subplots(1, 2, figsize=(14.5, 5.6), gridspec_kw={"width_ratios": [1, 1.45]})
    ax = axes[0]
    matrix(ax, 0, 3, 6, 6, BLUE, "W_θ → π_θ", "trained\n(and AdamW's two moments)")
    matrix(ax, 4.2, 3, 6, 6, GREY, "W_ref → π_ref", "a frozen copy\nof every weight")
    ax.text(3.35, -1.9, "memory: two copies of the model", ha="center", fontsize=9.5, weight="bold")
    ax.set_title("full fine-tuning: a second model", fontsize=11, weight="bold", loc="left")
    ax.set_xlim(-0.8, 7.6), ax.set_ylim(-2.4, 4.2)
    ax = axes[1]
    for y0, on in ((3.6, True), (-0.4, False)):
        matrix(ax, 0, y0, 4, 4, GREY, "W (frozen)", "")
        ax.text(2.5, y0 - 0.75, "+", fontsize=18, ha="center", va="center")
        if on:
            matrix(ax, 3.3, y0, 4, 1, BLUE, "B", "(out, r)")
            matrix(ax, 4.3, y0 - 0.5, 1, 4, BLUE, "A", "(r, in)")
            ax.text(6.6, y0 - 0.75, "adapter on: W x + (α/r) B A x  →  π_θ", fontsize=9.5, va="center",
                    color=BLUE)
        else:
            box(ax, 3.2, y0 - 0.75, 2.6, "white", "adapter off", INK, height=1.6, fontsize=9)
            ax.add_patch(plt.Rectangle((3.3, y0 - 1.5), 2.4, 1.5, fill=False, edgecolor=GREY, ls="--"))
            ax.text(6.6, y0 - 0.75, "with adapters_disabled(model): W x  →  π_ref", fontsize=9.5, va="center")
    ax.text(0.75, 0.9, "the same W: one model, two functions", ha="left", va="center", fontsize=9, color=INK)
    ax.text(6.0, -2.6, "memory: one copy of the model, plus r (in + out) numbers per adapted matrix",
            ha="center", fontsize=9.5, weight="bold")
    ax.set_title("LoRA: the same weights, the adapter switched off", fontsize=11, weight="bold", loc="left")
    ax.set_xlim(-0.6, 13.0), ax.set_ylim(-3.0, 4.9)
    return finish(fig, axes)


DRAWINGS = [preference_pair_tokens, reward_model_head, dpo_loss_curves, dpo_flow, reference_adapter_off]
