"""Who pays: liability decided from evidence, and compensation claims to suppliers and
couriers, booked in the ledger.

    facts       ``gather`` (a subject's records as facts and evidence), ``terms_for``
    decisions   ``decide`` (the rule, the costs in fen, the liable parties' shares),
                ``override`` (a new decision, the original kept), ``in_force``
    claims      ``open_for``, ``send``, ``acknowledge``, ``answer``, ``settle``,
                ``write_off``, ``escalate_overdue``; ``CLAIM`` (the lifecycle)
    couriers    ``claims_file``: a carrier's open claims as a CSV file, sent
    evidence    ``pack``: a claim's evidence as a ZIP (manifest with SHA-256, photos,
                a printable summary)
    triggers    the decisions the hub makes by itself: a return inspected or refunded
                without goods, a parcel picked up after the ship-by time, a stop-ship that
                failed, an interception sent

The rules are the policy's (``hub.domain.policy.liability``); this room applies them.
"""
