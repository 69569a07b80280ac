"""A claim's evidence pack: what a supplier or courier is shown, as one ZIP file.

``pack(session, claim, var_dir=None) -> bytes``, members in this order:

* ``manifest.json``: ``format`` (1), ``claim`` (counterparty, amounts in fen with the
  currency, lines, its steps' times, the dispute), ``references`` (the order, the
  supplier's own reference, the parcel), ``decision`` (rule, why in Chinese and English,
  amounts, shares, facts), ``overridden`` (the decisions it overrode, newest first),
  ``evidence`` (the decision's), ``timeline`` (the return case's file when the decision is
  about a return, ``hub.domain.returns.casefile``; else the audit entries on its
  fulfilment and parcel and the parcel's tracking events), ``files`` (``{name, sha256,
  bytes}`` of every other member) and ``missing_files`` (photos named but not readable).
* ``summary.html``: one printable page, Chinese with English beside, money in yuan and
  times in China time, telling the reader how to check the files against the manifest.
* ``photos/<sha256>.<ext>``: the photos the evidence and the dispute name, from the
  content-addressed store (a file whose content is not its hash is left out, as missing).

Times are ISO 8601 UTC, money integer fen. The same claim gives the same bytes: a fixed
member order and date. Every query is scoped to the claim's merchant; no buyer column of
the order is read.
"""
from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from datetime import datetime
from html import escape
from pathlib import Path
from string import Template

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from hub.core.china import ZONE, china_time, yuan
from hub.core.errors import NotFound
from hub.core.wakeup import current_var_dir
from hub.domain.liability.decisions import COST_WORDS, PARTY_WORDS
from hub.domain.returns.casefile import casefile, utc
from hub.domain.returns.inspection import image_kind, photo_path
from hub.models import (
    AuditEntry, Claim, Fulfilment, LiabilityDecision, Order, ReturnCase, Shipment, Supplier,
    TrackingEvent,
)

FORMAT = 1
DATE = (2000, 1, 1, 0, 0, 0)  # every member's: the same claim, the same bytes
HASH = re.compile(r"^[0-9a-f]{64}$")
EXT = {"jpeg": "jpg", "png": "png", "webp": "webp"}
SUPPLIER_KINDS = ("case", "inspection", "tracking")
CLAIM_FIELDS = ("decision_id", "supplier_id", "carrier", "amount_minor", "accepted_minor",
                "currency", "lines", "why_zh", "why_en", "reference", "answered_by",
                "dispute_reason", "close_note")
DECISION_FIELDS = ("id", "event", "subject", "rule", "rule_source", "policy_version", "why_zh",
                   "why_en", "amounts", "shares", "total_minor", "currency", "facts", "status",
                   "overrides_id", "override_reason", "decided_by")
COSTS = {**COST_WORDS, "courier_cap": ("超出快递赔付上限", "beyond the courier's cap")}
CLAIM_TIMES = ("sent_at", "answer_due_at", "acknowledged_at", "answered_at", "closed_at",
               "escalated_at", "created_at")


def pack(session: Session, claim: Claim, var_dir: Path | None = None,
         for_supplier: bool = False) -> bytes:
    """``for_supplier``: the pack its supplier downloads — the timeline only of what is
    about the goods and its own part (``SUPPLIER_KINDS``, sources its own or the
    platform's and the courier's), no earlier decisions."""
    m = claim.merchant_id
    decision = _decision(session, m, claim.decision_id)
    overridden, back = [], decision
    while back.overrides_id is not None and not for_supplier:
        back = _decision(session, m, back.overrides_id)
        overridden.append(_decision_doc(back))
    var_dir = current_var_dir(var_dir)
    missing, members = [], []
    for digest in _photo_hashes(decision, claim):
        data = _read(var_dir, digest)
        if data is None or hashlib.sha256(data).hexdigest() != digest:
            missing.append({"sha256": digest, "why": "not found" if data is None
                            else "its content does not match its SHA-256"})
            continue
        members.append((f"photos/{digest}.{EXT.get(image_kind(data), 'bin')}", data))
    refs, claim_doc, decision_doc = (_references(session, decision, claim), _claim_doc(claim),
                                     _decision_doc(decision))
    members.insert(0, ("summary.html", _summary(claim_doc, decision_doc, refs, decision.evidence,
                                                [n for n, _ in members], missing).encode()))
    files = [{"name": name, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
             for name, data in members]
    manifest = {
        "format": FORMAT, "claim": claim_doc, "references": refs,
        "decision": decision_doc, "overridden": overridden,
        "evidence": decision.evidence, "timeline": [
            x for x in _timeline(session, decision)
            if not for_supplier or _theirs(x, f"supplier:{claim.supplier_id}")],
        "files": files, "missing_files": missing}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        text = json.dumps(manifest, ensure_ascii=False, indent=2, default=str)
        for name, data in [("manifest.json", text.encode()), *members]:
            info = zipfile.ZipInfo(name, DATE)
            info.compress_type, info.create_system = zipfile.ZIP_DEFLATED, 3
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return out.getvalue()


def _decision(session: Session, merchant_id: int, decision_id: int) -> LiabilityDecision:
    decision = session.scalar(select(LiabilityDecision).where(
        LiabilityDecision.merchant_id == merchant_id, LiabilityDecision.id == decision_id))
    if decision is None:
        raise NotFound(f"no liability decision {decision_id}")
    return decision


def _read(var_dir: Path | None, digest: str) -> bytes | None:
    try:
        return photo_path(var_dir, digest).read_bytes() if var_dir is not None else None
    except OSError:
        return None


def _photo_hashes(decision: LiabilityDecision, claim: Claim) -> list[str]:
    named = [x.get("sha256") for x in decision.evidence or []] \
        + list(claim.dispute_evidence or [])
    found = [x.strip().lower() for x in named if isinstance(x, str)]
    return list(dict.fromkeys(x for x in found if HASH.match(x)))


def _claim_doc(claim: Claim) -> dict:
    return {"id": claim.id, "status": claim.status, "counterparty": claim.counterparty_kind,
            **{k: getattr(claim, k) for k in CLAIM_FIELDS},
            "dispute_evidence": list(claim.dispute_evidence or []),
            **{k: utc(getattr(claim, k)) for k in CLAIM_TIMES}}


def _decision_doc(d: LiabilityDecision) -> dict:
    return {**{k: getattr(d, k) for k in DECISION_FIELDS}, "decided_at": utc(d.decided_at)}


def _parcel_ids(session: Session, d: LiabilityDecision) -> list[int]:
    if d.shipment_id is not None:
        return [d.shipment_id]
    if d.fulfilment_id is None:
        return []
    return list(session.scalars(select(Shipment.id).where(
        Shipment.merchant_id == d.merchant_id, Shipment.fulfilment_id == d.fulfilment_id,
        Shipment.direction == "outbound").order_by(Shipment.id)))


def _references(session: Session, d: LiabilityDecision, claim: Claim) -> dict:
    m = d.merchant_id
    order = session.scalar(select(Order.platform_order_id).where(
        Order.merchant_id == m, Order.id == d.order_id)) if d.order_id else None
    reference = session.scalar(select(Fulfilment.supplier_reference).where(
        Fulfilment.merchant_id == m, Fulfilment.id == d.fulfilment_id)) \
        if d.fulfilment_id else None
    supplier = session.execute(select(Supplier.code, Supplier.name).where(
        Supplier.merchant_id == m, Supplier.id == claim.supplier_id)).first() \
        if claim.supplier_id else None
    parcels = _parcel_ids(session, d)
    tracking = session.execute(select(Shipment.carrier, Shipment.tracking_number).where(
        Shipment.merchant_id == m, Shipment.id == parcels[-1])).first() if parcels else None
    return {"platform_order_id": order, "supplier_reference": reference,
            "supplier_code": supplier.code if supplier else None,
            "supplier_name": supplier.name if supplier else None,
            "carrier": tracking.carrier if tracking else d.carrier,
            "tracking_number": tracking.tracking_number if tracking else None}


def _theirs(entry: dict, supplier: str) -> bool:
    """Shown to the supplier: the case, inspections, tracking, and what it, the platform,
    the courier or the hub did — not messages to others, verdicts, alerts, stock."""
    if entry["kind"] == "audit":
        return entry["source"] in (supplier, "platform", "courier", "hub")
    return entry["kind"] in SUPPLIER_KINDS


def _timeline(session: Session, d: LiabilityDecision) -> list[dict]:
    m = d.merchant_id
    if d.return_case_id is not None:
        case = session.scalar(select(ReturnCase).where(
            ReturnCase.merchant_id == m, ReturnCase.id == d.return_case_id))
        return casefile(session, case)["timeline"] if case is not None else []
    parcels = _parcel_ids(session, d)
    about = [and_(AuditEntry.entity == "shipment", AuditEntry.entity_id.in_(parcels))]
    if d.fulfilment_id is not None:
        about.append(and_(AuditEntry.entity == "fulfilment",
                          AuditEntry.entity_id == d.fulfilment_id))
    entries = session.scalars(select(AuditEntry).where(AuditEntry.merchant_id == m,
                                                       or_(*about)))
    events = session.execute(select(TrackingEvent, Shipment).join(
        Shipment, Shipment.id == TrackingEvent.shipment_id).where(
        TrackingEvent.merchant_id == m, Shipment.merchant_id == m,
        TrackingEvent.shipment_id.in_(parcels))).all() if parcels else []
    timeline = [
        *({"at": utc(e.at), "source": "hub" if e.actor.split(":")[0] in ("hub", "job")
           else e.actor, "actor": e.actor, "kind": "audit", "action": e.action, "id": e.id,
           "details": {**(e.changes or {}), "entity": e.entity, "entity_id": e.entity_id}}
          for e in entries),
        *({"at": utc(t.occurred_at), "source": "courier", "actor": None, "kind": "tracking",
           "action": f"tracking.{t.status}", "status": t.status, "id": t.id, "details": {
               "shipment_id": p.id, "carrier": p.carrier, "tracking_number": p.tracking_number,
               "raw_status": t.raw_status, "description": t.description,
               "location": t.location, "via": t.source}} for t, p in events)]
    timeline.sort(key=lambda x: (datetime.fromisoformat(x["at"]), x["kind"], x["id"]))
    return timeline


# -- the printable page ----------------------------------------------------------------------

PAGE = Template("""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>索赔证据 Claim evidence · #$id</title>
<style>@page { size: A4; margin: 12mm; } .en { color: #555; }
body { font: 12px/1.4 "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", Arial,
sans-serif; color: #111; max-width: 1000px; margin: 0 auto; }
h1 { font-size: 18px; margin: 0 0 4px; } h2 { font-size: 14px; margin: 12px 0 4px;
border-bottom: 2px solid #111; } table { width: 100%; border-collapse: collapse; }
th, td { border: 1px solid #bbb; padding: 2px 5px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; width: 22%; } .when { white-space: nowrap; }
.mono { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 11px;
word-break: break-all; } @media print { tr { break-inside: avoid; } }</style></head><body>
<h1>索赔证据 <span class="en">Claim evidence</span> · #$id</h1>
<p>致 <span class="en">To</span>: $who · 时区 <span class="en">Time zone</span>: $zone</p>
<h2>索赔 <span class="en">Claim</span></h2><table>$claim</table>
<h2>费用 <span class="en">Costs</span></h2><table>$costs</table>
<h2>判定 <span class="en">Decision</span></h2><table>$decision</table>
<h2>证据 <span class="en">Evidence</span> ($zone)</h2><table>
<tr><th>北京时间 <span class="en">China time</span></th><th>来源 <span class="en">Source</span></th>
<th>内容 <span class="en">What</span></th></tr>$evidence</table>$missing
<p>核验：每个文件的 SHA-256 都记录在 manifest.json（files）中，请重新计算并比对。
<span class="en">To verify: each file's SHA-256 is in manifest.json (files); recompute it
(sha256sum FILE, or certutil -hashfile FILE SHA256) and compare.</span></p>
</body></html>
""")


def _words(zh: str, en: str) -> str:
    return f'{escape(zh)} <span class="en">{escape(en)}</span>'


def _row(zh: str, en: str, value: str) -> str:
    return f"<tr><th>{_words(zh, en)}</th><td>{value}</td></tr>"


def _evidence_row(x: dict, files: dict) -> str:
    digest = x.get("sha256")
    photo = (f'<br><a class="mono" href="{escape(files[digest])}">{escape(files[digest])}</a>'
             if digest in files else f'<br><span class="mono">SHA-256 {escape(digest)} '
             "(缺失 missing)</span>" if digest else "")
    return (f'<tr><td class="when">{china_time(x.get("at"))}</td>'
            f'<td>{escape(str(x.get("source", "")))}</td>'
            f"<td>{_words(str(x.get('zh', '')), str(x.get('en', '')))}{photo}</td></tr>")


def _summary(c: dict, d: dict, refs: dict, evidence: list, photos: list, missing: list) -> str:
    cur, e = c["currency"], escape
    who = _words("供应商", "supplier") + f" {e(refs['supplier_code'] or '')} " \
        f"{e(refs['supplier_name'] or '')}" if c["counterparty"] == "supplier" \
        else _words("快递", "courier") + f" {e(c['carrier'] or '')}"
    claim = [_row("索赔金额", "Amount claimed",
                  f"{yuan(c['amount_minor'], cur)} ({c['amount_minor']} fen, {cur})"),
             _row("已接受", "Accepted", yuan(c["accepted_minor"], cur) or "—"),
             _row("状态", "Status", e(c["status"])),
             _row("订单号", "Order", e(refs["platform_order_id"] or "—")),
             _row("供应商单号", "Supplier reference", e(refs["supplier_reference"] or "—")),
             _row("运单号", "Waybill", e(" ".join(
                 x for x in (refs["carrier"], refs["tracking_number"]) if x) or "—")),
             _row("发出", "Sent", china_time(c["sent_at"])),
             _row("答复期限", "Answer by", china_time(c["answer_due_at"]))]
    if c["dispute_reason"]:
        claim.append(_row("异议", "Dispute", "<br>".join(
            [e(c["dispute_reason"])] + [f'<span class="mono">{e(x)}</span>'
                                        for x in c["dispute_evidence"]])))
    costs = [_row(*COSTS.get(x["cost"], (x["cost"], x["cost"])),
                  yuan(x["amount_minor"], cur)) for x in c["lines"]]
    shares = "；".join(_words(PARTY_WORDS.get(x["party"], x["party"]), x["party"])
                      + f" {yuan(x['amount_minor'], d['currency'])}" for x in d["shares"])
    decision = [_row("规则", "Rule", e(f"{d['rule']} ({d['rule_source']}, "
                                       f"policy v{d['policy_version']})")),
                _row("原因", "Why", f'{e(d["why_zh"])}<br><span class="en">{e(d["why_en"])}'
                                  "</span>"),
                _row("承担", "Paid by", shares),
                _row("判定时间", "Decided", china_time(d["decided_at"]))]
    files = {name.split("/")[1].split(".")[0]: name for name in photos}
    gone = f"<p>{_words('缺失文件', 'Missing files')}: " + ", ".join(
        f'<span class="mono">{e(x["sha256"])}</span>' for x in missing) + "</p>"
    return PAGE.substitute(
        id=c["id"], who=who, zone=ZONE, claim="".join(claim), costs="".join(costs),
        decision="".join(decision), missing=gone if missing else "",
        evidence="".join(_evidence_row(x, files) for x in evidence))
