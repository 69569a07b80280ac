"""Supplier sheets: the spreadsheet channel for suppliers without an API.

    files      the sheets a supplier downloads (orders to ship, stop-ships, returns to
               receive, claims and statements to answer) as CSV or XLSX, and reading one
               back
    checks     a filled-in sheet checked row by row before anything changes; a supplier's
               rows are those ``hub.domain.fulfilment.ownership`` says are its own
    claims     the supplier's open compensation claims as rows, their answers checked and
               applied through ``hub.domain.liability.claims``
    statements the lines of the supplier's statements awaiting its answer as rows, each
               statement answered whole through ``hub.domain.finance.statements``
    answers    the checked rows applied through the fulfilment, returns, liability and
               finance rooms (``import_sheet``)
"""
