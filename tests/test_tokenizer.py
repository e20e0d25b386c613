"""rawllm.tokenizer: training, encoding, decoding, special tokens, files, bad input, the playground."""
import json
import random
import subprocess
import sys

import pytest
from conftest import NOTEBOOKS_DIR

from rawllm.tokenizer import (BYTE_CHARS, GPT4_PATTERN, SERIES_SPECIAL_TOKENS, SERIES_VOCAB_SIZE, BPETokenizer,
                              compile_pattern, count_pieces, encode_piece, load_series_tokenizer, merge_in_word,
                              merge_pair, render_tokens_html, split_text, tie_rank, train_merges,
                              train_naive, tokenizer_playground)
from rawllm.world import corpus_texts

SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
VOCAB = 350
TEXTS = [
    "The little fox found a red ball. The fox was happy! \"Can I play?\" asked the owl.",
    "Once upon a time, there were 3 cats and 12 dogs. They'd play all day; they'll sleep at night.",
    "Mia's kite flew high, higher, highest... then it fell into the pond.\n\nThe end.",
] * 5
ADVERSARIAL = [
    "", " ", "\n", "a", "Zoë's 👍🏽 and 🇫🇷 flags", "你好，世界。こんにちは、한국어", "e\u0301 vs é (combining)",
    "line\r\nbreak\r\n\r\nend\r", "NUL\x00 BEL\x07 ESC\x1b DEL\x7f \x1c\x1d\x1e\x1f", " " * 300 + "x",
    "\n" * 64 + "y", "\t\t tabs \t", "1234567890 3.14159 1,000,000 ²³½ ١٢٣", "I'm, you're, they'll, we've, IT'S",
    "ﬁ ǅ ſt ẞ ǰ", "\u2028\u2029\u0085\u00a0\u3000\ufeff", "🙂" * 50, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab",
    "x" * 2000, "<|endoftext", "|>", "<|im_start|", "\U0010FFFF\U000E0001",
]


@pytest.fixture(scope="module")
def tok():
    return BPETokenizer.train(TEXTS, VOCAB, special_tokens=SPECIALS)


# ---- pieces -------------------------------------------------------------------------------------

def test_byte_level_alphabet_is_gpt2s():
    assert len(set(BYTE_CHARS)) == 256
    assert BYTE_CHARS[ord(" ")] == "Ġ" and BYTE_CHARS[ord("\n")] == "Ċ" and BYTE_CHARS[ord("a")] == "a"
    assert all(c.isprintable() and not c.isspace() for c in BYTE_CHARS)


def test_tie_rank_orders_bytes_by_their_byte_level_character():
    ranks = [tie_rank(b) for b in range(256)]
    assert sorted(ranks) == list(range(256))
    assert tie_rank(ord("!")) == 0 and tie_rank(ord(" ")) > tie_rank(0xFF) and tie_rank(300) == 300


def test_merge_pair_is_left_to_right_and_non_overlapping():
    assert merge_pair([1, 1, 1], 1, 1, 9) == [9, 1]
    assert merge_pair([1, 1, 1, 1], 1, 1, 9) == [9, 9]
    assert merge_pair([1, 2, 3, 1, 2], 1, 2, 9) == [9, 3, 9]
    assert merge_pair([], 1, 2, 9) == [] and merge_pair([1], 1, 2, 9) == [1]


def test_merge_in_word_reports_exact_pair_changes():
    word, changes = merge_in_word([5, 1, 2, 6], 1, 2, 9)
    assert word == [5, 9, 6]
    assert changes == [((5, 1), -1), ((5, 9), 1), ((2, 6), -1), ((9, 6), 1)]
    # Applying the changes to the counts of the old word gives the counts of the new word.
    for w, (a, b) in (([1, 1, 1, 1], (1, 1)), ([1, 2, 1, 2, 1], (1, 2)), ([3, 1, 2, 1, 2, 3], (1, 2)),
                      ([1, 1, 1], (1, 1)), ([2, 1, 1, 1, 2, 1, 1], (1, 1)), ([4], (1, 2))):
        new_word, changes = merge_in_word(w, a, b, 9)
        counts = {}
        for p in zip(w, w[1:]):
            counts[p] = counts.get(p, 0) + 1
        for p, d in changes:
            counts[p] = counts.get(p, 0) + d
        counts.pop((a, b), None)                    # the merged pair itself is left to the caller
        expected = {}
        for p in zip(new_word, new_word[1:]):
            expected[p] = expected.get(p, 0) + 1
        assert {p: c for p, c in counts.items() if c} == expected, w


def test_split_text_keeps_every_character_and_the_gaps():
    gpt4 = compile_pattern(None)
    assert split_text("Tom's dog  barked 12345 times!", gpt4) == \
        ["Tom", "'s", " dog", " ", " barked", " ", "123", "45", " times", "!"]
    assert split_text("hi, you!", compile_pattern(r"[a-z]+")) == ["hi", ", ", "you", "!"]
    assert split_text("ab12cd", compile_pattern(r"([a-z])+")) == ["ab", "12", "cd"]   # groups are ignored
    rng = random.Random(0)
    alphabet = "ab A1 .,'\n\r\t🙂é"
    for _ in range(300):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        for pattern in (None, r"\w+", r"[a-z]+|\d"):
            assert "".join(split_text(s, compile_pattern(pattern))) == s


def test_count_pieces_counts_distinct_pretokens():
    counts = count_pieces(["the cat the", "the dog"], compile_pattern(None))
    assert counts == {"the": 2, " cat": 1, " the": 1, " dog": 1}


# ---- training -----------------------------------------------------------------------------------

def test_train_layout_of_ids(tok):
    assert tok.vocab_size == VOCAB
    assert tok.special_tokens == {s: VOCAB - 3 + i for i, s in enumerate(SPECIALS)}
    assert all(tok.token_bytes(b) == bytes([b]) for b in range(256))
    for i, (a, b) in enumerate(tok.merges):         # no reuse on this text: merge i makes token 256 + i
        assert tok.token_bytes(256 + i) == tok.token_bytes(a) + tok.token_bytes(b)


def test_fast_trainer_equals_naive_trainer_on_texts_full_of_ties():
    rng = random.Random(1)
    for trial in range(12):
        alphabet = rng.choice(["ab", "abc ", "xyz\n ", "aé🙂 ", "the cat"])
        texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60))) for _ in range(rng.randint(1, 8))]
        if not any(texts):
            continue
        vocab = rng.randint(256, 330)
        pattern = rng.choice([None, r"\S+|\s+", r"[a-c]+"])
        fast = train_merges(count_pieces(texts, compile_pattern(pattern)), vocab)
        assert fast == train_naive(texts, vocab, pattern), (texts, vocab, pattern)


def test_fast_trainer_equals_naive_trainer_on_stories():
    stories = TEXTS[:3]
    assert train_merges(count_pieces(stories, compile_pattern(None)), 330) == train_naive(stories, 330)


def test_smaller_vocab_gives_a_prefix_of_the_merges():
    small = BPETokenizer.train(TEXTS, 300)
    large = BPETokenizer.train(TEXTS, 350)
    assert large.merges[:len(small.merges)] == small.merges


def test_training_stops_when_every_word_is_one_token():
    t = BPETokenizer.train("abab abab", 1000)
    assert t.vocab_size < 1000
    assert t.encode("abab abab") == [t.encode("abab")[0], t.encode(" abab")[0]]


def test_a_merge_that_respells_an_existing_token_reuses_its_id():
    # 'x'+'y', then 'xy'+'z' makes 'xyz'; later 'x'+'yz' spells the same bytes and keeps id 257.
    tricky = BPETokenizer([(ord("x"), ord("y")), (256, ord("z")), (ord("y"), ord("z")), (ord("x"), 258)])
    assert tricky.vocab_size == 259 and tricky.token_bytes(257) == b"xyz"
    assert [tricky.token_bytes(i) for i in range(256, 259)] == [b"xy", b"xyz", b"yz"]
    assert tricky.encode("xyz") == [257] and tricky.decode([257]) == "xyz"


def test_specials_in_training_text_are_ordinary_text():
    t = BPETokenizer.train(["a<|endoftext|>b"] * 3, 300, special_tokens=["<|endoftext|>"])
    assert t.encode("a<|endoftext|>b", allowed_special="none") != t.encode("a<|endoftext|>b", allowed_special="all")


# ---- encoding and decoding ----------------------------------------------------------------------

@pytest.mark.parametrize("text", ADVERSARIAL)
def test_round_trip(tok, text):
    ids = tok.encode(text)
    assert all(isinstance(i, int) and 0 <= i < tok.vocab_size for i in ids)
    assert tok.decode(ids) == text
    assert tok.decode_bytes(ids) == text.encode("utf-8")


def test_encode_compresses_trained_text_and_uses_the_cache(tok):
    text = TEXTS[0]
    ids = tok.encode(text)
    assert len(ids) < len(text.encode("utf-8")) / 2
    assert " fox" in tok._cache and tok.encode(text) == ids
    assert tok.encode_batch(TEXTS[:3]) == [tok.encode(t) for t in TEXTS[:3]]


def test_encode_piece_applies_merges_by_rank_not_greedily():
    # ranks: (b,c) before (a,b); "abc" must become a + bc, not ab + c.
    t = BPETokenizer([(ord("b"), ord("c")), (ord("a"), ord("b"))])
    assert t.encode("abc") == [ord("a"), 256]
    assert encode_piece(b"abcabc", t._rank_of, t._table) == [ord("a"), 256, ord("a"), 256]


def test_special_tokens_follow_tiktoken_rules(tok):
    eot, start = tok.special_tokens["<|endoftext|>"], tok.special_tokens["<|im_start|>"]
    text = "hi<|endoftext|>there<|im_start|>"
    with pytest.raises(ValueError, match=r"<\|endoftext\|>"):
        tok.encode(text)
    with pytest.raises(ValueError, match=r"<\|im_start\|>"):
        tok.encode(text, allowed_special={"<|endoftext|>"})
    ids = tok.encode(text, allowed_special="all")
    assert ids == tok.encode("hi") + [eot] + tok.encode("there") + [start]
    assert tok.encode(text, allowed_special=set(SPECIALS)) == ids
    ordinary = tok.encode(text, allowed_special="none")
    assert eot not in ordinary and start not in ordinary and tok.decode(ordinary) == text
    assert tok.decode(ids) == text
    assert tok.encode("<|endoftext|><|endoftext|>", allowed_special="all") == [eot, eot]
    assert tok.encode_batch(["a<|endoftext|>", "b"], allowed_special="all")[0][-1] == eot


def test_overlapping_special_tokens_match_longest_first():
    t = BPETokenizer([], special_tokens=["<|a|>", "<|a|>b"])
    assert t.encode("x<|a|>bc<|a|>", allowed_special="all") == [ord("x"), 257, ord("c"), 256]


def test_decode_invalid_utf8_gives_replacement_character(tok):
    assert tok.decode(list(b"\xf0\x9f")) == "\ufffd"
    assert tok.decode(list(b"a\xffb")) == "a\ufffdb"
    assert tok.decode(list("🙂".encode())[:3] + [ord("!")]) == "\ufffd!"


# ---- files --------------------------------------------------------------------------------------

def test_save_and_load_round_trip(tok, tmp_path):
    path = tmp_path / "sub" / "tok.json"
    tok.save(path)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["format"] == "rawllm-bpe" and data["version"] == 1 and data["pattern"] == GPT4_PATTERN
    assert data["special_tokens"] == tok.special_tokens and data["merges"] == [list(m) for m in tok.merges]
    loaded = BPETokenizer.load(path)
    assert loaded.merges == tok.merges and loaded.special_tokens == tok.special_tokens
    for s in ADVERSARIAL + TEXTS:
        assert loaded.encode(s) == tok.encode(s)
    assert not list(tmp_path.glob("**/*.tmp"))


def test_save_and_load_keep_a_custom_pattern(tmp_path):
    t = BPETokenizer.train(TEXTS, 300, pattern=r"\S+|\s+")
    t.save(tmp_path / "t.json")
    assert BPETokenizer.load(tmp_path / "t.json").pattern == r"\S+|\s+"


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ("42", "not a rawllm-bpe tokenizer file"),
    ('{"version": "1.0", "model": {"type": "BPE"}}', "Tokenizer.from_file"),
    ('{"format": "rawllm-bpe", "version": 99}', "version 99"),
    ('{"format": "rawllm-bpe", "version": 1, "pattern": "x", "vocab_size": 256, "special_tokens": {}}',
     "'merges' is missing"),
    ('{"format": "rawllm-bpe", "version": 1, "pattern": "x", "vocab_size": 257, "special_tokens": {}, '
     '"merges": [[1, "a"]]}', "pair of token ids"),
    ('{"format": "rawllm-bpe", "version": 1, "pattern": "x", "vocab_size": 257, "special_tokens": {}, '
     '"merges": [[1, 300]]}', "no earlier merge made"),
    ('{"format": "rawllm-bpe", "version": 1, "pattern": "x", "vocab_size": 300, "special_tokens": {}, '
     '"merges": [[1, 2]]}', "inconsistent"),
    ('{"format": "rawllm-bpe", "version": 1, "pattern": "(", "vocab_size": 256, "special_tokens": {}, '
     '"merges": []}', "not a valid regular expression"),
])
def test_load_rejects_corrupt_or_foreign_files(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        BPETokenizer.load(path)


def test_load_rejects_a_truncated_file(tok, tmp_path):
    tok.save(tmp_path / "tok.json")
    (tmp_path / "cut.json").write_bytes((tmp_path / "tok.json").read_bytes()[:300])
    with pytest.raises(ValueError, match="cut.json is not a tokenizer file"):
        BPETokenizer.load(tmp_path / "cut.json")


def test_tokenizer_json_is_written_with_our_ids(tok, tmp_path):
    tok.save_tokenizer_json(tmp_path / "tokenizer.json")
    data = json.loads((tmp_path / "tokenizer.json").read_text(encoding="utf-8"))
    assert data["model"]["vocab"]["Ġ"] == 32 and data["model"]["vocab"]["<|endoftext|>"] == tok.special_tokens["<|endoftext|>"]
    assert len(data["model"]["vocab"]) == tok.vocab_size and len(data["model"]["merges"]) == len(tok.merges)
    assert [t["content"] for t in data["added_tokens"]] == list(SPECIALS)


# ---- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, error, message", [
    (dict(vocab_size=100), ValueError, "too small"),
    (dict(vocab_size=257, special_tokens=["<a>", "<b>"]), ValueError, "at least 258"),
    (dict(vocab_size="300"), TypeError, "vocab_size must be an int"),
    (dict(vocab_size=300.0), TypeError, "vocab_size must be an int"),
    (dict(vocab_size=300, special_tokens="<|endoftext|>"), TypeError, "not one str"),
    (dict(vocab_size=300, special_tokens=[""]), ValueError, "non-empty"),
    (dict(vocab_size=300, special_tokens=[7]), ValueError, "non-empty strings"),
    (dict(vocab_size=300, special_tokens=["<a>", "<a>"]), ValueError, "repeated"),
    (dict(vocab_size=300, special_tokens=["!"]), ValueError, "spelled like an ordinary token"),
    (dict(vocab_size=300, pattern="("), ValueError, "not a valid regular expression"),
    (dict(vocab_size=300, pattern=b"x"), TypeError, "pattern must be a str"),
    (dict(vocab_size=300, pattern=r"\s*"), ValueError, "empty string"),
])
def test_train_rejects_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        BPETokenizer.train("some text to train on", **kwargs)


@pytest.mark.parametrize("texts, error, message", [
    ("", ValueError, "empty"),
    ([], ValueError, "empty"),
    (["", ""], ValueError, "empty"),
    (b"bytes", TypeError, "got bytes"),
    (42, TypeError, "got int"),
    (["fine", 3], TypeError, "#1 is int"),
    ([None], TypeError, "#0 is NoneType"),
])
def test_train_rejects_bad_text(texts, error, message):
    with pytest.raises(error, match=message):
        BPETokenizer.train(texts, 300)


def reference_bpe(ids: list[int], tok: BPETokenizer) -> list[int]:
    """Hugging Face's rule, literally: merge the single lowest (rank, position) pair until none is left."""
    ids = list(ids)
    while True:
        found = [(tok._rank_of[p], i) for i, p in enumerate(zip(ids, ids[1:])) if p in tok._rank_of]
        if not found:
            return ids
        rank, i = min(found)
        ids[i:i + 2] = [tok._table[rank][1]]


def test_encode_piece_equals_the_literal_rule_on_random_merge_tables():
    rng = random.Random(2)
    reused = 0
    for trial in range(200):
        merges, spelled = [], [bytes([b]) for b in range(256)]
        for _ in range(rng.randint(1, 30)):
            a, b = rng.choice([97, 98, 99] + list(range(256, len(spelled)))), rng.choice([97, 98, 99] + list(range(256, len(spelled))))
            merges.append((a, b))
            if spelled[a] + spelled[b] not in spelled:
                spelled.append(spelled[a] + spelled[b])
        t = BPETokenizer(merges)
        reused += len(merges) - (t.vocab_size - 256)
        for _ in range(20):
            word = bytes(rng.choice(b"abc") for _ in range(rng.randint(1, 25)))
            assert encode_piece(word, t._rank_of, t._table) == reference_bpe(list(word), t), (merges, word)
    assert reused > 100                             # the tables did exercise merges that reuse an id


def test_special_token_learned_from_text_is_refused():
    with pytest.raises(ValueError, match="'hello' is spelled like an ordinary token"):
        BPETokenizer.train(["hello there"] * 5, 300, special_tokens=["hello"])


def test_encode_rejects_bad_input(tok):
    with pytest.raises(TypeError, match="encode takes a str, got bytes"):
        tok.encode(b"hi")
    with pytest.raises(TypeError, match="got NoneType"):
        tok.encode(None)
    with pytest.raises(TypeError, match="for a single str use encode"):
        tok.encode_batch("hi")
    with pytest.raises(ValueError, match="allowed_special must be"):
        tok.encode("hi", allowed_special="some")
    with pytest.raises(ValueError, match=r"\['<\|nope\|>'\].*not special tokens"):
        tok.encode("hi", allowed_special={"<|nope|>"})


@pytest.mark.parametrize("ids, error, message", [
    ([1, VOCAB], ValueError, f"token id {VOCAB} at position 1 is out of range"),
    ([-1], ValueError, "token id -1 at position 0 is out of range"),
    ([1, 2.0], TypeError, "got float 2.0 at position 1"),
    (["a"], TypeError, "got str"),
    ("abc", TypeError, "sequence of token ids"),
    ([True], TypeError, "got bool"),
])
def test_decode_rejects_bad_ids(tok, ids, error, message):
    with pytest.raises(error, match=message):
        tok.decode(ids)


def test_decode_accepts_integer_like_ids(tok):
    import numpy as np
    assert tok.decode(np.array(tok.encode("the fox"))) == "the fox"


# ---- the series tokenizer, the playground, the module --------------------------------------------

def test_series_tokenizer_is_trained_once_then_loaded_from_the_cache(isolated_cache):
    first = load_series_tokenizer()
    assert first.vocab_size == SERIES_VOCAB_SIZE
    assert tuple(first.special_tokens) == SERIES_SPECIAL_TOKENS
    files = sorted(p.name for p in isolated_cache.glob("tokenizer/*/*"))
    assert files == ["rawllm-bpe.json", "tokenizer.json"]
    second = load_series_tokenizer()
    assert second.merges == first.merges
    story = corpus_texts("val")[0]
    assert second.decode(second.encode(story)) == story
    assert len(second.encode(story)) < len(story.encode("utf-8")) / 3


def test_playground_widget_reacts_to_a_new_text(tok):
    widget = tokenizer_playground(tok, text="the fox")
    box, view = widget.children
    before = view.value
    box.value = "The owl<|endoftext|>"
    assert view.value != before
    for i in tok.encode("The owl<|endoftext|>", allowed_special="all"):
        assert f">{i}</small>" in view.value
    assert "20 characters, 20 bytes" in view.value


def test_render_escapes_html_and_shows_partial_bytes(tok):
    out = render_tokens_html(tok, "<b>&</b> 🙂")
    assert "<b>" not in out and "&lt;" in out and "&amp;" in out
    assert "\\xf0" in out                                 # the emoji's first byte, on its own


def test_importing_the_tokenizer_does_not_import_torch():
    code = "import sys, rawllm.tokenizer; assert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=NOTEBOOKS_DIR)
