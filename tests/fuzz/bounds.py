"""The fuzz tests' hypothesis settings: bounded and reproducible in CI.

``HUB_FUZZ_SCALE=<n>`` multiplies every example count and ``HUB_FUZZ_RANDOM=1`` draws new
examples on each run (not ``derandomize``): for fuzzing deeper by hand, never in CI.
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

SCALE = max(1, int(os.environ.get("HUB_FUZZ_SCALE", "1") or 1))
RANDOM = os.environ.get("HUB_FUZZ_RANDOM", "") not in ("", "0")


def bounded(examples: int) -> settings:
    return settings(max_examples=examples * SCALE, deadline=None, derandomize=not RANDOM,
                    database=None, phases=[Phase.explicit, Phase.generate, Phase.shrink],
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.data_too_large,
                                           HealthCheck.large_base_example])
