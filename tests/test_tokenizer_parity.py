"""rawllm.tokenizer against the real Hugging Face `tokenizers`: same pre-tokens, same merges, same ids."""
import json
import random
import unicodedata

import pytest

import tokenizers
from tokenizers import Regex, Tokenizer, pre_tokenizers

from rawllm.tokenizer import (BYTE_CHARS, GPT4_PATTERN, SERIES_SPECIAL_TOKENS, BPETokenizer,  # noqa: E402
                              byte_level_merges, compile_pattern, hf_merges, split_text,
                              to_byte_level, train_hf)
from rawllm.world import corpus_texts

ADVERSARIAL = [
    "Zoë's 👍🏽 and 🇫🇷 flags 👨‍👩‍👧", "你好，世界。こんにちは、한국어 ภาษาไทย", "e\u0301 ñ n\u0303 (combining) Å Å",
    "line\r\nbreak\r\n\r\nend\r", "NUL\x00 BEL\x07 ESC\x1b DEL\x7f \x1c\x1d\x1e\x1f \x85", " " * 300 + "x",
    "\n" * 64 + "y", "\t\t tabs \t\n \n", "1234567890 3.14159 1,000,000 ²³½ ١٢٣ ४५६ Ⅻ", "I'm, you're, they'll, "
    "we've, IT'S, don’t, O'NEIL'S", "ﬁ ǅ ſt ẞ ǰ K", "\u2028\u2029\u00a0\u3000\ufeff\u200b\u180e", "🙂" * 40,
    "x" * 2000, "def f(x):\n    return x ** 2  # square\n\n\nprint(f(3))\n", "   leading and trailing   ",
    "<|endoftext|>", "a<|endoftext|>b<|im_start|>user\nhi<|im_end|>\n<|pad|><|pad|>", "<|endoftext", "|><|",
    "\U0010FFFF \U000E0001 \ue000", "",
]
SECOND_TEXT = [
    "Le petit renard a trouvé une balle rouge près de la rivière. « Regarde ! » s'écria-t-il.",
    "Der kleine Fuchs fand einen roten Ball. Straße, Größe, Übermut: das ist schön.",
    "Маленькая лиса нашла красный мяч у реки. Она очень обрадовалась!",
    "小狐狸在河边找到了一个红色的球。它非常高兴！ 子狐は川のそばで赤いボールを見つけました。",
    "Ο μικρός αλεπού βρήκε μια κόκκινη μπάλα. 🦊⚽🎉 ¡Qué alegría! ¿Verdad?",
    "def tokenize(text: str) -> list[int]:\n    ids = [b for b in text.encode('utf-8')]\n    return ids\n",
    "for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }  // dot product\r\n",
    '{"name": "fox", "colour": "red", "count": 12, "tags": ["ball", "river"]}',
    "| col a | col b |\n|---|---|\n| 1.5 | 2,000 |\n\n> quoted *markdown* with `code` and **bold**",
    "x = 123456789 + 0.000001 - 42e-7; y = 0xFF & 0b1010 | 1_000_000",
    "  indented    spaces\t\ttabs\n\n\n\nblank lines  \r\n  windows  \r\n",
] * 6 + [f"def f_{i}(x):\n    return x * {i} + {i * i}  # line {i}\n" for i in range(200)]


def unicode_version(db) -> tuple[int, ...]:
    return tuple(int(x) for x in db.unidata_version.split("."))



def test_byte_level_spelling_matches_hugging_face():
    assert sorted(BYTE_CHARS) == sorted(pre_tokenizers.ByteLevel.alphabet())
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    for s in ADVERSARIAL[:-1] + ["".join(chr(c) for c in range(1, 0x800, 7))]:
        assert byte_level.pre_tokenize_str(s)[0][0] == to_byte_level(s.encode("utf-8"))


def split_both(text: str):
    hf = pre_tokenizers.Split(Regex(GPT4_PATTERN), behavior="isolated")
    return [p for p, _ in hf.pre_tokenize_str(text)], split_text(text, compile_pattern(None))


def test_split_pattern_agrees_with_oniguruma_on_adversarial_strings():
    rng = random.Random(0)
    pool = ADVERSARIAL + list("'sdmtlvreSDMTLVRE aA1١²½.,!?-_\"“”’\n\r\t\x0b\x0c\x85\xa0🙂é\u0301你")
    texts = ADVERSARIAL + ["".join(rng.choice(pool) for _ in range(rng.randint(1, 20))) for _ in range(2000)]
    theirs, ours = split_both("\x00".join(texts))
    assert ours == theirs
    for t in texts[:200]:
        assert split_both(t)[0] == split_both(t)[1], t


def test_split_pattern_agrees_with_oniguruma_on_every_assigned_code_point():
    # Unicode 17 added letters that the `regex` module knows and Oniguruma does not yet (see notebook 01);
    # every code point assigned by Unicode 16 or earlier must split the same way.
    db = unicodedata if unicode_version(unicodedata) <= (16, 0, 0) else unicodedata.ucd_3_2_0
    assigned = [c for c in range(0x110000) if db.category(chr(c)) not in ("Cn", "Cs", "Co")]
    assert len(assigned) > 90_000
    for start in range(0, len(assigned), 4096):
        blob = "".join(f" {chr(c)}x{chr(c)}{chr(c)}1'{chr(c)}\n" for c in assigned[start:start + 4096])
        theirs, ours = split_both(blob)
        assert ours == theirs, next((a, b) for a, b in zip(theirs, ours) if a != b)


def assert_same_training(texts, vocab_size, pattern=None, special_tokens=()):
    ours = BPETokenizer.train(texts, vocab_size, pattern=pattern, special_tokens=special_tokens)
    theirs = train_hf(texts, vocab_size, pattern=pattern, special_tokens=special_tokens)
    assert byte_level_merges(ours) == hf_merges(theirs)
    assert ours.vocab_size == theirs.get_vocab_size()
    vocab = theirs.get_vocab()
    n_special = len(special_tokens)
    assert [t for t in sorted(vocab, key=vocab.get)[:n_special]] == list(special_tokens)
    assert sorted(vocab, key=vocab.get)[n_special + 256:] == \
        [to_byte_level(ours.token_bytes(i)) for i in range(256, ours.vocab_size - n_special)]
    return ours


def test_identical_merges_on_the_bundled_corpus_at_the_series_size():
    ours = assert_same_training(corpus_texts("train"), 4096, special_tokens=SERIES_SPECIAL_TOKENS)
    assert ours.vocab_size == 4096 and len(ours.merges) > 3000


def test_identical_merges_on_a_multilingual_and_code_text():
    ours = assert_same_training(SECOND_TEXT, 1500, special_tokens=["<|endoftext|>"])
    assert ours.vocab_size > 1000


@pytest.mark.parametrize("pattern", [None, r"\S+|\s+", r"[a-c]+", r"\S{1,6}|\s", r"\w+|[^\w\s]+"])
def test_identical_merges_on_random_texts_full_of_ties(pattern):
    rng = random.Random(str(pattern))
    for _ in range(40):
        alphabet = rng.choice(["ab", "abc ", "xyz\n ", "aé🙂 ", "the cat", "ab\n", "aaab"])
        texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 80))) for _ in range(rng.randint(1, 10))]
        if not any(split_text(t, compile_pattern(pattern)) for t in texts):
            continue
        assert_same_training(texts, rng.randint(257, 400), pattern, rng.choice([(), ("<|x|>",), ("<a>", "<b>")]))


def test_identical_merges_when_training_stops_early():
    assert_same_training(["abab abab ab"] * 3, 1000)


def assert_same_encoding(tok: BPETokenizer, hf: Tokenizer, texts):
    for s in texts:
        ids = tok.encode(s, allowed_special="all")
        assert hf.encode(s).ids == ids, s
        assert hf.decode(ids, skip_special_tokens=False) == tok.decode(ids) == s


@pytest.fixture(scope="module")
def corpus_tokenizer(tmp_path_factory):
    tok = BPETokenizer.train(corpus_texts("train")[:1500], 2048, special_tokens=SERIES_SPECIAL_TOKENS)
    path = tmp_path_factory.mktemp("hf") / "tokenizer.json"
    tok.save_tokenizer_json(path)
    return tok, Tokenizer.from_file(str(path))


def test_exported_tokenizer_json_encodes_the_corpus_like_ours(corpus_tokenizer):
    tok, hf = corpus_tokenizer
    val = corpus_texts("val")
    assert [e.ids for e in hf.encode_batch(val)] == tok.encode_batch(val)
    assert_same_encoding(tok, hf, val[:50])


def test_exported_tokenizer_json_encodes_adversarial_strings_like_ours(corpus_tokenizer):
    tok, hf = corpus_tokenizer
    rng = random.Random(3)
    pool = [chr(c) for c in (*range(0, 0x250), *range(0x2000, 0x2070), *range(0x3000, 0x3050), 0x1F642, 0x1F3FD)]
    randoms = ["".join(rng.choice(pool) for _ in range(rng.randint(1, 40))) for _ in range(300)]
    assert_same_encoding(tok, hf, ADVERSARIAL + SECOND_TEXT[:11] + randoms)


def test_special_tokens_in_text_are_what_hugging_face_calls_special(corpus_tokenizer):
    tok, hf = corpus_tokenizer
    text = "<|im_start|>user\nHello<|im_end|>\n<|endoftext|><|endoftext|>x<|pad|>"
    assert hf.encode(text).ids == tok.encode(text, allowed_special="all")
    assert hf.decode(tok.encode(text, allowed_special="all"), skip_special_tokens=False) == text
    assert [hf.token_to_id(s) for s in SERIES_SPECIAL_TOKENS] == list(tok.special_tokens.values())
    with pytest.raises(ValueError, match="<|im_start|>"):
        tok.encode(text)


def test_decoding_arbitrary_ids_matches_hugging_face(corpus_tokenizer):
    tok, hf = corpus_tokenizer
    rng = random.Random(4)
    for _ in range(2000):                           # many of these are invalid UTF-8: both write U+FFFD
        ids = [rng.randrange(tok.vocab_size) for _ in range(rng.randint(1, 6))]
        assert tok.decode(ids) == hf.decode(ids, skip_special_tokens=False), ids


def test_exported_tokenizer_json_with_custom_pattern_and_reused_ids(tmp_path):
    rng = random.Random(5)
    for trial in range(40):
        merges, spelled = [], [bytes([b]) for b in range(256)]
        for _ in range(rng.randint(1, 30)):
            ids = [97, 98, 99, 32] + list(range(256, len(spelled)))
            a, b = rng.choice(ids), rng.choice(ids)
            merges.append((a, b))
            if spelled[a] + spelled[b] not in spelled:
                spelled.append(spelled[a] + spelled[b])
        tok = BPETokenizer(merges, special_tokens=["<|x|>"], pattern=rng.choice([r"\S+|\s+", r"[abc ]+", None]))
        tok.save_tokenizer_json(tmp_path / "t.json")
        hf = Tokenizer.from_file(str(tmp_path / "t.json"))
        words = ["".join(rng.choice("abc ") for _ in range(rng.randint(1, 30))) for _ in range(30)]
        assert [e.ids for e in hf.encode_batch(words)] == tok.encode_batch(words), merges


def gpt2_byte_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table (bytes_to_unicode in openai/gpt-2 encoder.py), written out here
    so that the exported vocabulary is checked against the published alphabet, not against our own."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b], extra = chr(256 + extra), extra + 1
    return table


VARIED = ["<|im_start|>user\nThe fox  found\t\ta red ball!<|im_end|>\n<|im_start|>assistant\n",
          "Zoë's 🦊 said « bonjour » — 你好, こんにちは, Привет… 1234567 ²³ e\u0301", " " * 17 + "x\n\n\n" + "\t" * 5,
          "<|endoftext|><|endoftext|>Once upon a time<|pad|><|pad|>", "<|endoftext", "a\r\n\r\nb  \u3000 c\x00\x7f",
          "def f(x):\n    return x ** 2  # it's, we'll, THEY'RE\n"]


def test_exported_tokenizer_json_equals_what_tokenizers_trains(corpus_tokenizer, tmp_path):
    """Our exported file, read as plain JSON, against the reference `tokenizers` trains itself on the same corpus
    (the same merges: test_identical_merges_*): same merge list, same vocabulary strings, ids that follow ours, and
    `Tokenizer.from_file(ours)` splits varied text into the reference's tokens with our ids."""
    tok, _ = corpus_tokenizer
    tok.save_tokenizer_json(tmp_path / "ours.json")
    ours = json.loads((tmp_path / "ours.json").read_text(encoding="utf-8"))
    reference_tok = train_hf(corpus_texts("train")[:1500], 2048, special_tokens=SERIES_SPECIAL_TOKENS)
    reference = json.loads(reference_tok.to_str())

    assert [tuple(m.split(" ")) for m in ours["model"]["merges"]] == [tuple(m) for m in reference["model"]["merges"]]
    vocab, ref_vocab, n_special = ours["model"]["vocab"], reference["model"]["vocab"], len(SERIES_SPECIAL_TOKENS)
    assert len(vocab) == len(set(vocab.values())) == tok.vocab_size == reference_tok.get_vocab_size() == 2048
    assert set(vocab) == set(ref_vocab)
    by_id = sorted(vocab, key=vocab.get)
    assert [vocab[s] for s in by_id] == list(range(2048))                     # ids 0 .. 2047, none missing
    assert by_id[:256] == [gpt2_byte_to_unicode()[b] for b in range(256)]     # ids 0..255: the bytes, in order
    assert by_id[256:-n_special] == sorted(ref_vocab, key=ref_vocab.get)[n_special + 256:]   # learned, by rank
    for rank, (a, b) in enumerate(reference["model"]["merges"]):              # merge r makes token 256 + r
        assert vocab[a + b] == 256 + rank, (rank, a, b)
    assert by_id[-n_special:] == list(SERIES_SPECIAL_TOKENS)
    assert [{k: v for k, v in t.items() if k != "id"} for t in ours["added_tokens"]] == \
        [{k: v for k, v in t.items() if k != "id"} for t in reference["added_tokens"]]
    assert [t["id"] for t in ours["added_tokens"]] == [vocab[s] for s in SERIES_SPECIAL_TOKENS]
    assert ours["pre_tokenizer"] == reference["pre_tokenizer"]
    assert ours["normalizer"] is None and ours["post_processor"] is None and ours["decoder"]["type"] == "ByteLevel"
    model_options = {k: v for k, v in reference["model"].items() if k not in ("vocab", "merges")}
    assert {k: v for k, v in ours["model"].items() if k not in ("vocab", "merges")} == model_options

    loaded = Tokenizer.from_file(str(tmp_path / "ours.json"))
    for text in VARIED + ADVERSARIAL[:-1]:
        encoding, expected = loaded.encode(text), reference_tok.encode(text)
        assert encoding.tokens == expected.tokens, text
        assert encoding.ids == [vocab[t] for t in expected.tokens] == tok.encode(text, allowed_special="all"), text
        assert loaded.decode(encoding.ids, skip_special_tokens=False) == text
