"""The supplier's claims and statements in its portal (issue 15): it accepts a claim, a part
of it, or disputes it with photos and links; it confirms a statement or disputes lines of
it with the right amounts; it sees only what was sent to it."""
from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from hub.domain.finance import statements
from hub.domain.liability import claims
from hub.models import Claim, LedgerEntry, ReconciliationItem, Statement, StatementLine, Supplier
from tests import factories as f
from tests.console_helpers import csrf, html, sign_in
from tests.test_claims import COST, FREIGHT, claimed_case
from tests.test_inspection import w  # noqa: F401 (fixture)
from tests.test_statements import books  # noqa: F401 (fixture)

PNG = b"\x89PNG\r\n\x1a\n" + b"the parcel as it left the factory" * 4
ACCOUNT = "/console/supplier/account"


def supplier_client(app, database, merchant_id, supplier_id):
    with database.session() as s:
        login = f.user(s, merchant_id, "supplier", supplier_id)
    client = app.test_client()
    assert sign_in(client, login).headers["Location"] == "/console/supplier"
    return client


@pytest.fixture
def claimed(app, database, w):  # noqa: F811
    claim_id = claimed_case(database, w)
    with database.session() as s:
        claims.send(s, s.get(Claim, claim_id), "user:1:merchant_admin")
    return claim_id, supplier_client(app, database, w["merchant_id"], w["supplier_id"])


def answer(client, claim_id, **data):
    return client.post(f"/console/supplier/claims/{claim_id}/answer",
                       content_type="multipart/form-data",
                       data={**data, "csrf_token": csrf(client, ACCOUNT)})


def state(database, claim_id):
    with database.session(readonly=True) as s:
        c = s.get(Claim, claim_id)
        return c.status, c.accepted_minor, list(c.dispute_evidence or [])


def test_a_claim_is_disputed_with_photos_then_accepted_in_part(claimed, database):
    claim_id, client = claimed
    page = html(client.get(ACCOUNT))
    assert f'id="claim-{claim_id}"' in page and f'id="dispute-claim-{claim_id}"' in page
    assert "¥20.00" in page and "goods: ¥12.00" in page  # goods 12 + freight 8 claimed
    assert "awaiting the answer" in page
    before = state(database, claim_id)
    for data, words in (({"outcome": "dispute", "reason": ""}, "Say why"),
                        ({"outcome": "part", "amount": "abc"}, "not an amount"),
                        ({"outcome": "part", "amount": "20.01"}, "at most the ¥20.00"),
                        ({"outcome": "dispute", "reason": "packed well",
                          "photos": (io.BytesIO(b"not an image"), "a.png")}, "JPEG, PNG")):
        refused = answer(client, claim_id, **data)
        assert refused.status_code == 422 and words in html(refused), words
        assert state(database, claim_id) == before  # nothing written
    disputed = answer(client, claim_id, outcome="dispute", reason="packed well, see photo",
                      links="https://example.test/video.mp4\n",
                      photos=(io.BytesIO(PNG), "packed.png"))
    assert disputed.status_code == 303
    digest = hashlib.sha256(PNG).hexdigest()
    assert state(database, claim_id) == ("disputed", None,
                                         ["https://example.test/video.mp4", digest])
    pack = zipfile.ZipFile(io.BytesIO(client.get(
        f"/console/supplier/claims/{claim_id}/evidence").data))
    assert PNG in [pack.read(n) for n in pack.namelist()]  # its own photo is in the pack
    assert digest in json.dumps(json.loads(pack.read("manifest.json")))
    assert answer(client, claim_id, outcome="part", amount="5.00").status_code == 303
    assert state(database, claim_id)[:2] == ("partly_accepted", 500)
    with database.session(readonly=True) as s:
        assert s.scalars(select(LedgerEntry.amount_minor).where(
            LedgerEntry.entry_type == "claim_deduction")).all() == [-500]
    after = html(client.get(ACCOUNT))
    assert f'id="accept-claim-{claim_id}"' not in after and "¥5.00" in after


def test_a_claim_accepted_whole_and_another_supplier_s_claim_unseen(claimed, app, database,
                                                                      w):  # noqa: F811
    claim_id, client = claimed
    assert answer(client, claim_id, outcome="accept").status_code == 303
    assert state(database, claim_id)[:2] == ("accepted", COST + FREIGHT)
    assert "accepted in full" in html(client.get(ACCOUNT))
    with database.session() as s:
        other = f.supplier(s, w["merchant_id"]).id
    stranger = supplier_client(app, database, w["merchant_id"], other)
    assert f'id="claim-{claim_id}"' not in html(stranger.get(ACCOUNT))
    assert answer(stranger, claim_id, outcome="accept").status_code == 404
    assert stranger.get(f"/console/supplier/claims/{claim_id}/evidence").status_code == 404


@pytest.fixture
def sent(app, database, books):  # noqa: F811
    with database.session() as s:
        [st] = statements.build(s, s.get(Supplier, books["supplier"]), "2026-11", "test")
        statements.send(s, st, "test")
        lines = s.scalars(select(StatementLine.id).where(StatementLine.statement_id == st.id)
                          .order_by(StatementLine.id)).all()
        ids = st.id, lines
    return (*ids, supplier_client(app, database, books["merchant"], books["supplier"]))


def respond(client, statement_id, **data):
    page = f"/console/supplier/statements/{statement_id}"
    return client.post(f"{page}/answer", data={**data, "csrf_token": csrf(client, page)})


def test_a_statement_s_lines_are_disputed_with_the_right_amount(sent, database):
    statement_id, lines, client = sent
    page = html(client.get(f"/console/supplier/statements/{statement_id}"))
    assert all(f'id="line-{x}"' in page for x in lines) and "¥550.00" in page
    assert f'data-statement-id="{statement_id}"' in html(client.get(ACCOUNT))
    none_ticked = respond(client, statement_id, outcome="dispute")
    assert none_ticked.status_code == 422 and "Tick the lines" in html(none_ticked)
    first = lines[0]
    no_reason = respond(client, statement_id, outcome="dispute", **{f"dispute.{first}": "yes",
                                                                    f"amount.{first}": "90"})
    assert no_reason.status_code == 422 and f"Line {first}" in html(no_reason)
    assert 'value="90"' in html(no_reason)  # what was typed stays
    assert respond(client, statement_id, outcome="dispute", reason="see the weights",
                   **{f"dispute.{first}": "yes", f"reason.{first}": "price was 90",
                      f"amount.{first}": "90.00"}).status_code == 303
    with database.session(readonly=True) as s:
        st = s.get(Statement, statement_id)
        assert (st.status, st.dispute_reason) == ("disputed", "see the weights")
        answers = {x.id: (x.answer, x.answer_amount_minor) for x in s.scalars(
            select(StatementLine).where(StatementLine.statement_id == statement_id))}
        assert answers[first] == ("disputed", 9000)
        assert {a for i, a in answers.items() if i != first} == {("confirmed", None)}
        assert s.scalar(select(ReconciliationItem.dispute).where(
            ReconciliationItem.statement_id == statement_id)) == "open"
    again = respond(client, statement_id, outcome="confirm")
    assert again.status_code == 409 and 'id="statement-error"' in html(again)


def test_a_statement_is_confirmed_and_exported_and_a_draft_is_unseen(sent, database, books):
    statement_id, _, client = sent  # noqa: F811
    assert respond(client, statement_id, outcome="confirm").status_code == 303
    with database.session() as s:
        assert s.get(Statement, statement_id).status == "supplier_confirmed"
        [draft] = statements.build(s, s.get(Supplier, books["supplier"]), "2026-10", "test")
        draft_id = draft.id
    sheet = client.get(f"/console/supplier/statements/{statement_id}/export?format=xlsx&lang=en")
    rows = list(load_workbook(io.BytesIO(sheet.data)).active.iter_rows(values_only=True))
    assert sheet.status_code == 200 and len(rows) > 3
    assert client.get(f"/console/supplier/statements/{draft_id}").status_code == 404
    assert f'data-statement-id="{draft_id}"' not in html(client.get(ACCOUNT))
