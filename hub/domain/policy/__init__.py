"""The merchant's return policy: versions, what a version decides, and a preview.

    document   the policy's schema, ``DEFAULT`` (the usual platform terms) and ``Policy``,
               a version read: windows, exclusions, freight payer, category terms, grading
    versions   ``in_force``, ``history``, ``get``, ``edit`` (a new draft), ``publish``;
               ``categories_of`` (the catalogue's category of each SKU)
    review     ``evaluate`` (a verdict with its rule and why, pure), ``facts_of`` (what a
               case's verdict needs), ``preview`` (a draft on the last 30 days' cases)
    liability  the liability table (``DEFAULT`` rules after §3.4), ``Terms``: a merchant's
               table under a supplier's contract, courier caps, claim terms

The returns room acts on verdicts (``hub.domain.returns.review``); this room decides
nothing on its own and pushes nothing.
"""
