# Generated from notebooks/01_tokenizer.ipynb by notebooks/export.py. Do not edit: change the notebook and re-export.

"""Byte-level BPE, trained and applied exactly as Hugging Face `tokenizers` does (notebook 01)."""
import hashlib
import heapq
import html
import json
from collections import Counter, defaultdict
from itertools import repeat
from pathlib import Path

import regex

from rawllm.core import atomic_write


def merge_pair(word: list[int], a: int, b: int, new: int) -> list[int]:
    """Replace every occurrence of the pair (a, b) in `word`, left to right, by `new`."""
    out, i, n = [], 0, len(word)
    while i < n:
        if i + 1 < n and word[i] == a and word[i + 1] == b:
            out.append(new)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return out


GPT4_PATTERN = (r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*"""
                r"""|\s*[\r\n]|\s+(?!\S)|\s+""")


def compile_pattern(pattern: str | None):
    """The compiled split pattern; `None` means GPT-4's."""
    pattern = GPT4_PATTERN if pattern is None else pattern
    if not isinstance(pattern, str):
        raise TypeError(f"pattern must be a str (a regular expression), got {type(pattern).__name__}")
    try:
        return regex.compile(pattern)
    except regex.error as e:
        raise ValueError(f"pattern {pattern!r} is not a valid regular expression: {e}") from None


def split_text(text: str, compiled) -> list[str]:
    """Pre-tokens of `text`: the pattern's matches, and each stretch between two matches as one piece."""
    if not compiled.groups:
        pieces = compiled.findall(text)            # the fast path: the matches tile the text
        if sum(map(len, pieces)) == len(text) and "" not in pieces:
            return pieces
    pieces, end = [], 0
    for m in compiled.finditer(text):
        if m.start() == m.end():
            raise ValueError(f"the split pattern matched the empty string at position {m.start()}; "
                             "a split pattern must match at least one character")
        if m.start() > end:
            pieces.append(text[end:m.start()])
        pieces.append(m.group())
        end = m.end()
    return pieces + [text[end:]] if end < len(text) else pieces


def byte_level_alphabet() -> list[str]:
    """GPT-2's printable stand-in for each byte: `alphabet[b]` is the character that spells byte b.

    Bytes that print as themselves in Latin-1 ('!'..'~', '¡'..'¬', '®'..'ÿ') keep their code point;
    the 68 others (control bytes, space, 0x7F-0xA0, 0xAD) take U+0100, U+0101, ... in byte order.
    """
    printable = set(range(0x21, 0x7F)) | set(range(0xA1, 0xAD)) | set(range(0xAE, 0x100))
    alphabet, shifted = [], 0
    for b in range(256):
        if b in printable:
            alphabet.append(chr(b))
        else:
            alphabet.append(chr(0x100 + shifted))
            shifted += 1
    return alphabet


BYTE_CHARS = byte_level_alphabet()
BYTE_TIE_RANK = [sorted(BYTE_CHARS).index(c) for c in BYTE_CHARS]


def to_byte_level(data: bytes) -> str:
    """Spell bytes with the byte-level alphabet, as `tokenizer.json` files do: b' hi' -> 'Ġhi'."""
    return "".join(BYTE_CHARS[b] for b in data)


def tie_rank(token: int) -> int:
    """Where Hugging Face's numbering puts our token: bytes by byte-level character, then merges in order."""
    return BYTE_TIE_RANK[token] if token < 256 else token


def train_naive(text_or_texts, vocab_size: int, pattern: str | None = None) -> list[tuple[int, int]]:
    """The textbook trainer: count every pair in every pre-token, merge the best everywhere, repeat.

    Returns the merges in order. A merge whose bytes already have a token reuses that token's id.
    """
    compiled = compile_pattern(pattern)
    words = [list(p.encode("utf-8")) for t in as_texts(text_or_texts) for p in split_text(t, compiled)]
    token_bytes = [bytes([b]) for b in range(256)]
    ids = {tb: i for i, tb in enumerate(token_bytes)}
    merges = []
    while len(token_bytes) < vocab_size:
        counts = Counter()
        for w in words:
            counts.update(zip(w, w[1:]))
        if not counts:
            break
        a, b = max(counts, key=lambda p: (counts[p], -tie_rank(p[0]), -tie_rank(p[1])))
        new = ids.setdefault(token_bytes[a] + token_bytes[b], len(token_bytes))
        if new == len(token_bytes):
            token_bytes.append(token_bytes[a] + token_bytes[b])
        words = [merge_pair(w, a, b, new) for w in words]
        merges.append((a, b))
    return merges


def as_texts(text_or_texts) -> list[str]:
    """One str or an iterable of str, as a list; anything else is a TypeError that says what it got."""
    if isinstance(text_or_texts, str):
        return [text_or_texts]
    if isinstance(text_or_texts, (bytes, bytearray)):
        raise TypeError("training text must be str, got bytes; decode it first: data.decode('utf-8')")
    try:
        texts = list(text_or_texts)
    except TypeError:
        raise TypeError(f"training text must be a str or an iterable of str, "
                        f"got {type(text_or_texts).__name__}") from None
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"training text #{i} is {type(t).__name__}, not str")
    return texts


def count_pieces(texts: list[str], compiled) -> Counter:
    """How often each distinct pre-token occurs: {' the': 51234, '.': 40211, ...}."""
    counts = Counter()
    for text in texts:
        counts.update(split_text(text, compiled))
    return counts


def count_pairs(words: list[list[int]], counts: list[int]):
    """`pair_counts[p]`: occurrences of pair p weighted by word counts; `where[p]`: the words that hold p."""
    pair_counts, where = defaultdict(int), defaultdict(set)
    for i, (w, c) in enumerate(zip(words, counts)):
        for pair in zip(w, w[1:]):
            pair_counts[pair] += c
            where[pair].add(i)
    return pair_counts, where


def merge_in_word(word: list[int], a: int, b: int, new: int):
    """Merge (a, b) -> new in `word`; return the new word and the pair changes [((x, y), +1 or -1), ...]."""
    out, changes, i, n = [], [], 0, len(word)
    while i < n:
        if i + 1 < n and word[i] == a and word[i + 1] == b:
            if out:                                    # the pair on the left: (x, a) -> (x, new)
                changes += [((out[-1], a), -1), ((out[-1], new), 1)]
            if i + 2 < n:                              # the pair on the right: (b, y) -> (new, y)
                changes += [((b, word[i + 2]), -1), ((new, word[i + 2]), 1)]
            out.append(new)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return out, changes


def train_merges(piece_counts: dict[str, int], max_tokens: int) -> list[tuple[int, int]]:
    """Merges growing the 256 byte tokens towards `max_tokens`, learned from distinct pre-tokens with counts."""
    words = [list(piece.encode("utf-8")) for piece in piece_counts]
    counts = list(piece_counts.values())
    pair_counts, where = count_pairs(words, counts)
    heap = [(-pair_counts[p], tie_rank(p[0]), tie_rank(p[1]), p, pos) for p, pos in where.items()]
    heapq.heapify(heap)
    token_bytes = [bytes([b]) for b in range(256)]
    ids = {tb: i for i, tb in enumerate(token_bytes)}
    merges = []
    while heap and len(token_bytes) < max_tokens:
        neg_count, rank_a, rank_b, (a, b), pos = heapq.heappop(heap)
        if -neg_count != pair_counts[a, b]:            # stale entry: requeue with the current count
            heapq.heappush(heap, (-pair_counts[a, b], rank_a, rank_b, (a, b), pos))
            continue
        if neg_count == 0:
            break
        new = ids.setdefault(token_bytes[a] + token_bytes[b], len(token_bytes))
        if new == len(token_bytes):                    # otherwise these bytes already have a token
            token_bytes.append(token_bytes[a] + token_bytes[b])
        merges.append((a, b))
        gained = defaultdict(set)
        for i in pos:
            words[i], changes = merge_in_word(words[i], a, b, new)
            for pair, delta in changes:
                pair_counts[pair] += delta * counts[i]
                if delta > 0:
                    gained[pair].add(i)
        for p, ws in gained.items():
            if pair_counts[p] > 0:
                heapq.heappush(heap, (-pair_counts[p], tie_rank(p[0]), tie_rank(p[1]), p, ws))
    return merges


SERIES_SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>")
SERIES_VOCAB_SIZE = 4096


def check_special_tokens(special_tokens, spelled_vocab=frozenset(BYTE_CHARS)) -> tuple[str, ...]:
    """Special tokens as a tuple of distinct, non-empty strings, none spelled like an ordinary token."""
    if isinstance(special_tokens, str):
        raise TypeError(f"special_tokens must be a sequence of str, not one str; write [{special_tokens!r}]")
    specials = tuple(special_tokens)
    for s in specials:
        if not isinstance(s, str) or not s:
            raise ValueError(f"special tokens must be non-empty strings, got {s!r}")
        if s in spelled_vocab:
            raise ValueError(f"special token {s!r} is spelled like an ordinary token (a byte, or a merge learned "
                             "from the text); choose a string that text cannot produce, such as '<|name|>'")
    repeated = sorted({s for s in specials if specials.count(s) > 1})
    if repeated:
        raise ValueError(f"special tokens must be distinct; repeated: {repeated}")
    return specials


def build_merge_table(merges):
    """From merges in training order: each token's bytes, each pair's rank, and per rank (pair, result, at_once)."""
    token_bytes = [bytes([b]) for b in range(256)]
    ids, rank_of, first_rank = {tb: i for i, tb in enumerate(token_bytes)}, {}, {}
    results = []
    for rank, (a, b) in enumerate(merges):
        if not (0 <= a < len(token_bytes) and 0 <= b < len(token_bytes)):
            raise ValueError(f"merge #{rank} ({a}, {b}) uses a token id that no earlier merge made "
                             f"(ids so far: 0..{len(token_bytes) - 1})")
        new = ids.setdefault(token_bytes[a] + token_bytes[b], len(token_bytes))
        if new == len(token_bytes):
            token_bytes.append(token_bytes[a] + token_bytes[b])
            first_rank[new] = rank
        rank_of[a, b] = rank                           # a repeated pair counts at its last rank
        results.append(new)
    table = [(merges[r], results[r], first_rank.get(results[r]) == r) for r in range(len(merges))]
    return token_bytes, rank_of, table


def encode_piece(data: bytes, rank_of: dict, table: list) -> list[int]:
    """BPE on one pre-token: apply the lowest-rank merge present (leftmost first) until none applies."""
    ids, no_merge = list(data), len(table)
    while len(ids) > 1:
        pairs = list(zip(ids, ids[1:]))
        rank = min(map(rank_of.get, pairs, repeat(no_merge)))
        if rank == no_merge:
            break
        pair, new, at_once = table[rank]
        if at_once:
            ids = merge_pair(ids, *pair, new)
        else:
            i = pairs.index(pair)
            ids[i:i + 2] = [new]
    return ids


class BPETokenizer:
    """Byte-level BPE. Ids: 0-255 the bytes, then the merged tokens, then the special tokens."""

    def __init__(self, merges, special_tokens=(), pattern: str | None = None):
        self.pattern = GPT4_PATTERN if pattern is None else pattern
        self._regex = compile_pattern(self.pattern)
        self.merges = [(int(a), int(b)) for a, b in merges]
        self._bytes, self._rank_of, self._table = build_merge_table(self.merges)
        specials = check_special_tokens(special_tokens, {to_byte_level(b) for b in self._bytes})
        self._special_ids = {s: len(self._bytes) + i for i, s in enumerate(specials)}
        self._bytes += [s.encode("utf-8") for s in specials]
        longest_first = sorted(specials, key=len, reverse=True)
        self._special_regex = regex.compile("|".join(map(regex.escape, longest_first))) if specials else None
        self._cache = {}

    @property
    def vocab_size(self) -> int:
        """Bytes + merged tokens + special tokens."""
        return len(self._bytes)

    @property
    def special_tokens(self) -> dict[str, int]:
        return dict(self._special_ids)

    @classmethod
    def train(cls, text_or_iterable_of_texts, vocab_size: int, pattern: str | None = None, special_tokens=()):
        """Learn merges from a str or an iterable of str until `vocab_size` tokens (specials included)."""
        return train_tokenizer(cls, text_or_iterable_of_texts, vocab_size, pattern, special_tokens)

    def encode(self, text: str, allowed_special="none_raise") -> list[int]:
        return encode_text(self, text, allowed_special)

    def encode_batch(self, texts, allowed_special="none_raise") -> list[list[int]]:
        if isinstance(texts, str):
            raise TypeError("encode_batch takes a list of str; for a single str use encode")
        return [encode_text(self, t, allowed_special) for t in texts]

    def decode(self, ids) -> str:
        """Text of `ids`; bytes that are not valid UTF-8 become U+FFFD."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def decode_bytes(self, ids) -> bytes:
        return b"".join(self._bytes[i] for i in check_ids(ids, len(self._bytes)))

    def token_bytes(self, token_id: int) -> bytes:
        return self._bytes[check_ids([token_id], len(self._bytes))[0]]

    def save(self, path) -> None:
        save_tokenizer(self, path)

    @classmethod
    def load(cls, path) -> "BPETokenizer":
        return load_tokenizer(cls, path)

    def save_tokenizer_json(self, path) -> None:
        save_hf_tokenizer_json(self, path)


def train_tokenizer(cls, text_or_texts, vocab_size, pattern, special_tokens):
    if not isinstance(vocab_size, int) or isinstance(vocab_size, bool):
        raise TypeError(f"vocab_size must be an int, got {type(vocab_size).__name__}")
    specials = check_special_tokens(special_tokens)
    if vocab_size < 256 + len(specials):
        raise ValueError(f"vocab_size={vocab_size} is too small: the 256 byte tokens and the "
                         f"{len(specials)} special tokens need at least {256 + len(specials)}")
    compiled = compile_pattern(pattern)
    piece_counts = count_pieces(as_texts(text_or_texts), compiled)
    if not piece_counts:
        raise ValueError("the training text is empty: there is nothing to learn merges from")
    merges = train_merges(piece_counts, vocab_size - len(specials))
    return cls(merges, specials, pattern)


def encode_text(tok, text: str, allowed_special) -> list[int]:
    if not isinstance(text, str):
        raise TypeError(f"encode takes a str, got {type(text).__name__}")
    allowed = special_rule(tok, allowed_special)
    for s in tok._special_ids:
        if s not in allowed and allowed_special != "none" and s in text:
            raise ValueError(f"the text contains the special token {s!r}; pass allowed_special='all' (or a "
                             "set naming it) to encode it as a special token, or allowed_special='none' "
                             "to encode it as ordinary text")
    out, start = [], 0
    if allowed:
        for m in tok._special_regex.finditer(text):
            if m.group() in allowed:
                out += encode_ordinary(tok, text[start:m.start()])
                out.append(tok._special_ids[m.group()])
                start = m.end()
    return out + encode_ordinary(tok, text[start:])


def special_rule(tok, allowed_special) -> set[str]:
    """The special tokens that `allowed_special` lets through as special ids."""
    if isinstance(allowed_special, str):
        if allowed_special not in ("none_raise", "all", "none"):
            raise ValueError(f"allowed_special must be 'none_raise', 'all', 'none' or a set of special "
                             f"tokens, got {allowed_special!r}")
        return set(tok._special_ids) if allowed_special == "all" else set()
    allowed = set(allowed_special)
    unknown = sorted(allowed - set(tok._special_ids))
    if unknown:
        raise ValueError(f"allowed_special names {unknown}, which are not special tokens of this tokenizer "
                         f"(it has {sorted(tok._special_ids)})")
    return allowed


def encode_ordinary(tok, text: str) -> list[int]:
    out, cache = [], tok._cache
    for piece in split_text(text, tok._regex):
        ids = cache.get(piece)
        if ids is None:
            if len(cache) >= 500_000:
                cache.clear()
            ids = cache[piece] = encode_piece(piece.encode("utf-8"), tok._rank_of, tok._table)
        out += ids
    return out


def check_ids(ids, vocab_size: int) -> list[int]:
    """`ids` as a list of ints in [0, vocab_size); a TypeError or ValueError naming the first bad one."""
    if isinstance(ids, (str, bytes)):
        raise TypeError(f"decode takes a sequence of token ids, got {type(ids).__name__}")
    ids = list(ids)
    for pos, i in enumerate(ids):
        if isinstance(i, bool) or not hasattr(i, "__index__"):
            raise TypeError(f"token ids must be integers, got {type(i).__name__} {i!r} at position {pos}")
        if not 0 <= i < vocab_size:
            raise ValueError(f"token id {int(i)} at position {pos} is out of range: "
                             f"this vocabulary has ids 0..{vocab_size - 1}")
    return ids


FILE_FORMAT, FILE_VERSION = "rawllm-bpe", 1


def write_atomically(path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def save_tokenizer(tok, path) -> None:
    data = {"format": FILE_FORMAT, "version": FILE_VERSION, "pattern": tok.pattern,
            "vocab_size": tok.vocab_size, "special_tokens": tok.special_tokens}
    head = json.dumps(data, ensure_ascii=False, indent=1)[:-2]          # all but the closing "\n}"
    merges = ",\n  ".join(json.dumps(list(m)) for m in tok.merges)     # one merge per line
    write_atomically(path, f'{head},\n "merges": [\n  {merges}\n ]\n}}\n')


def load_tokenizer(cls, path):
    name = Path(path).name
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{name} is not a tokenizer file: it is not valid JSON ({e})") from None
    if not isinstance(data, dict) or data.get("format") != FILE_FORMAT:
        is_hf = isinstance(data, dict) and "model" in data
        hint = " (for a Hugging Face tokenizer.json use tokenizers.Tokenizer.from_file)" if is_hf else ""
        raise ValueError(f"{name} is not a {FILE_FORMAT} tokenizer file{hint}")
    if data.get("version") != FILE_VERSION:
        raise ValueError(f"{name} has version {data.get('version')!r}; this code reads version {FILE_VERSION}")
    for key, kind in (("pattern", str), ("vocab_size", int), ("special_tokens", dict), ("merges", list)):
        if not isinstance(data.get(key), kind):
            raise ValueError(f"{name}: field {key!r} is missing or not a {kind.__name__}")
    bad = next((m for m in data["merges"] if not (isinstance(m, list) and len(m) == 2
                                                  and all(type(x) is int for x in m))), None)
    if bad is not None:
        raise ValueError(f"{name}: each merge must be a pair of token ids, found {bad!r}")
    try:
        tok = cls(data["merges"], sorted(data["special_tokens"], key=data["special_tokens"].get), data["pattern"])
    except ValueError as e:
        raise ValueError(f"{name}: {e}") from None
    if tok.special_tokens != data["special_tokens"] or tok.vocab_size != data["vocab_size"]:
        raise ValueError(f"{name} is inconsistent: its merges give vocab_size {tok.vocab_size} and special ids "
                         f"{tok.special_tokens}, but the file says {data['vocab_size']} and {data['special_tokens']}")
    return tok


def save_hf_tokenizer_json(tok, path) -> None:
    """A Hugging Face `tokenizer.json` that encodes and decodes exactly as `tok`."""
    n_specials = len(tok.special_tokens)
    spelled = [to_byte_level(tok.token_bytes(i)) for i in range(tok.vocab_size - n_specials)]
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}
    split = {"type": "Split", "pattern": {"Regex": tok.pattern}, "behavior": "Isolated", "invert": False}
    added = [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for s, i in tok.special_tokens.items()]
    model = {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
             "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
             "vocab": {s: i for i, s in enumerate(spelled)} | tok.special_tokens,
             "merges": [f"{a} {b}" for a, b in byte_level_merges(tok)]}
    data = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
            "pre_tokenizer": {"type": "Sequence", "pretokenizers": [split, byte_level]},
            "post_processor": None, "decoder": byte_level, "model": model}
    write_atomically(path, json.dumps(data, ensure_ascii=False, indent=1))


def byte_level_merges(tok) -> list[tuple[str, str]]:
    """The merges by rank, spelled in the byte-level alphabet, as Hugging Face lists them."""
    by_rank = sorted(tok._rank_of.items(), key=lambda item: item[1])
    return [(to_byte_level(tok.token_bytes(a)), to_byte_level(tok.token_bytes(b))) for (a, b), _ in by_rank]


def train_hf(text_or_iterable_of_texts, vocab_size: int, pattern: str | None = None, special_tokens=()):
    """Hugging Face `tokenizers` set up to train exactly as `BPETokenizer.train`: the reference."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    hf = Tokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(GPT4_PATTERN if pattern is None else pattern), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(special_tokens), min_frequency=0,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    hf.train_from_iterator(as_texts(text_or_iterable_of_texts), trainer)
    return hf


def hf_merges(hf_tokenizer) -> list[tuple[str, str]]:
    """The merges of a Hugging Face BPE tokenizer by rank, as pairs of byte-level strings."""
    merges = json.loads(hf_tokenizer.to_str())["model"]["merges"]
    return [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in merges]


def render_tokens_html(tokenizer, text: str) -> str:
    """HTML of `text`'s tokens, each on a colour picked by its id, the id written under it."""
    ids = tokenizer.encode(text, allowed_special="all")
    spans = []
    for i in ids:
        piece = tokenizer.token_bytes(i).decode("utf-8", errors="backslashreplace")
        shown = html.escape(piece).replace("\n", "↵<br>").replace("\t", "⇥")
        spans.append(f'<span title="token {i}" style="display:inline-block;margin:1px;padding:0 2px;'
                     f'background:hsl({i * 137 % 360},70%,85%);white-space:pre;border-radius:3px">'
                     f'{shown}<br><small style="color:#444">{i}</small></span>')
    stats = f"{len(text)} characters, {len(text.encode('utf-8'))} bytes, {len(ids)} tokens"
    return f'<div style="font-family:monospace;line-height:1.2">{"".join(spans)}</div><p>{stats}</p>'


def tokenizer_playground(tokenizer, text: str = "Once upon a time, a little fox found a red ball."):
    """A text box and, under it, the tokens of what it holds; returns the widget (ipywidgets 7 or 8)."""
    import ipywidgets as widgets
    box = widgets.Textarea(value=text, layout=widgets.Layout(width="100%", height="4em"))
    view = widgets.HTML(value=render_tokens_html(tokenizer, text))

    def on_change(change):
        view.value = render_tokens_html(tokenizer, change["new"])

    box.observe(on_change, names="value")
    return widgets.VBox([box, view])


def load_series_tokenizer(retrain: bool = False) -> BPETokenizer:
    """The series' tokenizer: SERIES_VOCAB_SIZE tokens learned from the training stories, cached on disk."""
    from rawllm.core import cache_path
    from rawllm.world import corpus_path, corpus_texts
    corpus = corpus_path("train")
    digest = hashlib.sha256(corpus.read_bytes()).hexdigest()[:12]
    path = cache_path("tokenizer", f"series-{SERIES_VOCAB_SIZE}-{digest}", "rawllm-bpe.json")
    if path.is_file() and not retrain:
        return BPETokenizer.load(path)
    tok = BPETokenizer.train(corpus_texts("train"), SERIES_VOCAB_SIZE, special_tokens=SERIES_SPECIAL_TOKENS)
    tok.save_tokenizer_json(path.with_name("tokenizer.json"))
    tok.save(path)
    return tok
