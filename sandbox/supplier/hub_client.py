"""How the sandbox supplier answers: the hub's supplier REST API, with its token (and the
courier sandbox's control API to put a parcel on the road). Every call is recorded as an
action with its status and answer; connection failures and 5xx are tried again a few
times, anything else is recorded as it came back."""
from __future__ import annotations

import json
import time

import requests

from sandbox.supplier.state import SupplierState

TIMEOUT = (5, 30)
TRIES = 3


def _answer(response: requests.Response):
    try:
        return response.json()
    except ValueError:
        return response.text[:500]


class HubClient:
    def __init__(self, state: SupplierState):
        self.state = state
        self.session = requests.Session()

    def _url(self, path: str) -> str:
        base = (self.state.get("hub_url") or "").rstrip("/")
        if not base:
            raise RuntimeError("hub_url is not configured")
        return f"{base}/api/v1{path}"

    def call(self, action: str, method: str, path: str, *, record: dict | None = None,
             **kwargs) -> tuple[int | None, object]:
        """One API call (retried on transport errors and 5xx); ``(status, answer)``."""
        headers = {"Authorization": f"Bearer {self.state.get('token')}"}
        status, answer = None, None
        for attempt in range(1, TRIES + 1):
            try:
                response = self.session.request(method, self._url(path), headers=headers,
                                                timeout=TIMEOUT, **kwargs)
                status, answer = response.status_code, _answer(response)
            except (requests.RequestException, RuntimeError) as e:
                status, answer = None, f"{type(e).__name__}: {e}"
            if status is not None and status < 500:
                break
            time.sleep(0.2 * attempt)
        self.state.act(action, method=method, path=path, status=status,
                       ok=status is not None and status < 300, response=answer,
                       **(record or {}))
        return status, answer

    # -- the supplier API -----------------------------------------------------------------------
    def accept(self, fulfilment_id: int, reference: str):
        return self.call("accept", "POST", f"/supplier/fulfilments/{fulfilment_id}/accept",
                         json={"supplier_reference": reference},
                         record={"fulfilment_id": fulfilment_id})

    def reject(self, fulfilment_id: int, reason: str):
        return self.call("reject", "POST", f"/supplier/fulfilments/{fulfilment_id}/reject",
                         json={"reason": reason}, record={"fulfilment_id": fulfilment_id})

    def tracking(self, fulfilment_id: int, carrier: str, number: str):
        return self.call("tracking", "POST", f"/supplier/fulfilments/{fulfilment_id}/tracking",
                         json={"carrier": carrier, "tracking_number": number},
                         record={"fulfilment_id": fulfilment_id, "carrier": carrier,
                                 "tracking_number": number})

    def stop_ship(self, fulfilment_id: int, accepted: bool, carrier=None, number=None):
        body = {"accepted": accepted}
        if not accepted:
            body.update(reason="already shipped", carrier=carrier, tracking_number=number)
        return self.call("stop_ship_" + ("accepted" if accepted else "rejected"), "POST",
                         f"/supplier/fulfilments/{fulfilment_id}/stop-ship", json=body,
                         record={"fulfilment_id": fulfilment_id, "tracking_number": number})

    def receipt(self, return_case_id: int, fields: dict, photo: bytes):
        form = {k: (json.dumps(v) if isinstance(v, dict) else v)
                for k, v in fields.items() if v is not None}
        return self.call("receipt", "POST", f"/supplier/returns/{return_case_id}/receipt",
                         data=form, files=[("photos", ("item.png", photo, "image/png"))],
                         record={"return_case_id": return_case_id,
                                 "condition": fields.get("condition")})

    def acknowledge_claim(self, claim_id: int):
        """"We have it" (idempotent: an answered claim is returned as it is)."""
        return self.call("claim_ack", "POST", f"/supplier/claims/{claim_id}/acknowledge",
                         record={"claim_id": claim_id})

    def answer_claim(self, claim_id: int, outcome: str, amount_minor: int | None = None,
                     reason: str | None = None, evidence=()):
        """``accept`` (all of it, or ``amount_minor`` of it) or ``dispute`` with a reason."""
        body = {"outcome": outcome}
        if amount_minor is not None:
            body["amount_minor"] = amount_minor
        if reason is not None:
            body["reason"] = reason
        if evidence:
            body["evidence"] = list(evidence)
        return self.call(f"claim_{outcome}", "POST", f"/supplier/claims/{claim_id}/answer",
                         json=body, record={"claim_id": claim_id,
                                            "amount_minor": amount_minor})

    def confirm_statement(self, statement_id: int):
        """Every line of the statement agreed."""
        return self.call("statement_confirm", "POST",
                         f"/supplier/statements/{statement_id}/confirm",
                         record={"statement_id": statement_id})

    def acknowledge(self, webhook_id: str):
        """Find the notice a delivery was (by its webhook-id) and acknowledge it."""
        status, page = self.call("find_notice", "GET", "/supplier/notices",
                                 params={"webhook_id": webhook_id},
                                 record={"webhook_id": webhook_id})
        rows = page.get("data") if status == 200 and isinstance(page, dict) else None
        if not rows:
            return status, page
        return self.call("ack", "POST", f"/supplier/notices/{rows[0]['id']}/ack",
                         record={"webhook_id": webhook_id, "notice_id": rows[0]["id"]})

    # -- the courier sandbox ---------------------------------------------------------------------
    def register_parcel(self, number: str, com: str, scenario: str, phone: str | None):
        url = (self.state.get("courier_url") or "").rstrip("/") + "/_sandbox/parcels"
        body = {"number": number, "com": com, "scenario": scenario}
        if phone:
            body["phone"] = phone
        try:
            response = self.session.post(url, json=body, timeout=TIMEOUT)
            status, answer = response.status_code, _answer(response)
        except requests.RequestException as e:
            status, answer = None, f"{type(e).__name__}: {e}"
        self.state.act("courier_parcel", url=url, status=status,
                       ok=status is not None and status < 300, response=answer,
                       tracking_number=number)
        return status, answer
