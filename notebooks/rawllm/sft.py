# Generated from notebooks/08_supervised_fine_tuning.ipynb by notebooks/export.py. Do not edit: change the notebook and re-export.

def load_or_train_base_model(device, fallback_steps: int = 300):
    """(model, tokenizer): notebook 06's base model from the cache; when notebook 06 has not run (a notebook opened
    alone, in Colab say), a small one trained the same way for `fallback_steps` steps, then cached."""
    from rawllm.model import ModelConfig, Transformer
    from rawllm.train import TrainConfig, load_base_model, save_base_model, train
    try:
        return load_base_model(device=device)
    except FileNotFoundError:
        from rawllm.tokenizer import load_series_tokenizer
    tokenizer = load_series_tokenizer()
    small = ModelConfig(vocab_size=tokenizer.vocab_size, d_model=128, n_layers=4, n_heads=4, max_seq_len=128,
                        tie_embeddings=True)
    base = Transformer(small)
    train(TrainConfig(model=small, seq_len=128, batch_size=16, max_steps=fallback_steps, lr=3e-3,
                      warmup_steps=max(1, fallback_steps // 10), eval_interval=fallback_steps, eval_steps=2,
                      device=str(device)), model=base, progress=False)
    save_base_model(base, tokenizer)
    return base.to(device).eval(), tokenizer


"""Supervised fine-tuning: chat data from the story world, the chat template, loss masking, padding and packing,
the fine-tuning loop, evaluation, and chat models in the Hugging Face layout (notebook 08)."""
import json
import math
import random
import re
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from rawllm.world import BOY_NAMES, GIRL_NAMES, PET_NAMES, SNACKS, TOYS, Story, plural, questions, read_corpus

UNKNOWN_ANSWER = "The story does not say."
FIRST_TURN = "Story:\n{story}\n\nQuestion: {question}"
KINDS = ("lookup", "unknown", "arithmetic", "retell", "characters")


SYSTEM_PROMPTS = ("You answer questions about the story you are given. Answer briefly.",
                  "Read the story and answer the questions. If the story does not say, answer: The story does not say.",
                  "You are a helpful assistant. Answer using only what the story says.")


RETELL_REQUESTS = ("Tell the story in one sentence.", "Retell the story in one sentence.",
                   "Sum up the story in one sentence.", "What happens in the story? Answer in one sentence.")


CHARACTER_REQUESTS = ("Who are the main characters in the story?", "Who is the story about?",
                      "Name the main characters of the story.")


# Weights of the request kinds, per assistant turn. Only ~39% of stories have counts, so "arithmetic" weighs more
# where it is possible; with these weights the training split comes out near 45/20/15/10/10 (data/README.md).
KIND_WEIGHTS = {"lookup": 45, "unknown": 20, "arithmetic": 55, "retell": 10, "characters": 10}


SYSTEM_SHARE, MULTI_TURN_SHARE = 0.2, 0.25


# About 3.3+ characters per series token here: 1,600 characters of ChatML stay near 400 tokens. Only later turns
# are dropped for it; a first turn alone (the longest story and a retell) reaches ~1,700 characters (~430 tokens).
MAX_CHATML_CHARS = 1600


CHAT_SEED, CHAT_PER_STORY = 8, {"train": 3, "val": 2}


def and_join(names: list[str]) -> str:
    """'Tom', 'Tom and Mia', 'Tom, Mia and Ben'."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def appearance_order(story: Story) -> list[str]:
    """The names of the story's characters (facts["characters"]: children, animals, relatives and pets alike),
    in the order the text first names them (a whole-word, case-sensitive match)."""
    names = [c["name"] for c in story.facts["characters"]]
    first = {n: re.search(rf"\b{re.escape(n)}\b", story.text) for n in names}
    missing = [n for n in names if first[n] is None]
    if missing:
        raise ValueError(f"the story's text never names its character(s) {missing}")
    return sorted(names, key=lambda n: first[n].start())


def characters_answer(story: Story) -> str:
    """The answer to "Who are the main characters?": the facts' characters in order of appearance, 'A, B and C'.
    People the story only mentions in passing (a teacher, a neighbour waved to) are not characters in the facts."""
    return and_join(appearance_order(story))


def trade_retell(facts: dict) -> str:
    """A trade: who swapped what for what, and whether they swapped back."""
    mine, theirs = facts["things"]
    a, b = mine["owner"], theirs["owner"]
    swap = f"{a} swapped {the_full(mine)} for {b}'s {the_full(theirs).removeprefix('the ')}"
    return swap + (", but then they swapped back" if mine["holder"] == a else "")


def the_full(thing: dict) -> str:
    """'the tiny cream pillow': the thing as the story names it, with 'the'."""
    return f"the {thing['size']} {thing['colour']} {thing['thing']}"


def retell_fields(facts: dict) -> dict:
    """What the retell templates may use: names a/b/c, the event (Cause capitalised), its outcome without its
    first word (`rest`), the first place, and a few shape-specific phrases."""
    names = [c["name"] for c in facts["characters"]] + ["", ""]
    cause, outcome = facts["event"]["cause"], facts["event"]["outcome"]
    count = (facts["counts"] or [{}])[0]
    return {"a": names[0], "b": names[1], "c": names[2], "cause": cause, "Cause": cause[0].upper() + cause[1:],
            "outcome": outcome, "rest": outcome.split(" ", 1)[1], "place": (facts["places"] or [""])[0],
            "things": count.get("thing", ""), "end": count.get("end", ""), "spent": -sum(count.get("changes", [])),
            "fix": re.sub(r"\. (He|She|It|They) ", lambda m: f", so {m[1].lower()} ", outcome),
            "gave": f" and gave some to {names[2]}" if names[2] else "",
            "asked": f", and {names[1]} asked about it" if names[1] else "",
            "seen": outcome.split(" saw ", 1)[-1], "winner": outcome.split(" won ", 1)[0],
            "pet": facts["characters"][-1]["kind"], "trade": trade_retell(facts) if facts["shape"] == "trade" else ""}


# One template per story shape; the fields are those of `retell_fields`.
RETELLS = {"lost_and_found": "{Cause}, but {outcome}.", "sharing": "{Cause}, so {outcome}.",
           "trip": "{a} went on a trip to {place} with {b} and saw {seen}.",
           "problem_solved": "{a} needed help because {cause}, and {fix}.",
           "counting": "{a} went to {place} to collect {things} and had {end} at the end.",
           "trade": "{trade}.", "gift": "{Cause}, so {outcome}.",
           "weather_plans": "{Cause}, so {a} and {b} {rest} instead.", "conversation": "{cause} and {rest}.",
           "new_friend": "{Cause} but then {rest}.", "baby_animal": "{Cause}, but {outcome}.",
           "baking": "{Cause}, so {outcome}{gave}.", "race": "{Cause}, and {winner} won.",
           "fear_overcome": "{Cause}, but {outcome}.", "dream": "{cause} and {rest}.",
           "shopping": "{Cause}, so {a} went to {place} and spent {spent} coins.",
           "making": "{Cause}, so {outcome}.", "school_day": "{Cause}, so {outcome}{asked}.",
           "pet_care": "{Cause}, and {a} took good care of the {pet}."}


def retell(story: Story) -> str:
    """The story in one sentence, from its facts: the event (cause and outcome) joined by the shape's template."""
    facts = story.facts
    if facts["shape"] not in RETELLS:
        raise ValueError(f"no retell template for the story shape {facts['shape']!r}")
    fields = retell_fields(facts)
    sentence = RETELLS[facts["shape"]].format(**fields)
    return sentence[0].upper() + sentence[1:]


def mentions(text: str, phrase: str) -> bool:
    """Whether the text names any word of `phrase` (3+ letters), or its plural, as a whole word, ignoring case.
    A phrase with no such word counts as mentioned, so it is never used as an absent thing."""
    words = [w for w in re.findall(r"[a-z]+", phrase.lower()) if len(w) >= 3]
    if not words:
        return True
    alternatives = "|".join(re.escape(form) for w in words for form in (w, plural(w)))
    return re.search(rf"\b({alternatives})\b", text, flags=re.IGNORECASE) is not None


def absent(rng: random.Random, options, story: Story) -> str | None:
    """An option (a thing or a name) that the story's text never mentions, or None if 20 draws find none."""
    for option in rng.sample(options, min(20, len(options))):
        if not mentions(story.text, option):
            return option
    return None


# world.plural("gingerbread man") is "gingerbread mans" (the corpus has it too); unknown questions skip that snack.
UNKNOWN_SNACKS = tuple(s for s in SNACKS if not s.endswith(" man"))


UNKNOWN_QUESTIONS = ("What colour was the {thing}?", "What size was the {thing}?", "Who found the {thing}?",
                     "How many {snacks} did {who} have at the end?", "How did {name} feel at the end?",
                     "Where did {name} go?", "What kind of animal is {pet}?")


def unknown_question(story: Story, rng: random.Random) -> str | None:
    """A question about the story's world that its text cannot answer: a thing, a snack or a character the story
    never mentions (checked against the whole text), asked like the story's real questions; None if none found."""
    template = rng.choice(UNKNOWN_QUESTIONS)
    options = {"thing": TOYS, "snacks": UNKNOWN_SNACKS, "name": GIRL_NAMES + BOY_NAMES, "pet": PET_NAMES}
    fields = {"who": rng.choice([c["name"] for c in story.facts["characters"]])}
    for key in re.findall(r"\{(\w+)\}", template):
        if key in options:
            fields[key] = absent(rng, options[key], story)
            if fields[key] is None:
                return None
    if "snacks" in fields:
        fields["snacks"] = plural(fields["snacks"])
    return template.format(**fields)


def miscounted(story: Story) -> set[str]:
    """End-count questions that the text contradicts. In `sharing` stories the friend may eat one of the snacks
    ("Wes ate one.") after the generator recorded the friend's count, so `questions` answers one too many.
    A workaround for that bug of rawllm.world (about 1 sharing story in 3); remove it once the generator is fixed."""
    facts = story.facts
    return {f"How many {n['thing']} did {n['who']} have at the end?" for n in facts["counts"]
            if facts["shape"] == "sharing" and re.search(rf"\b{re.escape(n['who'])} ate one\.", story.text)}


def request_pools(story: Story, rng: random.Random, n_unknown: int = 6) -> dict:
    """For each request kind, the (question, answer) pairs a conversation about this story may ask, shuffled.
    Retell and characters hold one pair each; their phrasing is drawn per conversation."""
    wrong = miscounted(story)
    qa = [q for q in questions(story) if q["question"] not in wrong]
    pools = {"lookup": [(q["question"], q["answer"]) for q in qa if q["kind"] != "count"],
             "arithmetic": [(q["question"], q["answer"]) for q in qa if q["kind"] == "count"],
             "unknown": [], "retell": [(RETELL_REQUESTS, retell(story))],
             "characters": [(CHARACTER_REQUESTS, characters_answer(story))]}
    real = {q["question"] for q in qa}
    for _ in range(3 * n_unknown):
        q = unknown_question(story, rng)
        if q and q not in real and (q, UNKNOWN_ANSWER) not in pools["unknown"]:
            pools["unknown"].append((q, UNKNOWN_ANSWER))
        if len(pools["unknown"]) == n_unknown:
            break
    for kind in ("lookup", "arithmetic"):
        rng.shuffle(pools[kind])
    return pools


def unused(kind: str, question, asked: list[str]) -> bool:
    """Whether a request is still new in this conversation: a question not yet asked, or (for retell and
    characters, whose question is a tuple of phrasings) a kind not yet asked."""
    return kind not in asked if isinstance(question, tuple) else question not in asked


def next_request(pools: dict, asked: list[str], rng: random.Random) -> tuple[str, str, str] | None:
    """(kind, question, answer): a kind drawn by KIND_WEIGHTS among those with a request not yet used in this
    conversation, then that kind's next request (pools rotate, so a story's conversations vary)."""
    open_kinds = [k for k in KINDS if any(unused(k, q, asked) for q, _ in pools[k])]
    if not open_kinds:
        return None
    kind = rng.choices(open_kinds, weights=[KIND_WEIGHTS[k] for k in open_kinds])[0]
    pool = pools[kind]
    i = next(i for i, (q, _) in enumerate(pool) if unused(kind, q, asked))
    question, answer = pool[i]
    pool.append(pool.pop(i))
    asked.append(kind if isinstance(question, tuple) else question)
    return kind, rng.choice(question) if isinstance(question, tuple) else question, answer


def conversation(story: Story, index: int, pools: dict, rng: random.Random) -> dict:
    """One chat row: an optional system prompt, then 1 to 3 question/answer turns; the first user turn holds the
    story (FIRST_TURN), later ones only the question. A later turn that would take the conversation past
    MAX_CHATML_CHARS (rendered as ChatML) is left out, which keeps conversations under ~430 tokens."""
    turns = 1 if rng.random() >= MULTI_TURN_SHARE else rng.choice((2, 3))
    messages = [{"role": "system", "content": rng.choice(SYSTEM_PROMPTS)}] if rng.random() < SYSTEM_SHARE else []
    kinds, asked = [], []
    for turn in range(turns):
        request = next_request(pools, asked, rng)
        if request is None:
            break
        kind, question, answer = request
        user = FIRST_TURN.format(story=story.text, question=question) if turn == 0 else question
        pair = [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
        if turn > 0 and len(chatml(messages + pair)) > MAX_CHATML_CHARS:
            break
        messages += pair
        kinds.append(kind)
    if any(m["content"] != m["content"].strip() or not m["content"] for m in messages):
        raise ValueError(f"story {index}: a message has whitespace at its edges or is empty")
    return {"messages": messages, "kinds": kinds, "story": index}


def as_story(story) -> Story:
    """A Story from a Story or a {"text", "facts"} dict (a line of the corpus files)."""
    if isinstance(story, Story):
        return story
    if isinstance(story, dict) and {"text", "facts"} <= set(story):
        return Story(story["text"], story["facts"])
    raise ValueError(f"expected a Story or a dict with 'text' and 'facts', got {type(story).__name__}")


def make_chat_rows(stories, seed: int, per_story: int) -> list[dict]:
    """`per_story` conversations about each story, in story order; a pure function of its arguments.
    The row's "story" is the story's index in `stories` (its line in the split file)."""
    if not isinstance(per_story, int) or isinstance(per_story, bool) or per_story < 1:
        raise ValueError(f"per_story must be a positive int, got {per_story!r}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed must be an int, got {seed!r}")
    stories = [as_story(s) for s in stories]
    if not stories:
        raise ValueError("no stories to make conversations from")
    rng, rows = random.Random(seed), []
    for index, story in enumerate(stories):
        pools = request_pools(story, rng)
        rows += [conversation(story, index, pools, rng) for _ in range(per_story)]
    return rows


def chat_rows(split: str, seed: int = CHAT_SEED, per_story: int | None = None) -> list[dict]:
    """The conversations of a split of the bundled corpus: "train" (seed) or "val" (seed + 1, other stories)."""
    if split not in CHAT_PER_STORY:
        raise ValueError(f"unknown split {split!r}; the chat data has 'train' and 'val'")
    per_story = CHAT_PER_STORY[split] if per_story is None else per_story
    return make_chat_rows(read_corpus(split), seed + 1 if split == "val" else seed, per_story)


def row_json(row: dict) -> str:
    """One line of a chat file: keys in a fixed order (messages, kinds, story; role, content), UTF-8 text kept."""
    ordered = {"messages": [{"role": m["role"], "content": m["content"]} for m in row["messages"]],
               "kinds": list(row["kinds"]), "story": row["story"]}
    return json.dumps(ordered, ensure_ascii=False)


def write_chat_data(out_dir, seed: int = CHAT_SEED, train=None, val=None,
                    train_per_story: int = CHAT_PER_STORY["train"], val_per_story: int = CHAT_PER_STORY["val"]) -> dict:
    """Write chat_train.jsonl (from the training stories) and chat_val.jsonl (from the validation stories) into
    `out_dir`; `train`/`val` default to the bundled corpus. Returns {file name: number of conversations}."""
    splits = {"chat_train.jsonl": (read_corpus("train") if train is None else train, seed, train_per_story),
              "chat_val.jsonl": (read_corpus("val") if val is None else val, seed + 1, val_per_story)}
    train_texts = {as_story(s).text for s in splits["chat_train.jsonl"][0]}
    shared = sum(as_story(s).text in train_texts for s in splits["chat_val.jsonl"][0])
    if shared:
        raise ValueError(f"{shared} validation stories are also training stories; the splits must not overlap")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, (stories, split_seed, per_story) in splits.items():
        rows = make_chat_rows(stories, split_seed, per_story)
        (out / name).write_text("".join(row_json(r) + "\n" for r in rows), encoding="utf-8")
        written[name] = len(rows)
    return written


def chatml(messages: list[dict]) -> str:
    """A conversation in ChatML: "<|im_start|>{role}\\n{content}<|im_end|>\\n" per message."""
    return "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)


def length_stats(rows: list[dict], tokenizer) -> dict:
    """Median, 95th percentile and max of the token counts of the rows rendered as ChatML."""
    lengths = sorted(len(tokenizer.encode(chatml(r["messages"]), allowed_special="all")) for r in rows)
    pick = lambda q: lengths[min(len(lengths) - 1, int(q * len(lengths)))]
    return {"n": len(lengths), "median": pick(0.5), "p95": pick(0.95), "max": lengths[-1]}


ROLES = ("system", "user", "assistant")


START, END = "<|im_start|>", "<|im_end|>"              # ChatML's turn markers: special tokens of the series tokenizer


PAD = "<|pad|>"


ANSWER_PREFIX = " "      # before every answer: its first word is then the same token as in the story (" glad")


CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{{- '<|im_start|>assistant\\n' -}}"
    "{%- generation -%}{{- " + repr(ANSWER_PREFIX) + " + message['content'] + '<|im_end|>' -}}{%- endgeneration -%}"
    "{{- '\\n' -}}"
    "{%- else -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}")


def check_messages(messages, add_generation_prompt: bool = False) -> None:
    """Clear errors for a conversation the template cannot render as asked."""
    if not isinstance(messages, (list, tuple)) or not messages:
        raise ValueError("a conversation is a non-empty list of {'role': ..., 'content': ...} messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or set(m) - {"role", "content"} or not isinstance(m.get("content"), str):
            raise ValueError(f"message {i} must be a dict with a 'role' and a str 'content', got {m!r}")
        if m.get("role") not in ROLES:
            raise ValueError(f"message {i} has the unknown role {m.get('role')!r}; roles are {ROLES}")
        if m["role"] == "system" and i:
            raise ValueError(f"message {i} is a system message: only the first message may be one")
    last = messages[-1]["role"]
    if add_generation_prompt and last == "assistant":
        raise ValueError("add_generation_prompt=True asks for the assistant's next turn, but the conversation "
                         "already ends with an assistant message")
    if not add_generation_prompt and last != "assistant":
        raise ValueError(f"the conversation ends with a {last} message: to train on it, end it with the assistant's "
                         "answer; to generate the answer, pass add_generation_prompt=True")


def chat_segments(messages, add_generation_prompt: bool = False,
                  answer_prefix: str = ANSWER_PREFIX) -> list[tuple[str, bool]]:
    """The template's text as (piece, trained) pairs: trained pieces are what the assistant says, after
    answer_prefix and with its end-of-turn marker (CHAT_TEMPLATE's {% generation %} blocks)."""
    check_messages(messages, add_generation_prompt)
    pieces = []
    for m in messages:
        if m["role"] == "assistant":
            pieces += [(f"{START}assistant\n", False), (answer_prefix + m["content"] + END, True), ("\n", False)]
        else:
            pieces.append((f"{START}{m['role']}\n{m['content']}{END}\n", False))
    if add_generation_prompt:
        pieces.append((f"{START}assistant\n", False))
    return pieces


def encode_chat(tokenizer, messages, add_generation_prompt: bool = False, answer_prefix: str = ANSWER_PREFIX) -> dict:
    """{"input_ids": [...], "assistant_masks": [...]}: the conversation through CHAT_TEMPLATE, and 1 on every token
    the assistant says (the tokens SFT trains on), as transformers' apply_chat_template(...,
    return_assistant_tokens_mask=True) gives them (for the default answer_prefix, CHAT_TEMPLATE's)."""
    input_ids, masks, segments = [], [], chat_segments(messages, add_generation_prompt, answer_prefix)
    for text, trained in segments:
        ids = tokenizer.encode(text, allowed_special={START, END})
        input_ids += ids
        masks += [int(trained)] * len(ids)
    if tokenizer.encode("".join(text for text, _ in segments), allowed_special={START, END}) != input_ids:
        raise ValueError("a message's content starts or ends with characters that merge with the template's "
                         "newline into one token; strip the whitespace at the edges of every message")
    return {"input_ids": input_ids, "assistant_masks": masks}


def load_chat_tokenizer():
    """The series tokenizer (notebook 01): it already holds ChatML's <|im_start|>, <|im_end|> and <|pad|>."""
    from rawllm.tokenizer import load_series_tokenizer
    tokenizer = load_series_tokenizer()
    missing = [t for t in (START, END, PAD) if t not in tokenizer.special_tokens]
    if missing:
        raise ValueError(f"the tokenizer lacks the chat tokens {missing}")
    return tokenizer


def tokenizer_config(tokenizer, max_length: int) -> dict:
    """tokenizer_config.json: the chat template, and which special tokens end a turn and pad a batch."""
    return {"tokenizer_class": "PreTrainedTokenizerFast", "chat_template": CHAT_TEMPLATE, "bos_token": None,
            "eos_token": END, "pad_token": PAD, "model_max_length": max_length, "clean_up_tokenization_spaces": False}


def save_chat_tokenizer(tokenizer, path, max_length: int = 512) -> Path:
    """tokenizer.json, tokenizer_config.json (with CHAT_TEMPLATE) and rawllm-bpe.json into `path`: the folder
    transformers' AutoTokenizer loads and our BPETokenizer.load reads back."""
    from rawllm.core import atomic_write
    folder = Path(path)
    tokenizer.save_tokenizer_json(folder / "tokenizer.json")
    tokenizer.save(folder / "rawllm-bpe.json")
    config = json.dumps(tokenizer_config(tokenizer, max_length), indent=1) + "\n"
    atomic_write(folder / "tokenizer_config.json", lambda tmp: tmp.write_text(config))
    return folder


def extend_context(model, max_seq_len: int, rope_scaling: dict | None):
    """A copy of `model` that reads max_seq_len positions: the same weights, with notebook 03's RoPE scaling
    (None: plain RoPE, extrapolated past the trained positions)."""
    longer = type(model)(replace(model.config, max_seq_len=max_seq_len, rope_scaling=rope_scaling))
    longer.load_state_dict(model.state_dict())
    return longer.to(next(model.parameters()).device)


def yarn_scaling(original: int, target: int) -> dict:
    """YaRN's rope_parameters for a model trained on `original` positions that should read `target`."""
    return {"rope_type": "yarn", "factor": target / original, "original_max_position_embeddings": original}


IGNORE = -100                                   # the label cross_entropy skips (transformers' and TRL's convention)


def labels_of(example) -> list[int]:
    """The training targets of one encoded conversation: its ids where the assistant speaks, IGNORE elsewhere."""
    return [t if m else IGNORE for t, m in zip(example["input_ids"], example["assistant_masks"])]


def sft_loss(model, batch: dict, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of the next token where the label is not IGNORE: the mean over the batch's assistant tokens
    ("sum": their sum). Logits at t predict the token at t + 1."""
    logits = model(batch["input_ids"], attention_mask=batch["attention_mask"], position_ids=batch["position_ids"])
    return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), batch["labels"][:, 1:].flatten(),
                           ignore_index=IGNORE, reduction=reduction)


def pad_batch(examples, pad_id: int, side: str = "right") -> dict:
    """Encoded conversations -> input_ids, labels, attention_mask (each (batch, longest)) and position_ids,
    padded on the right (training) or the left (generation)."""
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    width = max(len(e["input_ids"]) for e in examples)
    batch = {"input_ids": [], "labels": [], "attention_mask": []}
    for e in examples:
        n = width - len(e["input_ids"])
        for key, row, fill in (("input_ids", e["input_ids"], pad_id), ("labels", labels_of(e), IGNORE),
                               ("attention_mask", [1] * len(e["input_ids"]), 0)):
            batch[key].append(row + [fill] * n if side == "right" else [fill] * n + row)
    batch = {key: torch.tensor(rows) for key, rows in batch.items()}
    batch["position_ids"] = (batch["attention_mask"].cumsum(-1) - 1).clamp_min(0)
    return batch


def pack_examples(examples, seq_len: int) -> list[list[int]]:
    """Greedy first-fit: the indices of the examples packed into each row of at most seq_len tokens, in order."""
    rows, room = [], []
    for i, e in enumerate(examples):
        n = len(e["input_ids"])
        if n > seq_len:
            raise ValueError(f"example {i} has {n} tokens, more than seq_len={seq_len}")
        fit = next((r for r, left in enumerate(room) if left >= n), None)
        if fit is None:
            rows.append([]), room.append(seq_len)
            fit = len(rows) - 1
        rows[fit].append(i)
        room[fit] -= n
    return rows


def pack_batch(examples, seq_len: int, pad_id: int) -> dict:
    """Encoded conversations packed into rows of seq_len tokens: input_ids, labels, position_ids restarting at 0
    for every conversation (so none attends to another), attention_mask 0 only on the padding that fills a row."""
    batch = {"input_ids": [], "labels": [], "position_ids": [], "attention_mask": []}
    for row in pack_examples(examples, seq_len):
        ids = [t for i in row for t in examples[i]["input_ids"]]
        labels = [t for i in row for t in labels_of(examples[i])]
        positions = [p for i in row for p in range(len(examples[i]["input_ids"]))]
        n = seq_len - len(ids)
        batch["input_ids"].append(ids + [pad_id] * n)
        batch["labels"].append(labels + [IGNORE] * n)
        batch["position_ids"].append(positions + list(range(n)))
        batch["attention_mask"].append([1] * len(ids) + [0] * n)
    return {key: torch.tensor(rows) for key, rows in batch.items()}


COPY_TOKENS = (100, 4000)       # ordinary ids of the series vocabulary; its special tokens sit at the top, above 4091


def copy_batch(rows: int, length: int, generator: torch.Generator, tokens: tuple[int, int] = COPY_TOKENS) -> dict:
    """(rows, 2 * length) random ids from range(*tokens), each row's first half written twice; labels on the second
    copy from its second token (what an earlier copy makes predictable), IGNORE elsewhere. pad_batch's keys."""
    first = torch.randint(*tokens, (rows, length), generator=generator)
    input_ids = torch.cat([first, first], dim=1)
    labels = input_ids.clone()
    labels[:, :length + 1] = IGNORE
    return {"input_ids": input_ids, "labels": labels, "attention_mask": torch.ones_like(input_ids),
            "position_ids": torch.arange(2 * length).repeat(rows, 1)}


@torch.no_grad()
def induction_losses(model, length: int = 32, rows: int = 32, seed: int = 0,
                     tokens: tuple[int, int] = COPY_TOKENS) -> tuple[float, float]:
    """(loss on the first copy, loss on the second) of repeated random ids, from each copy's second token on:
    equal for a model that cannot copy, the second near 0 for one with an induction head."""
    was_training, device = model.training, next(model.parameters()).device
    ids = copy_batch(rows, length, torch.Generator().manual_seed(seed), tokens)["input_ids"].to(device)
    logits = model.eval()(ids)
    nll = F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), ids[:, 1:].flatten(), reduction="none").view(rows, -1)
    model.train(was_training)
    return nll[:, :length - 1].mean().item(), nll[:, length:].mean().item()


def copy_warmup(model, steps: int, rows: int = 16, length: int = 32, lr: float = 1e-3, grad_clip: float = 1.0,
                seed: int = 0, tokens: tuple[int, int] = COPY_TOKENS, progress: bool = True) -> list[float]:
    """Train `model` in place on the copy task alone (copy_batch, sft_loss) for `steps` steps; the losses."""
    from tqdm.auto import tqdm
    from rawllm.train import make_optimizers
    optimizers = make_optimizers(model, "adamw", lr=lr, weight_decay=0.0)
    generator, device, losses = torch.Generator().manual_seed(seed), next(model.parameters()).device, []
    model.train()
    for _ in tqdm(range(steps), desc="copy warm-up", disable=not progress):
        loss = sft_loss(model, {k: v.to(device) for k, v in copy_batch(rows, length, generator, tokens).items()})
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        for opt in optimizers:
            opt.step()
            opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
    return losses


@dataclass
class SFTConfig:
    """One supervised fine-tuning run."""
    steps: int = 800                         # optimizer steps
    batch_size: int = 16                     # conversations per step
    packing: bool = False                    # pack each step's conversations into rows of seq_len tokens
    seq_len: int = 512                       # packed rows' length
    lr: float = 3e-3                         # peak learning rate (AdamW, warmup then cosine)
    min_lr_ratio: float = 0.1
    warmup_steps: int = 30
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    assistant_only: bool = True              # False: the loss covers every token, template and story included
    checkpoint_dir: str | None = None        # checkpoints go there; a run resumes from the latest one
    checkpoint_interval: int = 0             # steps between checkpoints (and one at the end); 0: only the end
    stop_at_step: int | None = None          # end this session early (the schedule still spans `steps`)
    copy_warmup_steps: int = 0               # copy_warmup steps (batch_size rows, lr) before the first SFT step
    copy_weight: float = 0.0                 # weight of a copy batch's loss added to every SFT step; 0: none
    copy_rows: int = 8                       # rows of that copy batch
    copy_length: int = 32                    # random ids per copy (a row holds two copies)
    copy_min_id: int = COPY_TOKENS[0]        # the copy task's ids: range(copy_min_id, copy_max_id)
    copy_max_id: int = COPY_TOKENS[1]
    seed: int = 0


def check_sft_config(config: SFTConfig, n_examples: int, vocab_size: int | None = None) -> None:
    """ValueError for a run that cannot work, with the numbers."""
    c = config
    if c.steps < 1 or c.batch_size < 1 or c.seq_len < 2:
        raise ValueError(f"need steps >= 1, batch_size >= 1, seq_len >= 2; got {c.steps}, {c.batch_size}, {c.seq_len}")
    if not 0 <= c.warmup_steps <= c.steps:
        raise ValueError(f"warmup_steps={c.warmup_steps} must lie between 0 and steps={c.steps}")
    if n_examples < c.batch_size:
        raise ValueError(f"{n_examples} conversations are fewer than one batch of batch_size={c.batch_size}")
    if c.copy_warmup_steps < 0 or c.copy_weight < 0:
        raise ValueError(f"copy_warmup_steps={c.copy_warmup_steps} and copy_weight={c.copy_weight} must be >= 0")
    if c.copy_warmup_steps or c.copy_weight:
        if c.copy_rows < 1 or c.copy_length < 2 or not 0 <= c.copy_min_id < c.copy_max_id:
            raise ValueError(f"the copy task needs copy_rows >= 1, copy_length >= 2, 0 <= copy_min_id < copy_max_id; "
                             f"got {c.copy_rows}, {c.copy_length}, {c.copy_min_id}, {c.copy_max_id}")
        if vocab_size is not None and c.copy_max_id > vocab_size:
            raise ValueError(f"copy_max_id={c.copy_max_id} is beyond the model's vocabulary of {vocab_size} ids")


def step_examples(n_examples: int, batch_size: int, seed: int, step: int) -> list[int]:
    """The indices of step's conversations, a pure function of (seed, step): each epoch is a fresh shuffle,
    cut into batches (a last partial batch is dropped)."""
    per_epoch = n_examples // batch_size
    epoch, j = divmod(step, per_epoch)
    order = torch.randperm(n_examples, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
    return order[j * batch_size:(j + 1) * batch_size].tolist()


def sft_batch(examples: list[dict], config: SFTConfig, step: int, pad_id: int) -> dict:
    """Step's batch: its conversations padded to the longest, or packed into rows of seq_len tokens."""
    chosen = [examples[i] for i in step_examples(len(examples), config.batch_size, config.seed, step)]
    if not config.assistant_only:
        chosen = [{"input_ids": e["input_ids"], "assistant_masks": [1] * len(e["input_ids"])} for e in chosen]
    return pack_batch(chosen, config.seq_len, pad_id) if config.packing else pad_batch(chosen, pad_id)


def sft_history() -> dict:
    return {"step": [], "loss": [], "copy_loss": [], "lr": [], "grad_norm": [], "tokens_per_s": [], "events": []}


def step_copy_batch(config: SFTConfig, step: int) -> dict | None:
    """Step's copy batch (None when copy_weight is 0), a pure function of (seed, step) like its conversations."""
    if not config.copy_weight:
        return None
    generator = torch.Generator().manual_seed(config.seed * 100_003 + step + 7)
    return copy_batch(config.copy_rows, config.copy_length, generator, (config.copy_min_id, config.copy_max_id))


def sft_step(model, optimizers, batch: dict, config: SFTConfig, copy: dict | None = None) -> tuple[float, float, float]:
    """One optimizer step on a batch (plus copy_weight x the loss of a copy batch): (SFT loss, gradient norm before
    clipping, copy loss or nan); a non-finite loss skips the update. Clipping, the step and zeroing the gradients are
    notebook 06's apply_update (fp32, so no gradient scaler)."""
    from rawllm.train import apply_update
    device = next(model.parameters()).device
    loss = sft_loss(model, {k: v.to(device) for k, v in batch.items()})
    copy_loss = sft_loss(model, {k: v.to(device) for k, v in copy.items()}) if copy is not None else None
    total = loss if copy_loss is None else loss + config.copy_weight * copy_loss
    copy_value = float("nan") if copy_loss is None else copy_loss.item()
    if not torch.isfinite(total):
        return loss.item(), float("nan"), copy_value
    total.backward()
    no_scaler = torch.amp.GradScaler(device.type, enabled=False)
    return loss.item(), apply_update(model, optimizers, no_scaler, config), copy_value


def sft_train(model, examples: list[dict], config: SFTConfig, pad_id: int, progress: bool = True) -> dict:
    """Fine-tune `model` in place on encoded conversations ({"input_ids", "assistant_masks"}); returns the history
    (step, loss, copy_loss, lr, grad_norm, tokens_per_s, events; copy_warmup: the warm-up's losses). Resumes from
    config.checkpoint_dir's latest checkpoint, the copy warm-up included."""
    from tqdm.auto import tqdm
    from rawllm.train import load_checkpoint, lr_multiplier, make_optimizers, save_checkpoint
    check_sft_config(config, len(examples), model.config.vocab_size)
    optimizers = make_optimizers(model, "adamw", lr=config.lr, weight_decay=config.weight_decay)
    history, start = sft_history(), 0
    if config.checkpoint_dir and (Path(config.checkpoint_dir) / "latest.json").is_file():
        state = load_checkpoint(config.checkpoint_dir, model, optimizers, config=config)
        history, start = state["history"], state["step"]
        history.setdefault("copy_loss", [float("nan")] * len(history["loss"]))
        if progress:
            print(f"resuming at step {start} of {config.steps} from {config.checkpoint_dir}", flush=True)
    elif config.copy_warmup_steps:
        history["copy_warmup"] = copy_warmup(model, config.copy_warmup_steps, config.batch_size, config.copy_length,
                                             config.lr, config.grad_clip, config.seed,
                                             (config.copy_min_id, config.copy_max_id), progress)
    end = min(config.steps, config.stop_at_step or config.steps)
    model.train()
    for step in tqdm(range(start, end), initial=start, total=end, desc="sft", disable=not progress):
        multiplier = lr_multiplier(step, config.steps, config.warmup_steps, "cosine", config.min_lr_ratio)
        for opt in optimizers:
            for group in opt.param_groups:
                group["lr"] = group["base_lr"] * multiplier
        batch, began = sft_batch(examples, config, step, pad_id), time.perf_counter()
        loss, norm, copy_loss = sft_step(model, optimizers, batch, config, step_copy_batch(config, step))
        tokens = int(batch["attention_mask"].sum())
        for key, value in (("step", step + 1), ("loss", loss), ("copy_loss", copy_loss), ("lr", config.lr * multiplier),
                           ("grad_norm", norm), ("tokens_per_s", tokens / (time.perf_counter() - began))):
            history[key].append(value)
        if not math.isfinite(loss):
            history["events"].append(f"step {step + 1}: loss {loss}; the update was skipped")
        due = config.checkpoint_interval and (step + 1) % config.checkpoint_interval == 0
        if config.checkpoint_dir and (due or step + 1 == end):
            save_checkpoint(config.checkpoint_dir, model, optimizers, step + 1, config, history=history)
    return history


def eval_items(rows: list[dict]) -> list[dict]:
    """Every assistant turn of every conversation as a test item: the messages before it (the earlier turns as
    written, so each answer is judged on its own), the expected answer and its kind."""
    items = []
    for row in rows:
        assistant = [i for i, m in enumerate(row["messages"]) if m["role"] == "assistant"]
        for i, kind in zip(assistant, row["kinds"]):
            items.append({"messages": row["messages"][:i], "answer": row["messages"][i]["content"], "kind": kind})
    return items


def normalize_answer(text: str) -> str:
    """Lower case, no punctuation, single spaces: 'The kite.' and 'the kite' match."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


@torch.no_grad()
def generate_answers(model, tokenizer, prompts: list[list[int]], stop_ids, max_new_tokens: int = 40,
                     batch_size: int = 16) -> list[str]:
    """Greedy answers to token prompts, batched with left padding (shortest first), each cut at its first stop id."""
    from rawllm.generate import generate
    device, answers = next(model.parameters()).device, [None] * len(prompts)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        width = max(len(prompts[i]) for i in chunk)
        ids = torch.tensor([[0] * (width - len(prompts[i])) + prompts[i] for i in chunk], device=device)
        mask = torch.tensor([[0] * (width - len(prompts[i])) + [1] * len(prompts[i]) for i in chunk], device=device)
        new = generate(model, ids, max_new_tokens, greedy=True, attention_mask=mask, stop_ids=stop_ids).tolist()
        for i, tokens in zip(chunk, new):
            cut = next((j for j, t in enumerate(tokens) if t in stop_ids), len(tokens))
            answers[i] = tokenizer.decode(tokens[:cut]).strip()
    return answers


def score(items: list[dict], answers: list[str]) -> dict:
    """Exact match (normalised) per kind and overall: {"kinds": {kind: [right, total]}, "exact_match": ...}."""
    kinds = {}
    for item, answer in zip(items, answers):
        right = normalize_answer(answer) == normalize_answer(item["answer"])
        kinds.setdefault(item["kind"], [0, 0])[0] += right
        kinds[item["kind"]][1] += 1
    total = sum(t for _, t in kinds.values())
    return {"kinds": kinds, "exact_match": sum(r for r, _ in kinds.values()) / max(total, 1)}


def evaluate_chat(model, tokenizer, rows: list[dict], max_new_tokens: int = 40, batch_size: int = 16) -> dict:
    """Greedy answers through the chat template, stopping at the end of the turn, scored by exact match per kind;
    with the answers themselves (result["answers"]) for reading."""
    items = eval_items(rows)
    prompts = [encode_chat(tokenizer, it["messages"], add_generation_prompt=True)["input_ids"] for it in items]
    answers = generate_answers(model, tokenizer, prompts, [tokenizer.special_tokens[END]], max_new_tokens, batch_size)
    return score(items, answers) | {"answers": answers, "items": items}


def plain_text(messages: list[dict], answer: str | None = None) -> str:
    """A conversation as the base model could have read it in a story book: 'Story: ... Question: ...\\nAnswer:',
    each answer after it (system prompts left out); `answer` completes the last question (a solved example)."""
    text = ""
    for m in messages:
        if m["role"] == "user":
            question = m["content"] if m["content"].startswith("Story:") else f"Question: {m['content']}"
            text += f"{question}\nAnswer:"
        elif m["role"] == "assistant":
            text += f" {m['content']}\n"
    return text + (f" {answer}\n\n" if answer is not None else "")


def evaluate_few_shot(model, tokenizer, rows: list[dict], shots: list[dict], max_new_tokens: int = 40,
                      batch_size: int = 8) -> dict:
    """The base model's score: each test item after a few solved examples (`shots`, items of eval_items) in
    plain text, its answer cut at the first newline."""
    eot = tokenizer.special_tokens["<|endoftext|>"]
    prefix = "".join(plain_text(s["messages"], s["answer"]) for s in shots)
    items = eval_items(rows)
    prompts = [[eot] + tokenizer.encode(prefix + plain_text(it["messages"])) for it in items]
    newline = [i for i in range(tokenizer.vocab_size) if b"\n" in tokenizer.token_bytes(i)]
    answers = generate_answers(model, tokenizer, prompts, newline + [eot], max_new_tokens, batch_size)
    return score(items, answers) | {"answers": answers, "items": items}


@torch.no_grad()
def answer_perplexity(model, examples: list[dict], pad_id: int, batch_size: int = 16) -> float:
    """exp of the mean cross-entropy of the assistant tokens of encoded conversations (their answers)."""
    model.eval()
    device, total, count = next(model.parameters()).device, 0.0, 0
    for start in range(0, len(examples), batch_size):
        batch = pad_batch(examples[start:start + batch_size], pad_id)
        total += sft_loss(model, {k: v.to(device) for k, v in batch.items()}, reduction="sum").item()
        count += int((batch["labels"][:, 1:] != -100).sum())
    return math.exp(total / count)


def save_chat_model(model, tokenizer, path) -> Path:
    """The fine-tuned model and its tokenizer in one Hugging Face folder: config.json (its eos_token_id the end of
    a turn, so transformers' generate stops there), model.safetensors, tokenizer.json, tokenizer_config.json with
    the chat template. AutoModelForCausalLM and AutoTokenizer load it as it is."""
    end_id = tokenizer.special_tokens[END]
    saved = type(model)(replace(model.config, eos_token_id=end_id, bos_token_id=None))
    saved.load_state_dict(model.state_dict())
    saved.save_pretrained(path)
    return save_chat_tokenizer(tokenizer, path, max_length=model.config.max_seq_len)


def load_chat_model(path, device=None):
    """(model in eval mode, tokenizer) from a folder save_chat_model wrote."""
    from rawllm.model import Transformer
    from rawllm.tokenizer import BPETokenizer
    folder = Path(path)
    if not (folder / "rawllm-bpe.json").is_file():
        raise FileNotFoundError(f"no chat model in {folder}: run notebook 08 (or python -m rawllm.sft) first")
    model = Transformer.from_pretrained(folder)
    return (model.to(device) if device is not None else model).eval(), BPETokenizer.load(folder / "rawllm-bpe.json")


def read_chat_file(path) -> list[dict]:
    """The rows of a chat .jsonl file ({"messages", "kinds", ...} per line)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no chat file {path}: write it with `python -m rawllm.sft data`")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def argument_parser():
    import argparse
    from dataclasses import fields
    from rawllm.train import flag_type
    parser = argparse.ArgumentParser(prog="python -m rawllm.sft", description="Supervised fine-tuning (notebook 08).")
    commands = parser.add_subparsers(dest="command", required=True)
    data = commands.add_parser("data", help="write chat_train.jsonl and chat_val.jsonl from the story corpus")
    data.add_argument("--out", required=True, help="the folder (the repository's data/ holds the committed files)")
    data.add_argument("--seed", type=int, default=CHAT_SEED)
    train = commands.add_parser("train", help="fine-tune notebook 06's base model on the chat data, evaluate, save")
    for f in fields(SFTConfig):
        if f.type is bool:
            train.add_argument(f"--{f.name}", action=argparse.BooleanOptionalAction, default=f.default)
        else:
            train.add_argument(f"--{f.name}", type=flag_type(f.type), default=f.default)
    train.add_argument("--out", required=True, help="where the chat model goes (Hugging Face layout)")
    train.add_argument("--base", default=None, help="a base model folder (default: notebook 06's)")
    train.add_argument("--data", default=None, help="the folder of chat_train.jsonl and chat_val.jsonl")
    train.add_argument("--context", type=int, default=512, help="positions the model reads (YaRN past its own)")
    train.add_argument("--eval_conversations", type=int, default=200, help="validation conversations scored")
    train.add_argument("--quiet", action="store_true")
    return parser


def print_scores(title: str, result: dict) -> None:
    kinds = " | ".join(f"{k} {r}/{t} ({r / t:.0%})" for k, (r, t) in sorted(result["kinds"].items()))
    print(f"{title}: exact match {result['exact_match']:.1%} | {kinds}", flush=True)


def train_command(args: dict) -> dict:
    """`python -m rawllm.sft train`: the notebook's run from the command line; returns the validation scores."""
    from dataclasses import fields
    from rawllm.core import DATA_DIR
    from rawllm.train import load_base_model
    config = SFTConfig(**{f.name: args[f.name] for f in fields(SFTConfig)})
    base, tokenizer = load_base_model(path=args["base"])
    model = extend_context(base, args["context"], None if args["context"] <= base.config.max_seq_len else
                           yarn_scaling(base.config.max_seq_len, args["context"]))
    folder = Path(args["data"]) if args["data"] else DATA_DIR
    examples = [encode_chat(tokenizer, row["messages"]) for row in read_chat_file(folder / "chat_train.jsonl")]
    sft_train(model, examples, config, tokenizer.special_tokens[PAD], progress=not args["quiet"])
    save_chat_model(model, tokenizer, args["out"])
    result = evaluate_chat(model.eval(), tokenizer, read_chat_file(folder / "chat_val.jsonl")[:args["eval_conversations"]])
    print_scores("validation", result)
    print("saved to", args["out"])
    return result


def main(argv: list[str] | None = None):
    args = vars(argument_parser().parse_args(argv))
    if args.pop("command") == "data":
        written = write_chat_data(args["out"], seed=args["seed"])
        print(", ".join(f"{name}: {n} conversations" for name, n in written.items()))
        return written
    return train_command(args)


# In a notebook `__name__` is "__main__" too, but there is no `__file__`: only `python -m rawllm.sft` runs this.
if __name__ == "__main__" and "__file__" in globals():
    import sys
    main(sys.argv[1:])


def chat_widget(model, tokenizer, stories: list[str], max_new_tokens: int = 60):
    """Pick a story (or paste one), ask a question, watch the answer stream in (ipywidgets 7 and 8)."""
    import html
    import ipywidgets as widgets
    from rawllm.generate import TextStreamer, stream
    picker = widgets.Dropdown(options=[(s[:60] + "...", i) for i, s in enumerate(stories)], description="story")
    story = widgets.Textarea(value=stories[0], layout=widgets.Layout(width="95%", height="140px"))
    question = widgets.Text(value="Who is the story about?", description="question",
                            layout=widgets.Layout(width="95%"))
    ask, answer = widgets.Button(description="Ask"), widgets.HTML()
    picker.observe(lambda change: setattr(story, "value", stories[change["new"]]), names="value")

    def on_ask(_=None):
        messages = [{"role": "user", "content": f"Story:\n{story.value.strip()}\n\nQuestion: {question.value.strip()}"}]
        prompt = encode_chat(tokenizer, messages, add_generation_prompt=True)["input_ids"]
        streamer, text = TextStreamer(tokenizer), ""
        for token in stream(model, [prompt], max_new_tokens, greedy=True, stop_ids=[tokenizer.special_tokens[END]]):
            if int(token[0]) == tokenizer.special_tokens[END]:
                break
            text += streamer.push(token[0])
            answer.value = f"<b>answer:</b> {html.escape(text)}"
        answer.value = f"<b>answer:</b> {html.escape(text + streamer.finish())}"

    ask.on_click(on_ask)
    box = widgets.VBox([picker, story, question, ask, answer])
    box.ask = on_ask                                  # for driving it from code (tests, static pages)
    return box


class HFChatTokenizer:
    """A transformers tokenizer behind the few methods encode_chat and the SFT loop use, so that the same code
    fine-tunes a hub model (its own tokenizer, with ChatML's <|im_start|> and <|im_end|>)."""

    def __init__(self, hf_tokenizer):
        self.hf = hf_tokenizer
        self.special_tokens = {t: hf_tokenizer.convert_tokens_to_ids(t) for t in hf_tokenizer.all_special_tokens}
        for token in (START, END):
            token_id = hf_tokenizer.convert_tokens_to_ids(token)
            if token_id is None or token_id == hf_tokenizer.unk_token_id:
                raise ValueError(f"this tokenizer has no {token} token: its chat format is not ChatML")
            self.special_tokens[token] = token_id
        self.vocab_size = len(hf_tokenizer)

    def encode(self, text: str, allowed_special=()) -> list[int]:
        return self.hf(text, add_special_tokens=False)["input_ids"]

    def decode(self, ids) -> str:
        return self.hf.decode(ids)


def load_chat_rows(source: str, split: str = "train", limit: int | None = None) -> list[dict]:
    """Conversations {"messages": [...]} from a local .jsonl file, or streamed from a hub dataset with a
    "messages" column (e.g. HuggingFaceTB/smol-smoltalk); at most `limit` rows read, each message trimmed, and
    only conversations that end with a non-empty assistant turn kept."""
    from itertools import islice
    from datasets import load_dataset
    local = Path(source).suffix == ".jsonl"
    data = load_dataset("json", data_files=source, split="train") if local else \
        load_dataset(source, split=split, streaming=True)
    rows = []
    for row in islice(data, limit):
        messages = [{"role": m["role"], "content": m["content"].strip()} for m in row["messages"]]
        if messages and messages[-1]["role"] == "assistant" and all(m["content"] for m in messages):
            rows.append({"messages": messages})                 # the template needs trimmed, non-empty turns
    if not rows:
        raise ValueError(f"no conversations in {source}")
    return rows
