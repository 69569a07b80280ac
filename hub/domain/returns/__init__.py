"""Returns: a buyer's after-sale request from the platform to the goods coming back.

    states     the return case's state machine (it never goes backwards)
    records    a platform's return record applied (publishes ``ReturnChanged``)
    flow       the buyer's return parcel, the return notice to the supplier, the
               receiver's receipt and inspection (``confirm_return_receipt``)
    decisions  the merchant's approve, reject and refund, pushed to the platform

Service functions for the rooms above and the web: ``flow.confirm_return_receipt``,
``flow.return_shipment``, ``decisions.approve | reject | refund``.
"""
