"""rawllm.sft's chat data: conversations from the story world's facts, checked against the facts and the text."""
import json
import random
import re
from collections import Counter
from functools import lru_cache

import pytest

import rawllm.sft as cd
from rawllm.world import Story, questions, read_corpus


@lru_cache(maxsize=None)
def corpus(split: str) -> tuple:
    return tuple(read_corpus(split))


def sample(split: str, n: int) -> list[Story]:
    """The first story of every shape, then the first stories of the split, `n` in all (no repeats)."""
    stories = list(corpus(split))
    firsts = {}
    for s in stories:
        firsts.setdefault(s.facts["shape"], s)
    chosen = list(firsts.values()) + [s for s in stories if s not in firsts.values()]
    return chosen[:n]


@lru_cache(maxsize=None)
def train_rows() -> tuple:
    """Conversations about 300 training stories (covering every shape), 3 per story."""
    return tuple(cd.make_chat_rows(sample("train", 300), seed=5, per_story=3))


def turns(row: dict):
    """(kind, question, answer) for each assistant turn; the first user message holds the story then the question."""
    users = [m["content"] for m in row["messages"] if m["role"] == "user"]
    answers = [m["content"] for m in row["messages"] if m["role"] == "assistant"]
    first = users[0].rsplit("\n\nQuestion: ", 1)[1]
    return list(zip(row["kinds"], [first] + users[1:], answers))


def story_of(row: dict, stories: list[Story]) -> Story:
    return stories[row["story"]]


def test_lookup_and_arithmetic_answers_are_those_of_questions():
    stories, checked = sample("train", 300), Counter()
    for row in train_rows():
        truth = {q["question"]: q for q in questions(story_of(row, stories))}
        for kind, question, answer in turns(row):
            if kind in ("lookup", "arithmetic"):
                assert question in truth, question
                assert answer == truth[question]["answer"], (question, answer)
                assert (truth[question]["kind"] == "count") == (kind == "arithmetic"), (question, kind)
                checked[kind] += 1
    assert checked["lookup"] > 100 and checked["arithmetic"] > 50


UNKNOWN_PATTERNS = (r"What colour was the (?P<w>.+)\?", r"What size was the (?P<w>.+)\?", r"Who found the (?P<w>.+)\?",
                    r"How many (?P<w>.+) did (?P<who>.+) have at the end\?", r"How did (?P<w>.+) feel at the end\?",
                    r"Where did (?P<w>.+) go\?", r"What kind of animal is (?P<w>.+)\?")


def key_words(question: str) -> list[str]:
    """The words an unknown question is about (a thing, a snack, a name), read back from the question."""
    for pattern in UNKNOWN_PATTERNS:
        m = re.fullmatch(pattern, question)
        if m:
            return [w for w in re.findall(r"[a-z]+", m["w"].lower()) if len(w) >= 3]
    raise AssertionError(f"unknown question of no known form: {question!r}")


def occurs(word: str, text: str) -> bool:
    """The word, or a plural or singular form of it, as a whole word of the text (any case)."""
    forms = {word, word + "s", word + "es", word[:-1] + "ies", word[:-1] + "ves", word[:-2] + "ves"}
    for ending, singulars in (("s", ("",)), ("es", ("",)), ("ies", ("y",)), ("ves", ("f", "fe"))):
        if word.endswith(ending):
            forms |= {word[:-len(ending)] + s for s in singulars}
    alternatives = "|".join(re.escape(f) for f in forms if len(f) >= 3)
    return re.search(rf"\b({alternatives})\b", text, flags=re.IGNORECASE) is not None


def test_end_counts_the_text_contradicts_are_left_out():
    stories = corpus("train")
    story = next(s for s in stories if s.facts["shape"] == "sharing" and re.search(
        rf"\b{s.facts['characters'][1]['name']} ate one\.", s.text))
    friend = story.facts["characters"][1]["name"]
    assert {q for q in cd.miscounted(story)} == {f"How many {n['thing']} did {friend} have at the end?"
                                                 for n in story.facts["counts"] if n["who"] == friend}
    assert sum(bool(cd.miscounted(s)) for s in stories) < 100  # sharing stories only, about 1 in 3 of them
    asked = {q for q, _ in cd.request_pools(story, random.Random(0))["arithmetic"]}
    assert asked and not asked & cd.miscounted(story)


def test_unknown_questions_are_not_answerable_from_the_text():
    stories, seen = sample("train", 300), Counter()
    for row in train_rows():
        story = story_of(row, stories)
        real = {q["question"] for q in questions(story)}
        for kind, question, answer in turns(row):
            if kind == "unknown":
                assert answer == cd.UNKNOWN_ANSWER
                assert question not in real
                words = key_words(question)
                assert words and not any(occurs(w, story.text) for w in words), (question, row["story"])
                seen[question.split()[1]] += 1
    assert len(seen) >= 5 and sum(seen.values()) > 100  # several forms of unknown question occur


def test_occurs_catches_mentions():  # the check above can fail
    assert occurs("kites", "Tom flew his kite.") and occurs("cherry", "She ate two cherries.")
    assert occurs("scarves", "a red scarf") and occurs("Mia", "mia waved")
    assert not occurs("kite", "Tom flew his balloon.") and not occurs("toy", "Today he took it.")
    assert not occurs("dates", "It was a sunny day.")


@pytest.mark.parametrize("split", ["train", "val"])
def test_retell_is_one_sentence_naming_every_character(split):
    for story in corpus(split):
        sentence = cd.retell(story)
        assert sentence[0].isupper() and sentence.endswith(".") and sentence == sentence.strip()
        assert len(re.findall(r"[.!?](\s|$)", sentence)) == 1, sentence
        for c in story.facts["characters"]:
            assert re.search(rf"\b{re.escape(c['name'])}\b", sentence), (c["name"], sentence)
        assert "{" not in sentence and "  " not in sentence and " ," not in sentence


def test_retell_examples():
    stories = corpus("train")
    assert cd.retell(stories[0]) == "Cody went to the meadow to collect buttercups and had 3 at the end."
    assert cd.retell(stories[23]) == "Rusty swapped the tiny cream pillow for Button's large turquoise bucket."
    assert cd.retell(stories[15]) == ("Amara needed help because a gust of wind blew her cap into the water, and Dexter "
                                      "was patient, so he waited until the water carried the cap back to the bank.")


def test_retell_states_the_facts_numbers_and_things():
    for story in corpus("train")[:500]:
        f, sentence = story.facts, cd.retell(story)
        if f["shape"] == "counting":
            assert f"had {f['counts'][0]['end']} at the end" in sentence
        if f["shape"] in ("lost_and_found", "gift", "trade"):
            assert all(o["colour"] in sentence for o in f["things"]), sentence
        if f["shape"] == "trade":
            a, b = f["things"][0]["owner"], f["things"][1]["owner"]
            swapped_back = f["things"][0]["holder"] == a
            assert sentence.startswith(f"{a} swapped") and ("swapped back" in sentence) == swapped_back


@pytest.mark.parametrize("split", ["train", "val"])
def test_characters_answer_lists_exactly_the_facts_characters_in_order(split):
    for story in corpus(split):
        answer = cd.characters_answer(story)
        names = re.split(r", | and ", answer)
        assert sorted(names) == sorted(c["name"] for c in story.facts["characters"]), answer
        firsts = [re.search(rf"\b{re.escape(n)}\b", story.text).start() for n in names]
        assert firsts == sorted(firsts)
    assert cd.characters_answer(corpus("train")[3]) == "Oliver, Bramble and Dad"  # the pet is named before Dad


def test_rows_are_well_formed():
    stories = sample("train", 300)
    for row in train_rows():
        assert list(row) == ["messages", "kinds", "story"]
        roles = [m["role"] for m in row["messages"]]
        body = roles[1:] if roles[0] == "system" else roles
        assert body and body == ["user", "assistant"] * (len(body) // 2), roles
        assert 1 <= len(row["kinds"]) == roles.count("assistant") <= 3
        assert set(row["kinds"]) <= set(cd.KINDS)
        if roles[0] == "system":
            assert row["messages"][0]["content"] in cd.SYSTEM_PROMPTS
        users = [m["content"] for m in row["messages"] if m["role"] == "user"]
        question = users[0].rsplit("\n\nQuestion: ", 1)[1]
        assert users[0] == cd.FIRST_TURN.format(story=story_of(row, stories).text, question=question)
        assert all("Story:" not in u and "\n" not in u for u in users[1:])
        assert len(set(users[1:] + [question])) == len(users)  # no question twice in a conversation


def test_no_whitespace_at_content_edges():
    for row in train_rows():
        for m in row["messages"]:
            assert m["content"] and m["content"] == m["content"].strip(), m


def test_an_answer_with_whitespace_at_its_edge_is_refused():
    pools = {kind: [] for kind in cd.KINDS} | {"lookup": [("What colour was the kite?", "red ")]}
    with pytest.raises(ValueError, match="whitespace"):
        cd.conversation(corpus("train")[0], 0, pools, random.Random(0))


def test_kind_proportions_and_shapes():
    rows = train_rows()
    kinds = Counter(k for r in rows for k in r["kinds"])
    share = {k: kinds[k] / sum(kinds.values()) for k in cd.KINDS}
    targets = {"lookup": 0.45, "unknown": 0.20, "arithmetic": 0.15, "retell": 0.10, "characters": 0.10}
    assert all(abs(share[k] - targets[k]) < 0.05 for k in cd.KINDS), share
    system = sum(r["messages"][0]["role"] == "system" for r in rows) / len(rows)
    multi = sum(len(r["kinds"]) > 1 for r in rows) / len(rows)
    assert 0.15 < system < 0.25 and 0.18 < multi < 0.30, (system, multi)


def test_make_chat_rows_is_deterministic_and_leaves_global_random_alone():
    stories = sample("val", 40)
    random.seed(123)
    expected = random.random()
    random.seed(123)
    a = cd.make_chat_rows(stories, seed=1, per_story=2)
    assert random.random() == expected
    assert a == cd.make_chat_rows(stories, seed=1, per_story=2)
    assert a != cd.make_chat_rows(stories, seed=2, per_story=2)


def write_small(out, seed=0):
    return cd.write_chat_data(out, seed=seed, train=sample("train", 25), val=sample("val", 12))


def test_write_chat_data_is_byte_identical_for_a_seed(tmp_path):
    assert write_small(tmp_path / "a") == write_small(tmp_path / "b") == {"chat_train.jsonl": 75, "chat_val.jsonl": 24}
    write_small(tmp_path / "c", seed=1)
    for name in ("chat_train.jsonl", "chat_val.jsonl"):
        first = (tmp_path / "a" / name).read_bytes()
        assert first == (tmp_path / "b" / name).read_bytes()
        assert first != (tmp_path / "c" / name).read_bytes()
        line = json.loads(first.decode("utf-8").splitlines()[0])
        assert list(line) == ["messages", "kinds", "story"] and list(line["messages"][0]) == ["role", "content"]


def test_train_file_uses_training_stories_and_val_file_validation_stories(tmp_path):
    write_small(tmp_path)
    for name, split, other in (("chat_train.jsonl", "train", "val"), ("chat_val.jsonl", "val", "train")):
        own, others = sample(split, 25 if split == "train" else 12), sample(other, 25 if other == "train" else 12)
        rows = [json.loads(line) for line in (tmp_path / name).read_text(encoding="utf-8").splitlines()]
        assert sorted({r["story"] for r in rows}) == list(range(len(own)))
        for row in rows:
            first = next(m["content"] for m in row["messages"] if m["role"] == "user")
            assert first.startswith(f"Story:\n{own[row['story']].text}\n\nQuestion: ")
            assert not any(s.text in first for s in others)


def test_datasets_loads_a_written_file_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    from datasets import load_dataset
    write_small(tmp_path / "data")
    ds = load_dataset("json", data_files={"train": str(tmp_path / "data" / "chat_train.jsonl"),
                                          "validation": str(tmp_path / "data" / "chat_val.jsonl")},
                      cache_dir=str(tmp_path / "hf-cache"))
    assert ds["train"].num_rows == 75 and ds["validation"].num_rows == 24
    assert ds["train"].column_names == ["messages", "kinds", "story"]
    assert ds["train"][0]["messages"][-1]["role"] == "assistant"


def test_conversations_fit_the_token_budget(tmp_path, monkeypatch):
    import rawllm.core
    monkeypatch.setattr(rawllm.core, "CACHE_DIR", tmp_path / "cache")  # never write the repository's cache
    from rawllm.tokenizer import load_series_tokenizer
    tok = load_series_tokenizer()
    longest = sorted(corpus("train"), key=lambda s: -len(s.text))[:60]  # the longest stories, many turns
    rows = cd.make_chat_rows(longest, seed=0, per_story=4)
    stats = cd.length_stats(rows, tok)
    assert stats["max"] <= 450 and stats["median"] < 400, stats
    assert all(len(tok.encode(s, allowed_special="all")) == 1 for s in ("<|im_start|>", "<|im_end|>"))


@pytest.mark.parametrize("call, message", [
    (lambda: cd.chat_rows("validation"), "unknown split"),
    (lambda: cd.make_chat_rows(sample("val", 2), seed=0, per_story=0), "per_story"),
    (lambda: cd.make_chat_rows(sample("val", 2), seed=0, per_story=True), "per_story"),
    (lambda: cd.make_chat_rows(sample("val", 2), seed="1", per_story=1), "seed"),
    (lambda: cd.make_chat_rows([], seed=0, per_story=1), "no stories"),
    (lambda: cd.make_chat_rows(["a story"], seed=0, per_story=1), "Story"),
])
def test_bad_inputs_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_overlapping_splits_are_refused(tmp_path):
    stories = sample("train", 5)
    with pytest.raises(ValueError, match="overlap"):
        cd.write_chat_data(tmp_path, train=stories, val=stories[:2])
    assert not (tmp_path / "chat_train.jsonl").exists()


def test_the_committed_chat_files_regenerate_byte_for_byte(tmp_path):
    from rawllm.core import DATA_DIR
    assert cd.write_chat_data(tmp_path) == {"chat_train.jsonl": 14100, "chat_val.jsonl": 940}
    for name in ("chat_train.jsonl", "chat_val.jsonl"):
        assert (tmp_path / name).read_bytes() == (DATA_DIR / name).read_bytes(), f"data/{name} is stale"
