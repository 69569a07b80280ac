"""Finance: a supplier's statement period by period, its own statement imported and
matched against ours, disputes decided, the period closed, and exports.

    periods     ``Period`` (monthly, semimonthly, weekly; China time)
    profiles    what is kept per supplier: cycle, file columns, matching rules
    statements  ``build`` (from the ledger), ``send``, ``answer`` (the supplier's),
                ``confirm``, ``close``, ``reopen``; ``STATEMENT`` (the lifecycle)
    lines       a ledger entry as a statement line, with the keys the supplier knows
    files       reading a supplier's statement file (CSV or XLSX), every row checked
    grids       an uploaded CSV or XLSX as a grid of cells, its size bounded first
    imports     ``import_file``: a file for one of the supplier's statements
    rules       the matching rules (keys, tolerance, write-off limit, date window)
    matching    the matching itself, on columns (polars): pure
    reconcile   ``run``: a statement matched against the file, items, write-offs, disputes
    words       why an item is what it is, in English and Chinese
    disputes    the queue: ``decide`` (keep | adjust)
    exports     CSV and XLSX for finance: statement, match, disputes, journal

It reads the ledger and posts to it (write-offs); it learns of claims and fulfilments
only to name a line's keys.
"""
