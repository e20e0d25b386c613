"""Drawn figures of notebook 01; `python assets/figures.py --notebook 01` redraws and embeds them.

Every number on these figures is computed from the bundled training stories with `rawllm.tokenizer` when the
figure is drawn, so a regenerated corpus redraws them true.
"""
from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path

from drawing import BLUE, DOC2, GREY, INK, LIGHT_BLUE, ORANGE, arrow, box, cell, finish, mask_grid, matrix, plt  # noqa: F401

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "notebooks"))


def shown(data: bytes) -> str:
    """Bytes as a figure label: a space as ␣, a line break as ↵."""
    return data.decode("utf-8", errors="backslashreplace").replace(" ", "␣").replace("\n", "↵")


@lru_cache(maxsize=None)
def corpus_pieces():
    """The distinct pre-tokens of the training stories with their counts, as the fast trainer sees them."""
    from rawllm.tokenizer import compile_pattern, count_pieces
    from rawllm.world import corpus_texts
    return count_pieces(corpus_texts("train"), compile_pattern(None))


@lru_cache(maxsize=None)
def small_tokenizer():
    """The notebook's `tok` at its CPU default: 512 learned tokens from the first 100 stories, the 4 specials."""
    from rawllm.tokenizer import SERIES_SPECIAL_TOKENS, BPETokenizer
    from rawllm.world import corpus_texts
    return BPETokenizer.train(corpus_texts("train")[:100], 512 + len(SERIES_SPECIAL_TOKENS),
                              special_tokens=SERIES_SPECIAL_TOKENS)


def bpe_merge_step():
    """Notebook 01: the first merge of training on the stories, seen on one word: its bytes, the pair counts over
    the whole corpus, the most frequent pair becoming id 256, and the word rewritten."""
    from rawllm.tokenizer import count_pairs, merge_pair, tie_rank
    pieces = corpus_pieces()
    words = [list(p.encode("utf-8")) for p in pieces]
    pair_counts, _ = count_pairs(words, list(pieces.values()))
    ranked = sorted(pair_counts, key=lambda p: (-pair_counts[p], tie_rank(p[0]), tie_rank(p[1])))
    best = ranked[0]
    word = " again"
    ids = list(word.encode("utf-8"))
    fig, ax = plt.subplots(figsize=(14.5, 5.4))
    ax.text(2.5, 5.3, f"1. the word '{shown(word.encode())}' ({pieces[word]:,} times in the stories) as bytes",
            ha="center", fontsize=10, weight="bold")
    in_best = {j for i, pair in enumerate(zip(ids, ids[1:])) if pair == best for j in (i, i + 1)}
    for i, b in enumerate(ids):
        cell(ax, i, 4.2, ORANGE if i in in_best else BLUE,
             shown(bytes([b])), fontsize=10)
        ax.text(i, 4.7, str(b), ha="center", va="bottom", fontsize=8.5, color=INK)
    for i, pair in enumerate(zip(ids, ids[1:])):
        colour = ORANGE if pair == best else INK
        ax.text(i + 0.5, 3.45, f"{pair_counts[pair]:,}", ha="center", va="top", fontsize=8.5, color=colour)
    ax.text(2.5, 2.7, "under each gap: how often that pair occurs in all the stories\n"
            "(each distinct word's pairs, times the word's count)", ha="center", va="center", fontsize=8.5)
    ax.text(10.6, 5.3, "2. pair counts over the corpus: the top 5", ha="center", fontsize=10, weight="bold")
    for r, (a, b) in enumerate(ranked[:5]):
        y = 4.4 - r * 0.75
        colour = ORANGE if r == 0 else LIGHT_BLUE
        cell(ax, 8.6, y, colour, shown(bytes([a])), "white" if r == 0 else INK, size=0.62)
        cell(ax, 9.3, y, colour, shown(bytes([b])), "white" if r == 0 else INK, size=0.62)
        ax.text(9.8, y, f"({a}, {b})", ha="left", va="center", fontsize=9)
        ax.text(12.9, y, f"{pair_counts[a, b]:,}", ha="right", va="center", fontsize=9,
                weight="bold" if r == 0 else "normal")
    ax.text(10.8, 0.5, f"the winner leads by {pair_counts[best] - pair_counts[ranked[1]]:,}; "
            "equal counts would go\nto the smaller tie_rank pair", ha="center", va="center", fontsize=8.5)
    arrow(ax, 13.3, 4.4, 14.9, 4.4, "the most\nfrequent")
    a, b = best
    ax.text(17.0, 5.3, "3. give it the next id", ha="center", fontsize=10, weight="bold")
    box(ax, 15.2, 4.4, 3.6, ORANGE, f"merge 0: ({a}, {b}) → 256", fontsize=9.5)
    ax.text(17.0, 3.6, f"token 256 = b'{shown(bytes([a]))}' + b'{shown(bytes([b]))}'\n"
            "the vocabulary: 256 + 1 = 257 tokens\nrepeat on the rewritten words", ha="center", va="top",
            fontsize=9)
    new = merge_pair(ids, a, b, 256)
    arrow(ax, 2.5, 2.0, 2.5, 1.1)
    ax.text(2.7, 1.55, f"merge_pair(word, {a}, {b}, 256)", ha="left",
            va="center", fontsize=8.5)
    for i, t in enumerate(new):
        cell(ax, i, 0.4, ORANGE if t == 256 else BLUE, shown(bytes(best)) if t == 256 else shown(bytes([t])),
             fontsize=10)
        ax.text(i, -0.2, str(t), ha="center", va="top", fontsize=8.5)
    ax.text(2.5, -0.8, f"4. the word rewritten: {len(ids)} → {len(new)} tokens", ha="center", va="top",
            fontsize=10, weight="bold")
    ax.text(2.5, -1.35, f"the second '{shown(bytes([b]))}' follows '{shown(bytes([ids[2]]))}', not "
            f"'{shown(bytes([a]))}': it stays a byte", ha="center", va="top", fontsize=8.5)
    ax.set_xlim(-0.9, 20.0), ax.set_ylim(-1.9, 5.8)
    return finish(fig, [ax])


# the alternatives of GPT-4's pattern, in order, with the colour and the words the figure gives each
ALTERNATIVES = [(r"'(?i:[sdmt]|ll|ve|re)", DOC2, "a contraction"),
                (r"[^\r\n\p{L}\p{N}]?+\p{L}+", BLUE, "letters, at most one non-letter before"),
                (r"\p{N}{1,3}", LIGHT_BLUE, "1 to 3 digits"),
                (r" ?[^\s\p{L}\p{N}]++[\r\n]*", ORANGE, "punctuation, a space before, line breaks after"),
                (r"\s*[\r\n]|\s+(?!\S)|\s+", GREY, "whitespace")]


def pretokenize_chunks():
    """Notebook 01: GPT-4's pattern cuts a story sentence into chunks, each coloured by the alternative that
    matched it; BPE then works inside each chunk, so no pair, and no merge, crosses a boundary."""
    import regex
    from rawllm.tokenizer import compile_pattern, split_text
    text = 'Patrick said, "Don\'t worry, Omar, I can help."\n\nThen'
    chunks = split_text(text, compile_pattern(None))
    fig, ax = plt.subplots(figsize=(15, 4.2))
    scale = 0.34
    widths = [scale * len(c) + 0.45 for c in chunks]
    total = sum(widths) + 0.12 * (len(chunks) - 1)
    ax.text(total / 2, 5.2, "the text: one sentence of a story (a str)", ha="center", fontsize=10, weight="bold")
    box(ax, 0, 4.4, total, GREY, shown(text.encode()), INK, fontsize=10)
    arrow(ax, total / 2, 3.85, total / 2, 3.05)
    ax.text(total / 2 + 0.3, 3.45, "split_text(text, GPT-4's pattern): the alternatives tried in order at each "
            "position", ha="left", va="center", fontsize=9)
    x, starts = 0.0, []
    for chunk, width in zip(chunks, widths):
        colour = next(c for pattern, c, _ in ALTERNATIVES if regex.fullmatch(pattern, chunk))
        box(ax, x, 2.4, width, colour, shown(chunk.encode()), "white" if colour in (BLUE, DOC2, ORANGE) else INK,
            fontsize=9.5)
        starts.append(x)
        x += width + 0.12
    ax.text(total / 2, 1.65, f"{len(chunks)} pre-tokens (chunks); joined again they give the text back",
            ha="center", va="center", fontsize=9)
    for k, (pattern, colour, words) in enumerate(ALTERNATIVES):
        xk, yk = 0.0, 0.95 - k * 0.5
        cell(ax, xk + 0.2, yk, colour, size=0.42)
        ax.text(xk + 0.55, yk, f"{words}:  {pattern}", ha="left", va="center", fontsize=8.5)
    left, right = chunks.index(" help"), chunks.index(" help") + 1
    zoom = [(b, 0) for b in chunks[left].encode()] + [(b, 1) for b in chunks[right].encode()]
    x0 = starts[left] - 1.0
    ax.text(x0 - 0.6, -0.1, "BPE inside each chunk:", ha="right", va="center", fontsize=10, weight="bold")
    for j, (b, side) in enumerate(zoom):
        xj = x0 + j * 0.75 + 0.5 * side
        cell(ax, xj, -0.1, BLUE if side == 0 else ORANGE, shown(bytes([b])), size=0.66, fontsize=9)
    xb = x0 + (len(chunks[left]) - 1) * 0.75 + 0.6
    ax.plot([xb, xb], [-0.6, 0.4], color=INK, lw=1.2, linestyle="--")
    ax.text(xb + 3.6, -0.1, f"the pair ({ord(chunks[left][-1])}, {ord(chunks[right][0])}) = "
            f"('{chunks[left][-1]}', '{chunks[right][0]}') is never counted,\nso '{chunks[left].strip()}"
            f"{chunks[right][0]}' can never become a token",
            ha="left", va="center", fontsize=9)
    ax.set_xlim(-0.4, total + 1.2), ax.set_ylim(-1.4, 5.6)
    return finish(fig, [ax])


def encode_by_rank():
    """Notebook 01: encoding a word the training stories never held: at each step the lowest-rank merge among the
    word's pairs is applied, until no pair has a rank."""
    from rawllm.tokenizer import merge_pair
    tok = small_tokenizer()
    word = " raindrops"
    ids, steps = list(word.encode("utf-8")), []
    while True:
        pairs = list(zip(ids, ids[1:]))
        ranks = [tok._rank_of.get(p) for p in pairs]
        best = min((r for r in ranks if r is not None), default=None)
        steps.append((list(ids), ranks, best))
        if best is None:
            break
        pair, new, _ = tok._table[best]
        ids = merge_pair(ids, *pair, new)
    fig, ax = plt.subplots(figsize=(14.5, 0.75 * len(steps) + 1.0))
    n_bytes = len(word.encode("utf-8"))
    ax.text(n_bytes / 2 - 0.5, 1.0, f"encode '{shown(word.encode())}': not in the training stories",
            ha="center", fontsize=10, weight="bold")
    ax.text(13.5, 1.0, "the lowest rank among the word's pairs wins", ha="center", fontsize=10, weight="bold")
    for r, (ids, ranks, best) in enumerate(steps):
        y = -r * 1.15
        spans, x = [], -0.5
        for t in ids:
            n = len(tok.token_bytes(t))
            spans.append((x, n))
            x += n
        hit = ranks.index(best) if best is not None else None
        for k, (t, (x, n)) in enumerate(zip(ids, spans)):
            colour = ORANGE if hit is not None and k in (hit, hit + 1) else BLUE
            box(ax, x, y, n, colour, shown(tok.token_bytes(t)), fontsize=9.5, height=0.7)
        for k, rank in enumerate(ranks):
            xg = spans[k + 1][0]
            ax.text(xg, y - 0.47, "·" if rank is None else str(rank), ha="center", va="center", fontsize=8,
                    color=ORANGE if k == hit else INK, weight="bold" if k == hit else "normal",
                    bbox=dict(boxstyle="round,pad=0.12", facecolor="white", edgecolor="none"))
        label = "bytes" if r == 0 else f"step {r}"
        ax.text(-0.9, y, label, ha="right", va="center", fontsize=9)
        if best is not None:
            (a, b), new, _ = tok._table[best]
            ax.text(10.2, y, f"rank {best}: '{shown(tok.token_bytes(a))}' + '{shown(tok.token_bytes(b))}' → "
                    f"'{shown(tok.token_bytes(new))}' (id {new})", ha="left", va="center", fontsize=9)
        else:
            ax.text(10.2, y, f"no pair has a rank: done, ids {ids}", ha="left", va="center", fontsize=9)
    ax.text(n_bytes / 2 - 0.5, -len(steps) * 1.15 + 0.3, "under each gap: the rank of that pair in the merge "
            "list (· none); rank = the merge's place in training order", ha="center", va="center", fontsize=8.5)
    ax.set_xlim(-2.0, 18.5), ax.set_ylim(-len(steps) * 1.15 - 0.1, 1.5)
    return finish(fig, [ax])


def vocab_layout():
    """Notebook 01: the ids of the series' tokenizer: 256 bytes, then the merged tokens in training order, then
    the special tokens; vocab_size is the number of rows of the model's embedding table."""
    from rawllm.tokenizer import SERIES_SPECIAL_TOKENS, SERIES_VOCAB_SIZE, BPETokenizer
    from rawllm.world import corpus_texts
    tok = BPETokenizer.train(corpus_texts("train"), SERIES_VOCAB_SIZE, special_tokens=SERIES_SPECIAL_TOKENS)
    n_merged = tok.vocab_size - 256 - len(tok.special_tokens)
    fig, ax = plt.subplots(figsize=(15, 3.3))
    x, y = 0.0, 1.6
    groups = []

    def token(t, width, colour, label, below="", text_colour="white"):
        nonlocal x
        box(ax, x, y, width, colour, label, text_colour, fontsize=8.5)
        ax.text(x + width / 2, y + 0.6, str(t), ha="center", va="bottom", fontsize=8)
        if below:
            ax.text(x + width / 2, y - 0.6, below, ha="center", va="top", fontsize=7.5, color=INK)
        x += width

    def dots():
        nonlocal x
        ax.text(x + 0.35, y, "…", ha="center", va="center", fontsize=12)
        x += 0.7

    start = x
    for t in (0, 1, None, 32, None, 97, 98, None, 255):
        if t is None:
            dots()
        else:
            token(t, 0.9, BLUE, shown(bytes([t])) if 32 <= t < 127 else f"\\x{t:02x}")
    groups.append((start, x, f"256 bytes: ids 0–255", BLUE))
    x += 0.4
    start = x
    merged = list(range(256, 261)) + [None] + list(range(256 + n_merged - 2, 256 + n_merged))
    for t in merged:
        if t is None:
            dots()
            continue
        a, b = tok.merges[t - 256]
        token(t, max(1.3, 0.16 * len(tok.token_bytes(t)) + 0.5), DOC2, shown(tok.token_bytes(t)), f"{a} + {b}")
    groups.append((start, x, f"{n_merged:,} merged tokens, in training order: ids 256–{255 + n_merged}", DOC2))
    x += 0.4
    start = x
    for s, t in tok.special_tokens.items():
        token(t, 2.0, ORANGE, s)
    groups.append((start, x, f"{len(tok.special_tokens)} special tokens: ids {256 + n_merged}–{tok.vocab_size - 1}",
                   ORANGE))
    for x0, x1, text, colour in groups:
        ax.plot([x0 + 0.05, x1 - 0.05], [0.45, 0.45], color=colour, lw=3, solid_capstyle="round")
        ax.text((x0 + x1) / 2, 0.2, text, ha="center", va="top", fontsize=9, weight="bold", color=INK)
    ax.text(x / 2, 3.0, f"the series' tokenizer: vocab_size = 256 + {n_merged:,} + {len(tok.special_tokens)} = "
            f"{tok.vocab_size:,} ids = the rows of the embedding table (V, d)", ha="center", fontsize=10,
            weight="bold")
    ax.text(x / 2, -0.55, "under a merged token: the two ids it joins (each made earlier); a special token is "
            "never made by a merge", ha="center", va="top", fontsize=8.5)
    ax.set_xlim(-0.3, x + 0.3), ax.set_ylim(-1.0, 3.4)
    return finish(fig, [ax])


def incremental_pair_update():
    """Notebook 01: the fast trainer's bookkeeping for one word when (h, e) is merged: only the pairs around each
    occurrence change, each by the word's count, and only the words listed in where[(h, e)] are visited."""
    from rawllm.tokenizer import count_pairs, merge_in_word, train_merges
    pieces = corpus_pieces()
    a, b = train_merges(pieces, 258)[1]
    new = 257
    words = [list(p.encode("utf-8")) for p in pieces]
    _, where = count_pairs(words, list(pieces.values()))
    word = " there"
    count = pieces[word]
    before = list(word.encode("utf-8"))
    after, changes = merge_in_word(before, a, b, new)
    spell = {t: bytes([t]) for t in range(256)} | {new: bytes([a, b])}
    name = lambda t: shown(spell[t])
    fig, ax = plt.subplots(figsize=(14.5, 5.0))
    ax.text(2.5, 4.9, f"the word '{shown(word.encode())}', c_w = {count:,} (its count in the stories)",
            ha="center", fontsize=10, weight="bold")
    for i, t in enumerate(before):
        cell(ax, i, 3.9, ORANGE if t in (a, b) and (before[i - 1:i + 1] == [a, b] or before[i:i + 2] == [a, b])
             else BLUE, name(t), fontsize=10)
    arrow(ax, 2.5, 3.25, 2.5, 2.25)
    ax.text(2.7, 2.75, f"merge ({a}, {b}) → {new}", ha="left", va="center", fontsize=9)
    for i, t in enumerate(after):
        cell(ax, i, 1.6, ORANGE if t == new else BLUE, name(t), fontsize=10)
    ax.text(2.5, 0.85, "merge_in_word returns the new word and the pair changes", ha="center", fontsize=9)
    ax.text(11.0, 4.9, "pair_counts[p] += change × c_w", ha="center", fontsize=10, weight="bold")
    for r, ((x, y), delta) in enumerate(changes):
        yy = 4.0 - r * 0.7
        colour = GREY if delta < 0 else DOC2
        cell(ax, 8.3, yy, colour, name(x), INK if delta < 0 else "white", size=0.6, fontsize=9)
        cell(ax, 8.95, yy, colour, name(y), INK if delta < 0 else "white", size=0.6, fontsize=9)
        ax.text(9.5, yy, f"({x}, {y})", ha="left", va="center", fontsize=9)
        ax.text(13.6, yy, f"{delta:+d} × {count:,} = {delta * count:+,}", ha="right", va="center", fontsize=9)
        ax.text(13.9, yy, "gone" if delta < 0 else "new: where[p] gains the word,\na heap entry is pushed",
                ha="left", va="center", fontsize=8.5)
    untouched = [p for p in zip(before, before[1:]) if p != (a, b) and all(p != c for c, _ in changes)]
    ax.text(11.0, 0.95, f"untouched: {', '.join(f'({name(x)}, {name(y)})' for x, y in untouched)}; "
            f"({name(a)}, {name(b)}) itself is not decremented: merged, it leaves the heap",
            ha="center", va="center", fontsize=8.5)
    ax.text(8.0, 0.1, f"one merge visits only the words in where[({a}, {b})]: {len(where[a, b]):,} of the "
            f"{len(pieces):,} distinct words; never the whole corpus", ha="center", va="center", fontsize=9.5,
            color=BLUE, weight="bold")
    ax.set_xlim(-0.8, 17.5), ax.set_ylim(-0.3, 5.3)
    return finish(fig, [ax])


NOTEBOOK = "01_tokenizer.ipynb"
DRAWINGS = (   # each shown by one markdown cell of NOTEBOOK, as attachment:<function name>.png
    pretokenize_chunks,
    bpe_merge_step,
    incremental_pair_update,
    encode_by_rank,
    vocab_layout,
)
