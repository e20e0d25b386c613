"""Timing shared by the benchmarks: the best of several runs, contenders run in turns."""
import math
import time


def best_times(fns, repeat: int) -> list[float]:
    """The fastest of `repeat` runs of each function (seconds), after one warm-up call each. The functions run in
    turns (a, b, a, b, ...) so that a change in the machine's load during the measurement affects all of them alike."""
    for fn in fns:
        fn()
    best = [math.inf] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return best
