"""Setting up in the console (issue 15): suppliers and SKU mappings, and the return policy
edited, previewed on recent returns, saved as a draft and published. The merchant admin
edits; operators read."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from hub.models import AuditEntry, ReturnPolicy, SkuMapping, Supplier
from tests import factories as f
from tests.console_helpers import csrf, html, sign_in
from tests.supplier_helpers import (  # noqa: F401 (fixture)
    apply, fake_connectors, order_values, return_values, world,
)


@pytest.fixture
def w(app, database, fake_connectors):  # noqa: F811
    with database.session() as s:
        w = world(s)
        w["admin"] = f.user(s, w["merchant_id"])
        w["operator"] = f.user(s, w["merchant_id"], "operator")
    return w


def client_of(app, login):
    client = app.test_client()
    assert sign_in(client, login).status_code == 303
    return client


def post(client, path, page, **data):
    return client.post(path, data={**data, "csrf_token": csrf(client, page)})


def count(database, model) -> int:
    with database.session(readonly=True) as s:
        return s.scalar(select(func.count()).select_from(model))


def test_suppliers_are_added_changed_and_their_skus_mapped(app, database, w):
    admin, page = client_of(app, w["admin"]), "/console/suppliers"
    added = post(admin, page, page, code="FAC-2", name="第二工厂", sla_hours="12",
                 contact_email="ops@fac2.example")
    assert added.status_code == 303
    before = count(database, Supplier)
    again = post(admin, page, page, code="FAC-2", name="the same code")
    assert again.status_code == 409 and 'id="e-new-supplier"' in html(again)
    bad = post(admin, page, page, code="FAC-3", name="x", contact_email="not an address")
    assert bad.status_code == 422 and "contact_email" in html(bad)
    assert 'value="FAC-3"' in html(bad)  # what was typed stays
    assert count(database, Supplier) == before
    with database.session(readonly=True) as s:
        fac2 = s.scalar(select(Supplier).where(Supplier.code == "FAC-2"))
        assert (fac2.name, fac2.sla_hours, fac2.active) == ("第二工厂", 12, True)
    assert post(admin, f"{page}/{fac2.id}", page, name="第二工厂", sla_hours="48",
                contact_email="").status_code == 303  # "active" unticked
    with database.session(readonly=True) as s:
        fac2 = s.get(Supplier, fac2.id)
        assert (fac2.sla_hours, fac2.active, fac2.contact_email) == (48, False, None)
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action.in_(("supplier.created", "supplier.updated")))) == 2
    wrong = post(admin, "/console/sku-mappings", page, sku="MUG-01", supplier_id=fac2.id,
                 unit_cost="twelve")
    assert wrong.status_code == 422 and "not an amount" in html(wrong)
    assert post(admin, "/console/sku-mappings", page, sku="MUG-01", supplier_id=fac2.id,
                supplier_sku="F2-MUG", unit_cost="12.50", priority="1").status_code == 303
    with database.session(readonly=True) as s:
        mapping = s.scalar(select(SkuMapping).where(SkuMapping.sku == "MUG-01"))
        assert (mapping.supplier_sku, mapping.unit_cost_minor, mapping.priority) == (
            "F2-MUG", 1250, 1)
    assert "¥12.50" in html(admin.get(page))
    assert post(admin, f"/console/sku-mappings/{mapping.id}/delete", page).status_code == 303
    with database.session(readonly=True) as s:
        assert s.get(SkuMapping, mapping.id) is None


def test_an_operator_reads_the_suppliers_but_changes_nothing(app, database, w):
    operator, page = client_of(app, w["operator"]), "/console/suppliers"
    shown = html(operator.get(page))
    assert f'data-supplier-id="{w["supplier_id"]}"' in shown and 'id="add-supplier"' not in shown
    assert post(operator, page, page, code="X", name="x").status_code == 403


def document_of(page: str) -> dict:
    text = re.search(r'<textarea id="document"[^>]*>(.*?)</textarea>', page, re.S).group(1)
    return json.loads(text.replace("&#34;", '"').replace("&quot;", '"').replace("&amp;", "&")
                      .replace("&lt;", "<").replace("&gt;", ">").replace("&#39;", "'"))


def test_the_policy_is_previewed_saved_and_published(app, database, w):
    apply(database, w["shop_id"], order_values("P1"))
    apply(database, w["shop_id"], return_values("R1", "P1", kind="return_refund",
                                                reason_code="buyer.changed_mind"))
    admin, page = client_of(app, w["admin"]), "/console/policy"
    document = document_of(html(admin.get(page)))
    assert "windows" in document and 'id="in-force"' in html(admin.get(page))
    document["auto_review"] = [{"name": "buyers", "outcome": "approve", "families": ["buyer"],
                                "kinds": ["return_refund"]}]
    text = json.dumps(document, ensure_ascii=False)
    shown = post(admin, page, page, document=text, action="preview", days="90")
    assert shown.status_code == 200, html(shown)
    assert 'id="preview"' in html(shown) and "1 return(s)" in html(shown)
    changed = html(shown).split('id="changed"')[1].split("</ul>")[0]
    assert ">R1</a>" in changed and "approve at once" in changed  # the default: a person
    broken = dict(document, windows=[{"no_reason_days": -3}])
    refused = post(admin, page, page, document=json.dumps(broken), action="save")
    assert refused.status_code == 422 and "windows" in html(refused)
    assert post(admin, page, page, document="[1, 2", action="preview").status_code == 422
    assert count(database, ReturnPolicy) == 0
    saved = post(admin, page, page, document=text, action="save", note="buyers' returns")
    assert saved.status_code == 303 and "version=1" in saved.headers["Location"]
    assert post(admin, "/console/policy/versions/1/publish", page).status_code == 303
    with database.session(readonly=True) as s:
        row = s.scalar(select(ReturnPolicy))
        assert (row.version, row.status, row.note) == (1, "published", "buyers' returns")
    operator = client_of(app, w["operator"])
    assert 'id="save-policy"' not in html(operator.get(page))
    assert post(operator, page, page, document=text, action="save").status_code == 403
    assert post(operator, page, page, document=text, action="preview").status_code == 200
