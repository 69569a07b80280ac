"""Returns: a buyer's after-sale request from the platform to the goods coming back.

    states        the return case's state machine (it never goes backwards)
    records       a platform's return record applied (publishes ``ReturnChanged``)
    flow          the buyer's return parcel and the return notice to the supplier
    review        the policy's verdict on a new request, acted on; fast refund at pickup
    instructions  where the goods go (the receiver's return address) and how to pack them
    decisions     the merchant's approve, reject and refund, pushed to the platform
    inspection    receipt, photos, checklist, barcode check, the merchant's override
    grading       scores → grade → suggested disposition (and resale price), by policy
    stock         the returns stock: receipts and moves, balances, reconciliation
    resolutions   the second dispatch of an exchange, a reship or a repair
    labels        a prepaid return label (courier pickup) when the hub pays the freight
    corrections   a merchant's correction of a case's reason, kept and used
    casefile      the electronic return file: the whole record of a case in one document
    progress      the buyer's progress page's content and link

Service functions for the rooms above and the web: ``inspection.confirm_return_receipt |
override_disposition``, ``flow.return_shipment``, ``decisions.approve | reject |
refund``, ``resolutions.dispatch_again``, ``stock.move | balances | reconcile``,
``casefile.casefile``, ``progress.find | progress | buyer_link``,
``labels.request_label``, ``corrections.correct_reason``.
"""
