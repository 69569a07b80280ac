"""The ledger: every money consequence between the merchant and a counterparty (a supplier,
a courier, a platform, a buyer, the merchant's own account), in integer minor units and a
currency, with the document it comes from; never changed, and each counterparty's entries
a hash chain (``hub.models.ledger``: the sign, the columns, the database's refusals).

    chain      ``Counterparty`` (a kind, and its row's id or a reference), how an entry is
               hashed, ``verify`` (the first broken entry of every chain, as ``Problem``s)
    entries    ``post`` (an entry at the head of its counterparty's chain, under the
               chain's lock), ``correct`` (a new entry adjusting one), ``Document``,
               ``SIGNS`` (the direction of the entry types that have one), ``period_of`` (the month of the merchant's books a time falls in:
               ``PERIOD``, ``YYYY-MM``)
    totals     ``balances`` per counterparty and currency, to date or for a month

The service functions are these names, imported from the package: ``from hub.domain
import ledger``. The rooms that decide who pays post here; the ledger reads nothing of
theirs.
"""
from hub.domain.ledger.chain import Counterparty, Problem, verify
from hub.domain.ledger.entries import PERIOD, SIGNS, Document, correct, period_of, post
from hub.domain.ledger.totals import balances

__all__ = ["Counterparty", "Problem", "verify", "PERIOD", "SIGNS", "Document", "correct",
           "period_of", "post", "balances"]
