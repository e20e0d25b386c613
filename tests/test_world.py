"""Tests of the story world `rawllm.world` (notebook 00) and of the bundled corpus in data/."""
import json
import random
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from rawllm.core import DATA_DIR
from rawllm.world import (NUMBER_WORDS, SHAPES, TRAIN_SEED, TRAIN_STORIES, VAL_SEED, VAL_STORIES, WEATHER, Story,
                          generate_stories, generate_story, questions, read_corpus, write_corpus)

TRAIN_FILE = DATA_DIR / "stories_train.jsonl"
VAL_FILE = DATA_DIR / "stories_val.jsonl"
NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
HUMAN_KINDS = {"girl", "boy", "mum", "dad", "grandma", "grandpa", "granny", "grandad", "aunt", "uncle", "big sister", "big brother"}


def words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def says_number(text: str, n: int) -> bool:
    """The number `n` is written out in the text ('no' counts as zero)."""
    return n == 0 or re.search(rf"\b{NUMBER_WORDS[n]}\b", text.lower()) is not None


def first_lines(path: Path, n: int) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for _, line in zip(range(n), f)]


@pytest.fixture(scope="module")
def train() -> list[Story]:
    return read_corpus(TRAIN_FILE)


@pytest.fixture(scope="module")
def val() -> list[Story]:
    return read_corpus(VAL_FILE)


@pytest.fixture(scope="module")
def fresh() -> list[Story]:
    return generate_stories(1500, seed=11)


# ---------------------------------------------------------------- determinism and speed

def test_same_seed_gives_same_stories():
    assert [s.to_json() for s in generate_stories(60, 5)] == [s.to_json() for s in generate_stories(60, 5)]


def test_different_seeds_give_different_stories():
    a, b = generate_stories(60, 5), generate_stories(60, 6)
    assert sum(x.text != y.text for x, y in zip(a, b)) == 60


def test_generator_leaves_global_random_state_alone():
    random.seed(123)
    expected = random.random()
    random.seed(123)
    generate_stories(20, 1)
    assert random.random() == expected


def test_generate_story_continues_the_generator():
    rng = random.Random(9)
    first, second = generate_story(rng), generate_story(rng)
    assert first.text != second.text
    assert generate_stories(2, 9)[1].text == second.text


def test_speed_a_million_characters_in_seconds():
    rng, n_chars = random.Random(0), 0
    start = time.perf_counter()
    while n_chars < 1_000_000:
        n_chars += len(generate_story(rng).text)
    elapsed = time.perf_counter() - start
    assert elapsed < 3.0, f"1M characters took {elapsed:.2f} s"


def test_import_is_light_and_needs_no_torch():
    code = "import sys, time; t = time.perf_counter(); import rawllm.world; " \
           "assert 'torch' not in sys.modules, 'rawllm.world imported torch'; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], cwd=NOTEBOOKS_DIR, capture_output=True, text=True, check=True)
    assert float(out.stdout) < 1.0


# ---------------------------------------------------------------- variety

def test_vocabulary_is_rich(train):
    vocabulary = Counter(w for s in train for w in words(s.text))
    assert len(vocabulary) >= 3000, f"only {len(vocabulary)} distinct words"


def test_many_shapes_and_openings(train):
    shapes = Counter(s.facts["shape"] for s in train)
    assert set(shapes) == set(SHAPES) and len(SHAPES) >= 12
    assert max(shapes.values()) < 0.15 * len(train), shapes.most_common(3)
    first_sentences = {re.split(r"(?<=[.!?])\s", s.text, maxsplit=1)[0] for s in train}
    assert len(first_sentences) > 0.8 * len(train)
    openings = Counter(" ".join(s.text.split()[:3]) for s in train)
    assert openings.most_common(1)[0][1] < 0.1 * len(train), openings.most_common(3)
    assert len({s.text for s in train}) == len(train), "duplicate stories in the training split"


# ---------------------------------------------------------------- grammar

def test_grammar_basics(fresh):
    for story in fresh[:600]:
        text = story.text
        assert "{" not in text and "}" not in text and "  " not in text, text
        for sentence in re.split(r"(?<=[.!?])\s+", text):
            assert sentence.lstrip('"')[:1].isupper(), (sentence, text)
        for paragraph in text.split("\n\n"):
            assert paragraph.count('"') % 2 == 0, paragraph
        for art, word in re.findall(r"\b(a|an|A|An) ([a-z]+)", text):
            if word in ("hour", "honest", "unicorn", "uniform", "unicycle", "ukulele", "useful", "one"):
                continue
            assert (art.lower() == "an") == (word[0] in "aeiou"), f"'{art} {word}' in: {text}"


# ---------------------------------------------------------------- facts agree with the text

FACT_KEYS = {"shape", "characters", "things", "places", "counts", "tallies", "weather", "relations", "event"}


def check_facts(story: Story) -> None:
    text, facts = story.text, story.facts
    assert set(facts) == FACT_KEYS
    for c in facts["characters"]:
        assert c["name"] in text, (c, text)
        for trait in c["traits"]:
            assert re.search(rf"\b{trait}\b", text), (trait, text)
        if c["kind"] not in HUMAN_KINDS:
            assert re.search(rf"\b{c['kind']}\b", text), (c, text)
        if c["feeling"]:
            assert re.search(rf"\b{c['feeling']}\b", text), (c, text)
    for thing in facts["things"]:
        assert f"{thing['size']} {thing['colour']} {thing['thing']}" in text, (thing, text)
        assert {thing["owner"], thing["holder"]} <= {c["name"] for c in facts["characters"]}
    for n in facts["counts"]:
        running = n["start"]
        for change in n["changes"]:
            running += change
            assert 0 <= running <= 20
        assert running == n["end"]
        assert says_number(text, n["start"]) and all(says_number(text, abs(c)) for c in n["changes"]), (n, text)
    for n in facts["tallies"]:
        assert says_number(text, n["count"]), (n, text)
    for place in facts["places"]:
        assert place in text, (place, text)
    if facts["weather"]:
        assert WEATHER[facts["weather"]].stem in text.lower(), text
    for subject, relation, obj in facts["relations"]:
        assert obj.lower() in text.lower(), (subject, relation, obj, text)
        assert all(part.lower() in text.lower() for part in subject.split(" and ")), (subject, relation, obj, text)


def test_facts_agree_with_text_in_fresh_stories(fresh):
    for story in fresh:
        check_facts(story)


def test_facts_agree_with_text_in_committed_validation_split(val):
    for story in val:
        check_facts(story)


def test_a_mismatched_fact_is_caught(fresh):
    story = next(s for s in fresh if s.facts["things"])
    broken = json.loads(story.to_json())
    thing = broken["facts"]["things"][0]
    thing["colour"] = next(c for c in ("red", "blue") if f"{c} {thing['thing']}" not in story.text)
    with pytest.raises(AssertionError):
        check_facts(Story(**broken))


# ---------------------------------------------------------------- questions

def expected_count_answers(facts: dict) -> dict[str, str]:
    answers = {}
    for n in facts["counts"]:
        answers[f"How many {n['thing']} did {n['who']} have at first?"] = str(n["start"])
        answers[f"How many {n['thing']} did {n['who']} have at the end?"] = str(n["start"] + sum(n["changes"]))
    for n in facts["tallies"]:
        answers[f"How many {n['thing']} did {n['who']} {n['verb']}?"] = str(n["count"])
    seen = [n for n in facts["tallies"] if n["verb"] == "see"]
    if len(seen) > 1:
        answers[f"How many animals did {seen[0]['who']} see in all?"] = str(sum(n["count"] for n in seen))
    return answers


def test_question_answers_are_in_or_follow_from_the_text(fresh):
    kinds = Counter()
    for story in fresh:
        qa = questions(story)
        assert len(qa) >= 3, story.text
        assert len({q["question"] for q in qa}) == len(qa)
        counts = expected_count_answers(story.facts)
        for q in qa:
            assert set(q) == {"question", "answer", "kind"} and q["question"].endswith("?")
            kinds[q["kind"]] += 1
            if q["kind"] == "count":
                assert counts[q["question"]] == q["answer"], (q, story.text)
            elif q["kind"] == "weather":
                assert WEATHER[q["answer"]].stem in story.text.lower()
            else:
                assert q["answer"].lower() in story.text.lower(), (q, story.text)
    assert {"colour", "size", "count", "trait", "relation", "feeling", "animal", "holder", "weather"} <= set(kinds)


def test_questions_work_on_loaded_dicts(val):
    line = first_lines(VAL_FILE, 1)[0]
    assert questions(json.loads(line)) == questions(val[0])


def test_holder_questions_follow_trades(fresh):
    trades = [s for s in fresh if s.facts["shape"] == "trade"]
    assert trades
    for story in trades:
        answers = {q["question"]: q["answer"] for q in questions(story)}
        for thing in story.facts["things"]:
            assert answers[f"Who had the {thing['thing']} at the end?"] == thing["holder"]


# ---------------------------------------------------------------- the committed corpus

def test_corpus_sizes(train, val):
    assert len(train) == TRAIN_STORIES and len(val) == VAL_STORIES
    train_chars = sum(len(s.text) for s in train)
    assert 3_000_000 < train_chars < 5_000_000
    assert 300_000 < sum(len(s.text) for s in val) < 500_000
    assert TRAIN_FILE.stat().st_size + VAL_FILE.stat().st_size < 7.0e6


def test_train_and_validation_are_disjoint(train, val):
    assert TRAIN_SEED != VAL_SEED
    assert not {s.text for s in train} & {s.text for s in val}
    with pytest.raises(ValueError):
        write_corpus("unused", 1, 1, train_seed=3, val_seed=3)


def test_committed_files_are_what_the_generator_writes():
    n = 300
    assert [s.to_json() for s in generate_stories(n, TRAIN_SEED)] == first_lines(TRAIN_FILE, n)
    assert [s.to_json() for s in generate_stories(n, VAL_SEED)] == first_lines(VAL_FILE, n)


def test_write_corpus_and_cli_reproduce_the_files(tmp_path):
    written = write_corpus(tmp_path / "api", n_train=40, n_val=15)
    assert written == {"stories_train.jsonl": 40, "stories_val.jsonl": 15}
    subprocess.run([sys.executable, "-m", "rawllm.world", "--out", str(tmp_path / "cli"), "--train", "40", "--val", "15"],
                   cwd=NOTEBOOKS_DIR, check=True, capture_output=True)
    for folder in ("api", "cli"):
        assert first_lines(tmp_path / folder / "stories_train.jsonl", 100) == first_lines(TRAIN_FILE, 40)
        assert first_lines(tmp_path / folder / "stories_val.jsonl", 100) == first_lines(VAL_FILE, 15)


def test_jsonl_loads_with_datasets(tmp_path, val):
    import datasets
    files = {"train": str(TRAIN_FILE), "validation": str(VAL_FILE)}
    dataset = datasets.load_dataset("json", data_files=files, cache_dir=str(tmp_path))
    assert dataset["train"].num_rows == TRAIN_STORIES and dataset["validation"].num_rows == VAL_STORIES
    assert set(dataset["train"].column_names) == {"text", "facts"}
    row = dataset["validation"][0]
    assert row["text"] == val[0].text and row["facts"]["shape"] == val[0].facts["shape"]
    assert row["facts"]["characters"][0]["name"] == val[0].facts["characters"][0]["name"]


# ---------------------------------------------------------------- reading the bundled corpus by split

def test_splits_are_read_by_name_and_texts_come_in_file_order(train):
    from rawllm.world import corpus_path, corpus_texts
    assert corpus_path("train") == TRAIN_FILE and corpus_path("val") == VAL_FILE
    texts = corpus_texts("train")
    assert texts == [s.text for s in train]
    assert texts[0] == json.loads(first_lines(TRAIN_FILE, 1)[0])["text"]


def test_unknown_split_and_missing_file_are_clear_errors(monkeypatch, tmp_path):
    import rawllm.core
    from rawllm.world import corpus_path
    with pytest.raises(ValueError, match="unknown split 'test'"):
        corpus_path("test")
    monkeypatch.setattr(rawllm.core, "DATA_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="data/stories_val.jsonl is missing; data/README.md"):
        corpus_path("val")
