"""``hub reasons classify [--json]``: buyers' return reasons, one a line on standard input,
classified into the reason taxonomy (``hub.domain.reasons``).

    printf '衣服偏小一码穿不上\\nwrong color sent\\n' | hub reasons classify
    buyer.size_fit	buyer	0.99
    fulfilment.wrong_item	fulfilment	0.98

One output line per input line, in order, so the output pastes beside the input: a blank
line is ``other`` with confidence 0. ``--json`` prints JSON lines ``{"text", "code",
"family", "confidence"}``. Needs no database; the first line waits for the model to train
(about a second).
"""
from __future__ import annotations

import sys

import click

from hub.cli.common import emit, json_option


@click.group("reasons", help="Return reasons: classify buyers' free text.")
def reasons_group():
    pass


@reasons_group.command("classify", help="Classify one text per line of standard input; "
                                        "print code, family and confidence per line.")
@json_option
def classify_command(as_json):
    from hub.domain.reasons.classifier import classify

    for line in sys.stdin:
        text = line.rstrip("\r\n")
        result = classify(text)
        emit(as_json, {"text": text, "code": result.code, "family": result.family,
                       "confidence": result.confidence},
             f"{result.code}\t{result.family}\t{result.confidence:.2f}")
