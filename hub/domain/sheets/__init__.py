"""Supplier sheets: the spreadsheet channel for suppliers without an API.

    files      the sheets a supplier downloads (orders to ship, stop-ships, returns to
               receive, claims to answer) as CSV or XLSX, and reading one back
    checks     a filled-in sheet checked row by row before anything changes; a supplier's
               rows are those ``hub.domain.fulfilment.ownership`` says are its own
    claims     the supplier's open compensation claims as rows, their answers checked and
               applied through ``hub.domain.liability.claims``
    answers    the checked rows applied through the fulfilment, returns and liability
               rooms (``import_sheet``)
"""
