"""Drawn figures of notebook 08; `python assets/figures.py --notebook 08` redraws and embeds them."""
from __future__ import annotations


from drawing import BLUE, DOC2, GREY, INK, LIGHT_BLUE, ORANGE, arrow, box, cell, finish, mask_grid, matrix, plt  # noqa: F401


NOTEBOOK = "08_supervised_fine_tuning.ipynb"


def chat_template_mask():
    """Notebook 08: one conversation through the chat template, and the mask of the tokens SFT trains on."""
    pieces = [("<|im_start|>", 1.6, "t"), ("user", 0.8, "t"), ("\u23ce", 0.5, "t"),
              ("Story: Tom found a red kite. ...  Question: What colour was the kite?", 7.2, "u"),
              ("<|im_end|>", 1.4, "t"), ("\u23ce", 0.5, "t"), ("<|im_start|>", 1.6, "t"), ("assistant", 1.3, "t"),
              ("\u23ce", 0.5, "t"), ("\u2423red", 0.8, "a"), ("<|im_end|>", 1.4, "a"), ("\u23ce", 0.5, "t")]
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
            "learned: the answer (after a space, \u2423) and its end-of-turn marker (blue)", ha="center", fontsize=9.5)
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


# The series tokenizer's ids (notebook 01) of a sentence of a validation story and of its look-up answer.
STORY_TOKENS = [("\u2026", None), ("\u2423Wes", 2067), ("\u2423felt", 420), ("\u2423very", 381), ("\u2423glad", 738),
                (".", None), ("\u2026", None)]
BARE_ANSWER = [("g", 103), ("l", 108), ("ad", 348)]


def _template_row(ax, y, label):
    """The generation prompt's last tokens (grey), from x = 0 to 5, with the row's name on the left."""
    ax.text(-0.3, y, label, ha="right", va="center", fontsize=9.5, weight="bold")
    for x, width, text in ((0, 2.0, "<|im_start|>"), (2.0, 2.0, "assistant"), (4.0, 1.0, "\u23ce")):
        box(ax, x, y, width, GREY, text, INK, fontsize=8.5)


def answer_first_token():
    """Notebook 08: the look-up answer "glad" as one token copied from the story when it follows a space, and as
    three tokens that the story never holds when it follows the template's newline."""
    fig, ax = plt.subplots(figsize=(14.5, 5.4))
    width = 1.25
    ax.text(-0.3, 4.4, "the story (user turn)", ha="right", va="center", fontsize=9.5, weight="bold")
    for j, (text, token_id) in enumerate(STORY_TOKENS):
        x = j * width
        box(ax, x, 4.4, width, BLUE if text == "\u2423glad" else LIGHT_BLUE, text,
            "white" if text == "\u2423glad" else INK, fontsize=9)
        if token_id is not None:
            ax.text(x + width / 2, 3.8, str(token_id), ha="center", va="center", fontsize=8, color=INK)
    glad_x = 4 * width + width / 2                          # the story's ␣glad starts where the template ends
    _template_row(ax, 1.6, 'answer_prefix = " "')
    box(ax, glad_x - width / 2, 1.6, width, BLUE, "\u2423glad", fontsize=9)
    ax.text(glad_x, 1.0, "738", ha="center", va="center", fontsize=8, color=INK)
    box(ax, glad_x + width / 2, 1.6, 2.0, GREY, "<|im_end|>", INK, fontsize=8.5)
    arrow(ax, glad_x, 3.55, glad_x, 2.15, "")
    ax.text(glad_x + 0.15, 2.85, "copy: the same id", ha="left", va="center", fontsize=9, color=BLUE)
    ax.text(glad_x + width / 2 + 2.3, 1.6, "1 answer token, the story's own: copying it is what an induction head "
            "does (notebook 07)", ha="left", va="center", fontsize=9, color=INK)
    _template_row(ax, -0.6, 'answer_prefix = ""')
    for j, (text, token_id) in enumerate(BARE_ANSWER):
        box(ax, 5.0 + j * 1.0, -0.6, 1.0, ORANGE, text, fontsize=9)
        ax.text(5.5 + j * 1.0, -1.2, str(token_id), ha="center", va="center", fontsize=8, color=INK)
    box(ax, 8.0, -0.6, 2.0, GREY, "<|im_end|>", INK, fontsize=8.5)
    ax.text(10.3, -0.6, "3 answer tokens, none of them in the story: the model must spell the word", ha="left",
            va="center", fontsize=9, color=INK)
    ax.set_title("The answer's first token: after a space it is the story's token, after the newline it is not "
                 "(ids below the tokens)", fontsize=11, weight="bold", loc="left")
    ax.set_xlim(-3.4, 21.2), ax.set_ylim(-1.6, 5.0)
    return finish(fig, [ax])


def exact_match_harness():
    """Notebook 08: one test item through evaluate_chat: the conversation up to the turn with the generation
    prompt, greedy tokens until <|im_end|>, decoded, stripped and normalised, compared with the expected answer,
    and counted in its kind."""
    fig, ax = plt.subplots(figsize=(14.5, 5.0))
    ax.text(0, 4.55, "1. prompt: the messages before the answer + the generation prompt (eval_items, encode_chat)",
            ha="left", va="center", fontsize=9.5, weight="bold")
    x = 0.0
    for text, width, colour in (("<|im_start|>user\u23ce Story: \u2026 Question: What colour was the kite?<|im_end|>\u23ce",
                                 8.6, LIGHT_BLUE), ("<|im_start|>assistant\u23ce", 3.0, GREY)):
        box(ax, x, 3.7, width, colour, text, INK, fontsize=8.5)
        x += width
    ax.text(x + 0.3, 4.55, "2. greedy tokens (generate), cut at the first stop id", ha="left", va="center",
            fontsize=9.5, weight="bold")
    for j, (text, colour) in enumerate((("\u2423Red", ORANGE), (".", ORANGE), ("<|im_end|>", BLUE),
                                        ("\u2423The", GREY), ("\u2423kite", GREY))):
        box(ax, x + 0.3 + j * 1.5, 3.7, 1.5, colour, text, "white" if colour != GREY else INK, fontsize=8.5)
    ax.text(x + 0.3 + 4.5, 2.95, "after the stop: dropped", ha="center", va="center", fontsize=8.5, color=INK)
    arrow(ax, x + 0.5, 3.15, 2.2, 1.35)
    steps = (("3. decode", '" Red."'), ("4. strip", '"Red."'), ("5. normalize_answer", '"red"'),
             ("6. expected, normalised", '"red"'))
    for j, (name, value) in enumerate(steps):
        x0 = j * 3.6
        ax.text(x0 + 1.3, 1.45, name, ha="center", va="center", fontsize=9.5, weight="bold")
        box(ax, x0, 0.7, 2.6, ORANGE if j < 3 else DOC2, value, fontsize=9.5)
        if 0 < j < 3:
            arrow(ax, x0 - 0.95, 0.7, x0 + 0.05, 0.7)
    ax.text(3 * 3.6 - 0.5, 0.7, "=", ha="center", va="center", fontsize=14, color=INK)
    ax.text(4 * 3.6 - 0.2, 1.45, "7. score: [right, total] per kind", ha="left", va="center", fontsize=9.5,
            weight="bold")
    for j, (kind, tally) in enumerate((("lookup", "[1, 1] \u2190 +1"), ("unknown", "[0, 0]"),
                                       ("arithmetic", "[0, 0]"))):
        ax.text(4 * 3.6, 0.7 - j * 0.55, f"{kind:11s} {tally}", ha="left", va="center", fontsize=9, color=INK,
                family="DejaVu Sans Mono")
    arrow(ax, 3 * 3.6 + 2.7, 0.7, 4 * 3.6 - 0.25, 0.7)
    ax.text(0, -1.05, "exact match = right answers / items, over all kinds; the base model's few-shot baseline goes "
            "through the same steps with plain-text prompts and a newline as its stop", ha="left", va="center",
            fontsize=8.5, color=INK)
    ax.set_xlim(-0.3, 20.4), ax.set_ylim(-1.4, 4.9)
    return finish(fig, [ax])


def copy_task():
    """Notebook 08: the copy task (random ids written twice, labels on the second copy from its second token) and
    the induction step that predicts it: at the second "k", find the earlier "k" and copy the token after it."""
    ids = ["g", "k", "s", "b", "m"]
    n = len(ids)
    fig, ax = plt.subplots(figsize=(14.5, 4.4))
    for t in range(2 * n):
        second = t >= n
        cell(ax, t, 2.4, DOC2 if second else BLUE, ids[t % n], fontsize=10)
        ax.text(t, 1.8, str(t), ha="center", va="center", fontsize=8, color=INK)
        learned = t > n
        cell(ax, t, 1.2, ORANGE if learned else "white", ids[t % n] if learned else "-100",
             "white" if learned else INK, fontsize=8)
    ax.text(-0.8, 2.4, "input_ids", ha="right", va="center", fontsize=9)
    ax.text(-0.8, 1.2, "labels", ha="right", va="center", fontsize=9)
    ax.text(-0.8, 1.8, "position", ha="right", va="center", fontsize=8, color=INK)
    ax.text((n - 1) / 2, 4.25, f"copy 1: {n} random ids (length L)", ha="center", fontsize=10, weight="bold")
    ax.text(n + (n - 1) / 2, 4.25, "copy 2: the same ids again", ha="center", fontsize=10, weight="bold")
    ax.text((2 * n - 1) / 2, 0.45, "learned only where an earlier copy makes the token predictable: the second copy "
            "from its second token (the first copy is noise)", ha="center", fontsize=8.5, color=INK)
    q, k = n + 1, 1
    ax.annotate("", xy=(k + 0.1, 2.95), xytext=(q - 0.1, 2.95),
                arrowprops=dict(arrowstyle="->", color=ORANGE, lw=1.6, connectionstyle="arc3,rad=0.35"))
    ax.annotate("", xy=(q + 1, 2.9), xytext=(k + 1, 2.9),
                arrowprops=dict(arrowstyle="->", color=INK, lw=1.2, ls="--", connectionstyle="arc3,rad=-0.3"))
    ax.text(2 * n + 0.2, 2.75, "induction head, at position 6 (\"k\"):\n"
            "1. attend to the earlier \"k\" (orange)\n2. copy the token after it: \"s\"\n"
            "   = the label at position 7 (dashed)", ha="left", va="center", fontsize=9, color=INK)
    ax.set_xlim(-2.0, 2 * n + 4.4), ax.set_ylim(0.1, 4.6)
    return finish(fig, [ax])


DRAWINGS = [chat_template_mask, answer_first_token, padding_vs_packing, exact_match_harness, copy_task]
