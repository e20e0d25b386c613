"""rawllm.tokenizer against Hugging Face `tokenizers`, timed in one process on the bundled corpus.

    python tests/benchmarks/bench_tokenizer.py [--repeat 3] [--vocab 4096]

Prints, as ratios measured side by side (each figure the best of `--repeat` runs):

* training at `--vocab` on the training split: our time / Hugging Face's, its default thread count
  and one thread (`TOKENIZERS_PARALLELISM=false`, read by `tokenizers` at every call);
* encoding the validation split: MB/s for ours (cold cache, then warm) and for Hugging Face on one
  thread, both from the same merges (our `tokenizer.json`), ids checked equal;
* the naive trainer against the fast one on a small slice, same merges.
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "notebooks"))

from rawllm.tokenizer import (SERIES_SPECIAL_TOKENS, BPETokenizer, byte_level_merges, compile_pattern,  # noqa: E402
                              count_pieces, hf_merges, train_hf, train_merges, train_naive)
from rawllm.world import corpus_texts


def best_time(fn, repeat: int):
    """(fastest wall-clock seconds over `repeat` calls, the last result)."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def parallelism(enabled: bool) -> None:
    os.environ["TOKENIZERS_PARALLELISM"] = "true" if enabled else "false"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the fastest counts")
    parser.add_argument("--vocab", type=int, default=4096, help="vocabulary size for the training benchmark")
    parser.add_argument("--naive-stories", type=int, default=100, help="stories in the naive-trainer slice")
    args = parser.parse_args(argv)
    from tokenizers import Tokenizer

    train, val = corpus_texts("train"), corpus_texts("val")
    mb = lambda texts: sum(len(t.encode("utf-8")) for t in texts) / 1e6
    print(f"corpus: {len(train):,} training stories ({mb(train):.2f} MB), {len(val):,} validation ({mb(val):.2f} MB); "
          f"{os.cpu_count()} CPU cores; best of {args.repeat}\n")

    ours_s, ours = best_time(lambda: BPETokenizer.train(train, args.vocab, special_tokens=SERIES_SPECIAL_TOKENS), args.repeat)
    parallelism(True)
    hf_s, hf = best_time(lambda: train_hf(train, args.vocab, special_tokens=SERIES_SPECIAL_TOKENS), args.repeat)
    parallelism(False)
    hf1_s, _ = best_time(lambda: train_hf(train, args.vocab, special_tokens=SERIES_SPECIAL_TOKENS), args.repeat)
    assert byte_level_merges(ours) == hf_merges(hf), "the merges differ from Hugging Face's"
    print(f"training, vocab {args.vocab}, {len(ours.merges):,} identical merges")
    print(f"  ours                          {ours_s:7.2f} s")
    print(f"  Hugging Face, default threads {hf_s:7.2f} s   ours / HF = {ours_s / hf_s:.2f}")
    print(f"  Hugging Face, one thread      {hf1_s:7.2f} s   ours / HF = {ours_s / hf1_s:.2f}\n")

    with tempfile.TemporaryDirectory() as tmp:
        ours.save_tokenizer_json(Path(tmp) / "tokenizer.json")
        hf_tok = Tokenizer.from_file(str(Path(tmp) / "tokenizer.json"))

    def encode_cold():
        ours._cache.clear()
        return ours.encode_batch(val, allowed_special="all")

    cold_s, ids = best_time(encode_cold, args.repeat)
    warm_s, _ = best_time(lambda: ours.encode_batch(val, allowed_special="all"), args.repeat)
    parallelism(False)
    hf_enc_s, hf_ids = best_time(lambda: [e.ids for e in hf_tok.encode_batch(val)], args.repeat)
    assert hf_ids == ids, "the encodings differ from Hugging Face's"
    size = mb(val)
    print(f"encoding the validation split ({size:.2f} MB), identical ids")
    print(f"  ours, cold cache              {size / cold_s:7.2f} MB/s")
    print(f"  ours, warm cache              {size / warm_s:7.2f} MB/s")
    print(f"  Hugging Face, one thread      {size / hf_enc_s:7.2f} MB/s   ours (cold) / HF = {hf_enc_s / cold_s:.2f}x the speed\n")

    piece = train[:args.naive_stories]
    vocab = 512
    naive_s, naive = best_time(lambda: train_naive(piece, vocab), 1)
    fast_s, fast = best_time(lambda: train_merges(count_pieces(piece, compile_pattern(None)), vocab), args.repeat)
    assert naive == fast, "the naive and fast trainers disagree"
    print(f"naive vs fast trainer, {args.naive_stories} stories ({mb(piece) * 1e3:.0f} kB), vocab {vocab}, identical merges")
    print(f"  naive {naive_s:.2f} s, fast {fast_s:.3f} s: {naive_s / fast_s:.0f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
