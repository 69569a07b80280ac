"""Return reasons: one taxonomy for every platform, and free text classified into it.

    taxonomy    ``CODES``, ``FAMILIES``, ``is_code``, ``family_of`` (never fails: an
                unknown dotted code keeps its family, else ``other``), ``label`` (zh, en)
    classifier  ``classify`` (text → ``Classification``: code, family, confidence,
                source; a merchant's corrections win), ``normalise`` (the corrections'
                key), ``evaluate`` (accuracy on a JSONL split, by family)

Pure: no database, no web, no other domain room. The model is trained from the
shipped ``data/train.jsonl`` on first use and kept for the process; ``data/heldout.jsonl``
is the split ``make bench`` scores it on.
"""
