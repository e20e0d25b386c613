"""rawllm.sft: the chat template against transformers, loss masking, padding and packing, the loop and its resume,
the evaluation harness, chat models that transformers serves, the command line, the widget, the hub data path."""
import copy
import json
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, AutoTokenizer

from rawllm.model import ModelConfig, Transformer
from rawllm.sft import (END, PAD, HFChatTokenizer, SFTConfig, chat_widget, encode_chat, evaluate_chat, extend_context,
                        labels_of, load_chat_model, load_chat_rows, load_chat_tokenizer, normalize_answer,
                        pack_batch, pack_examples, pad_batch, save_chat_model, save_chat_tokenizer, score, sft_loss,
                        sft_train, step_examples, yarn_scaling)

CONVERSATIONS = [
    [{"role": "user", "content": "Story:\nTom found a red kite.\n\nQuestion: What colour was the kite?"},
     {"role": "assistant", "content": "red"}],
    [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Who found it?"},
     {"role": "assistant", "content": "Tom"}, {"role": "user", "content": "How many kites?"},
     {"role": "assistant", "content": "3"}],
    [{"role": "user", "content": "Tell the story in one sentence."},
     {"role": "assistant", "content": "Tom lost his kite, but Mia found it under the slide."}],
]


@pytest.fixture(scope="module")
def chat_tokenizer():
    return load_chat_tokenizer()


@pytest.fixture(scope="module")
def hf_tokenizer(chat_tokenizer, tmp_path_factory):
    return AutoTokenizer.from_pretrained(save_chat_tokenizer(chat_tokenizer, tmp_path_factory.mktemp("chat-tok")))


def tiny_model(vocab_size, seed=0, max_seq_len=64):
    torch.manual_seed(seed)
    return Transformer(ModelConfig(vocab_size=vocab_size, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2,
                                   max_seq_len=max_seq_len, tie_embeddings=True))


def fake(n, m, seed):
    """An encoded conversation of n tokens whose last m are the assistant's."""
    g = torch.Generator().manual_seed(seed)
    return {"input_ids": torch.randint(1, 60, (n,), generator=g).tolist(), "assistant_masks": [0] * (n - m) + [1] * m}


@pytest.mark.parametrize("index", range(len(CONVERSATIONS)))
def test_ids_masks_and_generation_prompt_equal_transformers(chat_tokenizer, hf_tokenizer, index):
    conversation = CONVERSATIONS[index]
    ours = encode_chat(chat_tokenizer, conversation)
    theirs = hf_tokenizer.apply_chat_template(conversation, return_dict=True, return_assistant_tokens_mask=True)
    assert ours["input_ids"] == theirs["input_ids"]
    assert ours["assistant_masks"] == theirs["assistant_masks"] and sum(ours["assistant_masks"]) > 0
    prompt = hf_tokenizer.apply_chat_template(conversation[:-1], add_generation_prompt=True, return_dict=True)
    assert encode_chat(chat_tokenizer, conversation[:-1], add_generation_prompt=True)["input_ids"] == prompt["input_ids"]


def test_the_mask_covers_the_answer_and_its_end_of_turn(chat_tokenizer):
    encoded = encode_chat(chat_tokenizer, CONVERSATIONS[0])
    trained = [t for t, m in zip(encoded["input_ids"], encoded["assistant_masks"]) if m]
    assert chat_tokenizer.decode(trained) == " red<|im_end|>"         # ANSWER_PREFIX, then the answer


def test_the_answer_starts_with_the_story_token(chat_tokenizer):
    conversation = [{"role": "user", "content": "Wes felt very glad. How did Wes feel?"},
                    {"role": "assistant", "content": "glad"}]
    for prefix, expected in ((" ", chat_tokenizer.encode(" glad")), ("", chat_tokenizer.encode("glad"))):
        encoded = encode_chat(chat_tokenizer, conversation, answer_prefix=prefix)
        trained = [t for t, m in zip(encoded["input_ids"], encoded["assistant_masks"]) if m]
        assert trained[:-1] == expected
    assert chat_tokenizer.encode(" glad")[0] in chat_tokenizer.encode(conversation[0]["content"])


@pytest.mark.parametrize("messages, add_prompt, message", [
    ([], False, "non-empty list"),
    ([{"role": "narrator", "content": "x"}, {"role": "assistant", "content": "y"}], False, "unknown role 'narrator'"),
    ([{"role": "user", "content": "x"}], False, "ends with a user message"),
    ([{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}], True, "already ends with an assistant"),
    ([{"role": "user", "content": "x"}, {"role": "system", "content": "s"}, {"role": "assistant", "content": "y"}],
     False, "only the first message"),
    ([{"role": "user", "content": 3}, {"role": "assistant", "content": "y"}], False, "str 'content'"),
])
def test_bad_conversations_are_named(chat_tokenizer, messages, add_prompt, message):
    with pytest.raises(ValueError, match=message):
        encode_chat(chat_tokenizer, messages, add_generation_prompt=add_prompt)


def test_whitespace_that_merges_with_the_template_is_named(chat_tokenizer):
    # without the answer prefix, an answer's leading newlines would merge with the template's newline
    with pytest.raises(ValueError, match="whitespace at the edges"):
        encode_chat(chat_tokenizer, [{"role": "user", "content": "x"}, {"role": "assistant", "content": "\n\nred"}],
                    answer_prefix="")


def test_labels_ignore_everything_but_the_assistant():
    example = {"input_ids": [5, 6, 7, 8], "assistant_masks": [0, 0, 1, 1]}
    assert labels_of(example) == [-100, -100, 7, 8]


def test_the_loss_is_the_cross_entropy_of_the_assistant_tokens_only():
    model = tiny_model(64).eval()
    example = fake(12, 3, 0)
    with torch.no_grad():
        got = sft_loss(model, pad_batch([example], 0))
        logits = model(torch.tensor([example["input_ids"]]))[0]
        expected = F.cross_entropy(logits[8:11], torch.tensor(example["input_ids"][9:12]))   # tokens 9..11
    torch.testing.assert_close(got, expected)


def test_padding_packing_and_one_at_a_time_give_the_same_loss():
    model = tiny_model(64).eval()
    examples = [fake(n, m, i) for i, (n, m) in enumerate([(12, 3), (30, 5), (7, 2), (20, 16), (25, 1)])]
    assert pack_examples(examples, 40) == [[0, 2, 3], [1], [4]]                 # first fit: 12 + 7 + 20, 30, 25
    with torch.no_grad():
        padded = sft_loss(model, pad_batch(examples, 0))
        packed = sft_loss(model, pack_batch(examples, 40, 0))
        alone = sum(sft_loss(model, pad_batch([e], 0), "sum") for e in examples) / 27
    torch.testing.assert_close(padded, alone)
    torch.testing.assert_close(packed, alone)


def test_packing_refuses_a_conversation_longer_than_a_row():
    with pytest.raises(ValueError, match="example 1 has 50 tokens, more than seq_len=40"):
        pack_examples([fake(10, 2, 0), fake(50, 2, 1)], 40)


def test_batches_are_a_function_of_seed_and_step_and_cover_an_epoch():
    assert step_examples(100, 16, 3, 7) == step_examples(100, 16, 3, 7)
    epoch = sum((step_examples(100, 16, 3, s) for s in range(6)), [])
    assert len(set(epoch)) == 96 and step_examples(100, 16, 3, 6) != step_examples(100, 16, 3, 0)


def test_training_lowers_the_loss_and_a_resumed_run_repeats_it(tmp_path):
    examples = [fake(10 + i % 7, 3, i) for i in range(40)]
    base = tiny_model(64)
    config = SFTConfig(steps=12, batch_size=4, lr=1e-2, warmup_steps=2)
    full = sft_train(copy.deepcopy(base), examples, config, pad_id=0, progress=False)
    assert sum(full["loss"][-3:]) < sum(full["loss"][:3])
    cut = replace(config, checkpoint_dir=str(tmp_path), stop_at_step=5)
    assert len(sft_train(copy.deepcopy(base), examples, cut, pad_id=0, progress=False)["loss"]) == 5
    resumed = sft_train(copy.deepcopy(base), examples, replace(cut, stop_at_step=None), pad_id=0, progress=False)
    assert resumed["loss"] == pytest.approx(full["loss"], rel=1e-6)
    with pytest.raises(ValueError, match="different config"):
        sft_train(copy.deepcopy(base), examples, replace(cut, lr=5e-3), pad_id=0, progress=False)


def test_packed_training_equals_padded_training():
    examples = [fake(10 + i % 7, 3, i) for i in range(40)]
    base = tiny_model(64)
    config = SFTConfig(steps=4, batch_size=8, lr=1e-2, warmup_steps=1, seq_len=48)
    padded = sft_train(copy.deepcopy(base), examples, config, pad_id=0, progress=False)
    packed = sft_train(copy.deepcopy(base), examples, replace(config, packing=True), pad_id=0, progress=False)
    assert packed["loss"] == pytest.approx(padded["loss"], rel=1e-4)


def test_assistant_only_false_trains_on_every_token():
    examples = [fake(12, 2, i) for i in range(8)]
    model = tiny_model(64)
    every = sft_train(copy.deepcopy(model), examples, SFTConfig(steps=1, batch_size=8, warmup_steps=0,
                                                                assistant_only=False), 0, progress=False)
    with torch.no_grad():
        batch = pad_batch([{"input_ids": e["input_ids"], "assistant_masks": [1] * 12}
                           for e in (examples[i] for i in step_examples(8, 8, 0, 0))], 0)
        expected = sft_loss(model, batch).item()
    assert every["loss"][0] == pytest.approx(expected, rel=1e-5)


def test_scores_are_exact_match_per_kind():
    items = [{"answer": "The story does not say.", "kind": "unknown"}, {"answer": "red", "kind": "lookup"},
             {"answer": "3", "kind": "arithmetic"}]
    result = score(items, ["the story does not say", "Red.", "4"])
    assert result["kinds"] == {"unknown": [1, 1], "lookup": [1, 1], "arithmetic": [0, 1]}
    assert result["exact_match"] == pytest.approx(2 / 3)
    assert normalize_answer("  Tom,  Mia and Ben! ") == "tom mia and ben"


class SaysRed(Transformer):
    """A model that answers every question with `red` and then ends its turn."""
    red = end = None

    def forward(self, input_ids, *args, **kwargs):
        logits = super().forward(input_ids, *args, **kwargs)
        scripted = torch.full_like(logits, -1e4)
        after_red = input_ids == self.red
        scripted[..., self.red] = torch.where(after_red, -1e4, 1e4)
        scripted[..., self.end] = torch.where(after_red, 1e4, -1e4)
        return scripted


def test_evaluation_generates_until_the_end_of_the_turn_and_scores_by_kind(chat_tokenizer):
    model = SaysRed(ModelConfig(vocab_size=chat_tokenizer.vocab_size, d_model=32, n_layers=1, n_heads=4,
                                max_seq_len=128)).eval()
    model.red, model.end = chat_tokenizer.encode("red")[0], chat_tokenizer.special_tokens[END]
    rows = [{"messages": CONVERSATIONS[0], "kinds": ["lookup"]},
            {"messages": CONVERSATIONS[1], "kinds": ["lookup", "arithmetic"]}]
    result = evaluate_chat(model, chat_tokenizer, rows, max_new_tokens=5)
    assert result["answers"] == ["red", "red", "red"]
    assert result["kinds"] == {"lookup": [1, 2], "arithmetic": [0, 1]}
    assert [item["messages"][-1]["content"] for item in result["items"]][1:] == ["Who found it?", "How many kites?"]


def test_yarn_context_extension_keeps_the_weights_and_reads_longer(chat_tokenizer):
    model = tiny_model(64, max_seq_len=32)
    longer = extend_context(model, 128, yarn_scaling(32, 128))
    assert longer.config.max_seq_len == 128 and longer.config.rope_scaling["factor"] == 4.0
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), longer.state_dict().values()))
    longer(torch.zeros(1, 100, dtype=torch.long))


def test_a_saved_chat_model_generates_in_transformers_as_ours(chat_tokenizer, tmp_path):
    model = extend_context(tiny_model(chat_tokenizer.vocab_size, seed=3, max_seq_len=64), 256, yarn_scaling(64, 256))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    model.eval()
    folder = save_chat_model(model, chat_tokenizer, tmp_path / "chat")
    hf_model, hf_tok = AutoModelForCausalLM.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)
    end = chat_tokenizer.special_tokens[END]
    assert hf_model.config.eos_token_id == end and hf_tok.eos_token == "<|im_end|>"
    for conversation in CONVERSATIONS:
        prompt = hf_tok.apply_chat_template(conversation[:-1], add_generation_prompt=True, return_tensors="pt",
                                            return_dict=True)["input_ids"]
        theirs = hf_model.generate(prompt, max_new_tokens=12, do_sample=False, pad_token_id=end)[0, prompt.shape[1]:]
        from rawllm.generate import generate
        ours = generate(model, prompt, 12, greedy=True, stop_ids=[end])[0]
        assert theirs.tolist() == ours[:len(theirs)].tolist()
    loaded, tok = load_chat_model(folder)
    torch.testing.assert_close(loaded(prompt), model(prompt))
    with pytest.raises(FileNotFoundError, match="no chat model"):
        load_chat_model(tmp_path / "nothing")


def test_the_hub_path_runs_on_local_files(chat_tokenizer, hf_tokenizer, tmp_path):
    """A transformers tokenizer behind HFChatTokenizer encodes as ours; load_chat_rows reads a local .jsonl."""
    path = tmp_path / "chats.jsonl"
    rows = [{"messages": [dict(m, content=" " + m["content"] + "\n") for m in c]} for c in CONVERSATIONS]
    rows.append({"messages": [{"role": "user", "content": "no answer"}]})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    loaded = load_chat_rows(str(path))
    assert [r["messages"] for r in loaded] == CONVERSATIONS                   # trimmed, unanswered row dropped
    wrapped = HFChatTokenizer(hf_tokenizer)
    for conversation in CONVERSATIONS:
        assert encode_chat(wrapped, conversation) == encode_chat(chat_tokenizer, conversation)
    examples = [encode_chat(wrapped, r["messages"]) for r in loaded]
    history = sft_train(tiny_model(chat_tokenizer.vocab_size, max_seq_len=128), examples,
                        SFTConfig(steps=2, batch_size=3, warmup_steps=0, packing=True, seq_len=128),
                        hf_tokenizer.pad_token_id, progress=False)
    assert len(history["loss"]) == 2


def test_a_tokenizer_without_chatml_is_refused():
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast
    plain = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.BPE(vocab={"a": 0, "<unk>": 1}, merges=[],
                                                                          unk_token="<unk>")), unk_token="<unk>")
    with pytest.raises(ValueError, match="no <\\|im_start\\|> token"):
        HFChatTokenizer(plain)


def test_the_chat_widget_streams_an_answer_headless(chat_tokenizer):
    model = tiny_model(chat_tokenizer.vocab_size, max_seq_len=256).eval()
    widget = chat_widget(model, chat_tokenizer, ["Tom found a red kite.", "Mia lost her hat."], max_new_tokens=4)
    widget.children[0].value = 1
    assert widget.children[1].value == "Mia lost her hat."
    widget.ask()
    assert widget.children[-1].value.startswith("<b>answer:</b>")


def test_command_line_help_and_data(tmp_path):
    import subprocess
    import sys
    from conftest import NOTEBOOKS_DIR
    result = subprocess.run([sys.executable, "-m", "rawllm.sft", "train", "--help"], cwd=NOTEBOOKS_DIR,
                            capture_output=True, text=True)
    assert result.returncode == 0 and "--packing" in result.stdout and "--checkpoint_dir" in result.stdout
