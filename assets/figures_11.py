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


def verifiable_reward_pipeline():
    """Notebook 11: from a completion's text to a number. The correctness reward reads the last whole number and
    compares it with the task's answer; the format reward asks for a bare number. No model anywhere."""
    fig, ax = plt.subplots(figsize=(14.5, 5.0))
    rows = [("7", "['7']", "7", 1, 1), ("She had 3, then 7.", "['3,', '7']", "7", 1, 0),
            ("The story does not say.", "[]", "None", 0, 0), ("1,200", "['1,200']", "1200", 0, 0)]
    xs = (0, 4.6, 8.1, 10.6, 12.9)
    heads = (("completion text", "a str (or chat messages)"), ("re.findall", r"-?\d[\d,]*"),
             ("parse_answer", "last one, commas out, int"), ("correctness", "== int(answer)"),
             ("format", r"the text: fullmatch \s*\d+\s*"))
    widths = (3.8, 2.6, 1.9, 1.6, 1.6)
    for x, w, (title, sub) in zip(xs, widths, heads):
        ax.text(x + w / 2, 1.35, title, ha="center", va="bottom", fontsize=10, weight="bold")
        ax.text(x + w / 2, 0.85, sub, ha="center", va="bottom", fontsize=8.5, color=INK)
    for i, (text, found, parsed, right, bare) in enumerate(rows):
        y = -i * 1.15
        box(ax, xs[0], y, widths[0], BLUE, f'"{text}"', fontsize=9)
        box(ax, xs[1], y, widths[1], LIGHT_BLUE, found, text_colour=INK, fontsize=9)
        box(ax, xs[2], y, widths[2], LIGHT_BLUE if parsed != "None" else GREY, parsed, text_colour=INK, fontsize=9)
        for x, w, value in ((xs[3], widths[3], right), (xs[4], widths[4], bare)):
            box(ax, x, y, w, ORANGE if value else GREY, f"{value:.1f}", text_colour="white" if value else INK,
                fontsize=9.5)
        for a, b in ((0, 1), (1, 2), (2, 3)):
            arrow(ax, xs[a] + widths[a] + 0.02, y, xs[b] - 0.02, y)
    ax.text(6.4, -4.35, "the task's answer is \"7\" in every row; a batch of G completions gives rewards of shape (G,): "
            "correctness [1, 1, 0, 0], format [1, 0, 0, 0]", ha="center", va="center", fontsize=8.5, color=INK)
    ax.set_xlim(-0.3, 14.7), ax.set_ylim(-4.7, 2.0)
    return finish(fig, [ax])


def rollout_batch_layout():
    """Notebook 11: one rollout batch. Two prompts, each repeated G = 3 times and left-padded; the sampled
    completions, cut after each row's stop token and right-padded; the completion mask and the truncated flag."""
    fig, axes = plt.subplots(1, 3, figsize=(14.5, 5.6), gridspec_kw={"width_ratios": [1.35, 1.1, 1.0]})
    prompts = [["Tom", "ran", "?"], ["How", "many", "did", "Mia", "?"]]
    completions = [["7", "end"], ["The", "story", "does", "not"], ["3", "end"],
                   ["5", "end"], ["5", ".", "end"], ["4", "end"]]
    P, T, G = 5, 4, 3
    ys = [3.2 - r * 1.05 - (r // G) * 0.45 for r in range(len(completions))]
    ax = axes[0]
    for r, y in enumerate(ys):
        words = prompts[r // G]
        for t in range(P):
            real = t >= P - len(words)
            cell(ax, t, y, BLUE if real else GREY, words[t - P + len(words)] if real else "pad",
                 "white" if real else INK, fontsize=8)
        ax.text(-0.75, y, f"row {r}", ha="right", va="center", fontsize=8.5)
    for g in range(2):
        top, bottom = ys[g * G] + 0.45, ys[g * G + G - 1] - 0.45
        ax.plot([-2.15, -2.15], [bottom, top], color=INK, lw=1.2)
        ax.text(-2.35, (top + bottom) / 2, f"task {g}\n× G", ha="right", va="center", fontsize=8.5)
    ax.text(2, 4.3, "prompt_ids (B·G, P) = (6, 5)", ha="center", fontsize=10, weight="bold")
    ax.text(2, 3.85, "B = 2 tasks, each G = 3 times, left-padded", ha="center", fontsize=8.5)
    ax.text(2, -3.55, "prompt_mask (6, 5): 0 on pad, 1 on the prompt", ha="center", fontsize=8.5)
    ax.set_xlim(-3.6, 4.7), ax.set_ylim(-4.0, 4.8)

    ax = axes[1]
    for r, (y, words) in enumerate(zip(ys, completions)):
        for t in range(T):
            if t < len(words):
                cell(ax, t, y, ORANGE if words[t] == "end" else BLUE, words[t], fontsize=8)
            else:
                cell(ax, t, y, GREY, "pad", INK, fontsize=8)
    ax.text(1.5, 4.3, "completion_ids (B·G, T) = (6, 4)", ha="center", fontsize=10, weight="bold")
    ax.text(1.5, 3.85, "sampled; after the stop token: pad", ha="center", fontsize=8.5)
    ax.text(1.5, -3.55, "orange: the stop token (end of turn)", ha="center", fontsize=8.5)
    ax.set_xlim(-0.8, 4.0), ax.set_ylim(-4.0, 4.8)

    ax = axes[2]
    for r, (y, words) in enumerate(zip(ys, completions)):
        for t in range(T):
            on = t < len(words)
            cell(ax, t, y, LIGHT_BLUE if on else "white", str(int(on)), INK, fontsize=8.5)
            if not on:
                ax.add_patch(plt.Rectangle((t - 0.45, y - 0.45), 0.9, 0.9, fill=False, edgecolor=GREY))
        stopped = "end" in words
        ax.text(T + 0.2, y, "False" if stopped else "True", ha="left", va="center", fontsize=8.5,
                color=INK if stopped else ORANGE, weight="normal" if stopped else "bold")
    ax.text(1.5, 4.3, "completion_mask (6, 4)", ha="center", fontsize=10, weight="bold")
    ax.text(1.5, 3.85, "1 up to and including the stop", ha="center", fontsize=8.5)
    ax.text(T + 0.7, 3.85, "truncated\n(6,)", ha="center", va="bottom", fontsize=8.5, weight="bold")
    ax.text(2.2, -3.55, "row 1 never stopped within T: truncated", ha="center", fontsize=8.5)
    ax.set_xlim(-0.8, 5.8), ax.set_ylim(-4.0, 4.8)
    return finish(fig, axes)


def clipped_ratio_objective():
    """Notebook 11: the clipped objective on a (2, 4) batch, A = +1 and -1, clip range [0.8, 1.2]. Orange: the
    clipped term is the smaller one, so the token gets no gradient; grey: masked out."""
    ratios = [[1.05, 1.31, 0.90, None], [0.70, 1.10, 0.95, 1.25]]
    advantages, low, high = (1.0, -1.0), 0.8, 1.2
    fig, axes = plt.subplots(1, 3, figsize=(14.5, 3.9), gridspec_kw={"width_ratios": [1.2, 1.2, 1.25]})
    losses = []
    for ax, panel in zip(axes, ("ratio", "clipped", "loss")):
        for b, (row, a) in enumerate(zip(ratios, advantages)):
            y = 1.0 - b * 1.3
            row_losses = []
            for t, rho in enumerate(row):
                if rho is None:
                    cell(ax, t, y, GREY, "pad", INK, fontsize=8)
                    continue
                clip = min(max(rho, low), high)
                no_gradient = clip * a < rho * a and clip != rho
                value = {"ratio": rho, "clipped": clip, "loss": -min(rho * a, clip * a)}[panel]
                row_losses.append(value)
                colour = BLUE if panel == "ratio" else (ORANGE if no_gradient else BLUE)
                if panel == "clipped" and clip == rho:
                    colour = LIGHT_BLUE
                cell(ax, t, y, colour, f"{value:+.2f}" if panel == "loss" else f"{value:.2f}",
                     INK if colour == LIGHT_BLUE else "white", fontsize=8.5)
            if panel == "ratio":
                ax.text(-0.75, y, f"A = {a:+.0f}", ha="right", va="center", fontsize=9)
            if panel == "loss":
                losses.append(sum(row_losses) / len(row_losses))
                ax.text(3.7, y, f"mean {losses[-1]:+.3f}", ha="left", va="center", fontsize=8.5)
        ax.set_xlim(-1.9, 5.6), ax.set_ylim(-2.3, 1.8)
    axes[0].set_title("ρ = exp(logps − old_logps)\n(B, T) = (2, 4)", fontsize=10, weight="bold")
    axes[1].set_title("clip(ρ, 1 − ε_low, 1 + ε_high)\nε = 0.2: [0.8, 1.2]", fontsize=10, weight="bold")
    axes[2].set_title("ℓ = −min(ρ·A, clip(ρ)·A)\nA: (B,) → (B, 1), × completion_mask", fontsize=10, weight="bold")
    axes[1].text(1.5, -1.45, "light: inside the range, unchanged", ha="center", fontsize=8.5)
    axes[1].text(1.5, -1.95, "blue: clipped, but the min takes the unclipped term", ha="center", fontsize=8.5)
    axes[2].text(1.8, -1.45, f"loss_type grpo: mean of the rows = {sum(losses) / 2:+.4f}", ha="center",
                 fontsize=8.5)
    fig.text(0.5, 0.02, "orange: the clipped term won the min, so that token gets no gradient (A > 0 and ρ > 1.2, or "
             "A < 0 and ρ < 0.8); a bad token at ρ = 1.25 is not clipped: it keeps being pushed down.\n"
             "With β > 0, each token's ℓ also gets + β · k3 KL to the reference · ρ, before the mask.",
             ha="center", fontsize=8.5)
    for ax in axes[:2]:
        arrow(ax, 3.7, 0.35 - 0.3, 5.2, 0.35 - 0.3)
    return finish(fig, axes)


DRAWINGS = [grpo_group, verifiable_reward_pipeline, rollout_batch_layout, clipped_ratio_objective, token_weights,
            ppo_gae]
