"""Benchmark ``reasons``: how often the return-reason classifier names the exact leaf on
the held-out split (``hub/domain/reasons/data/heldout.jsonl``), sentences written apart
from the training ones.

Figures: ``accuracy`` (exact leaf code, target ≥ 0.9: the issue's bar), then
``accuracy_<family>`` for each family of the expected codes, ``first_use_s`` (the first
``classify`` of the process: importing scikit-learn and jieba, training the model) and
``classify_ms`` (mean time per text afterwards). The accuracy is counted, the same on
any machine; the texts it got wrong are written with the figures (``params["misses"]``).
"""
from __future__ import annotations

import time

from bench.harness import Figure, benchmark

TARGET_ACCURACY = 0.9


@benchmark("reasons")
def reasons(params: dict) -> list[Figure]:
    """Exact-leaf accuracy of the return-reason classifier on its held-out split."""
    from hub.domain.reasons import classifier

    started = time.perf_counter()
    classifier.classify("收到就是坏的")
    first_use = time.perf_counter() - started
    started = time.perf_counter()
    result = classifier.evaluate(classifier.HELDOUT_PATH)
    per_text_ms = (time.perf_counter() - started) * 1000 / max(result.count, 1)
    params.update(texts=result.count, misses=[
        {"text": text, "expected": expected, "got": got} for text, expected, got in result.misses])
    figures = [Figure("accuracy", "share", result.accuracy,
                      target=f"value >= {TARGET_ACCURACY}")]
    figures += [Figure(f"accuracy_{family}", "share", value)
                for family, value in result.by_family.items()]
    return figures + [Figure("first_use_s", "s", first_use),
                      Figure("classify_ms", "ms", per_text_ms)]
