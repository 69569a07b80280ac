"""The buyer's progress page: ``GET /r/<public_token>``, public, no sign-in.

Whoever holds a case's unguessable link (``hub.domain.returns.progress.buyer_link``)
sees where the return stands (``progress.progress``), in Chinese by default, in English
with ``?lang=en`` or an ``Accept-Language`` that prefers it (``?lang=zh`` for Chinese).
Phone-sized, one page of inline CSS, no script and no external asset. Times are China
time (Asia/Shanghai, UTC+8), money in yuan from fen (``¥12.34``).

A token that is malformed or names no case is one and the same 404 page, whatever the
token: nothing says whether a case exists. Every answer carries the app's security
headers, ``Cache-Control: no-store`` and ``X-Robots-Tag: noindex`` (the page also says
``noindex``); the app's ``Referrer-Policy: no-referrer`` keeps the link from leaking.
"""
from __future__ import annotations

from flask import Blueprint, render_template, request

from hub.core.china import china_time, yuan
from hub.domain.returns import progress
from hub.web.context import request_session

buyer_blueprint = Blueprint("buyer", __name__)
LANGS = ("zh", "en")
PRIVATE = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow",
           "Vary": "Accept-Language"}

WORDS = {
    "zh": {
        "title": "退货进度", "return_no": "售后单号", "order_no": "订单号", "refund": "退款金额",
        "updated": "更新于", "tz": "北京时间", "switch": "English", "switch_lang": "en",
        "packing": "打包说明", "send_to": "寄回地址", "contact": "收件人", "phone": "电话",
        "address": "地址", "no_address": "请按平台售后页面显示的地址寄回。",
        "parcel": "退货包裹", "carrier": "快递公司", "tracking_number": "运单号",
        "no_events": "暂无物流信息。", "footer": "此页面仅显示您的售后进度，请勿转发。",
        "steps": {"requested": "提交申请", "approved": "商家同意", "on_its_way": "寄回途中",
                  "received": "商家收货", "inspected": "验货完成", "refunded": "退款完成",
                  "resolved": "处理完成", "rejected": "申请未通过", "closed": "售后已关闭"},
        "now": {"requested": "我们已收到您的售后申请，正在审核。",
                "approved": "您的申请已同意。", "approved_goods": "您的申请已同意，请按下方说明打包并寄回商品。",
                "on_its_way": "您的退货正在寄回途中。", "received": "我们已收到您的退货，正在检查。",
                "inspected": "退货已验收，正在为您办理。", "refunded": "退款已完成，将原路退回。",
                "resolved": "您的售后已处理完成。",
                "rejected": "很抱歉，您的申请未通过。原因请查看平台售后页面，或联系客服。",
                "closed": "此售后已关闭。如有疑问请联系客服。"},
        "freight": {"buyer": "退货运费由您承担。", "platform": "退货运费由运费险承担。",
                    "other": "退货运费由商家承担。"},
        "parcel_status": {"pending": "待揽收", "info_received": "待揽收", "picked_up": "已揽收",
                          "in_transit": "运输中", "out_for_delivery": "派送中",
                          "delivered": "已签收", "exception": "异常", "returning": "退回中"},
    },
    "en": {
        "title": "Return progress", "return_no": "After-sale no.", "order_no": "Order no.",
        "refund": "Refund", "updated": "Updated", "tz": "China time", "switch": "中文",
        "switch_lang": "zh", "packing": "How to pack", "send_to": "Send it to",
        "contact": "Recipient", "phone": "Phone", "address": "Address",
        "no_address": "Send it to the address shown on the platform's after-sale page.",
        "parcel": "Your return parcel", "carrier": "Courier", "tracking_number": "Tracking no.",
        "no_events": "No tracking news yet.",
        "footer": "This page shows only your return's progress. Please do not share it.",
        "steps": {"requested": "Requested", "approved": "Approved", "on_its_way": "On its way",
                  "received": "Received", "inspected": "Inspected", "refunded": "Refunded",
                  "resolved": "Resolved", "rejected": "Not approved", "closed": "Closed"},
        "now": {"requested": "We have your request and are reviewing it.",
                "approved": "Your request is approved.",
                "approved_goods": "Your return is approved: pack the goods and send them "
                                  "back as shown below.",
                "on_its_way": "Your return is on its way back to us.",
                "received": "We received your return and are checking it.",
                "inspected": "Your return was inspected; we are completing it.",
                "refunded": "Your refund is done: it goes back the way you paid.",
                "resolved": "Your after-sale is complete.",
                "rejected": "Sorry, your request was not approved. The platform's after-sale "
                            "page says why, or ask the shop.",
                "closed": "This after-sale was closed. Ask the shop if you have questions."},
        "freight": {"buyer": "You pay the return postage.",
                    "platform": "Freight insurance pays the return postage.",
                    "other": "The shop pays the return postage."},
        "parcel_status": {"pending": "awaiting pickup", "info_received": "awaiting pickup",
                          "picked_up": "picked up", "in_transit": "in transit",
                          "out_for_delivery": "out for delivery", "delivered": "delivered",
                          "exception": "problem", "returning": "coming back"},
    },
}


def language() -> str:
    asked = request.args.get("lang", "")
    if asked in LANGS:
        return asked
    return request.accept_languages.best_match(LANGS) or "zh"


def _not_found():
    return render_template("buyer/not_found.html"), 404, PRIVATE


@buyer_blueprint.get("/r/<path:token>")
def progress_page(token: str):
    case = progress.find(request_session(), token)
    if case is None:
        return _not_found()
    lang = language()
    words = WORDS[lang]
    page = progress.progress(request_session(), case)
    now = page["current"]
    if now == "approved" and page["packing"] is not None:
        now = "approved_goods"
    packing = page["packing"]
    payer = packing and packing["freight_payer"]
    freight = None if not payer else words["freight"].get(payer, words["freight"]["other"])
    return render_template(
        "buyer/progress.html", lang=lang, w=words, page=page, now=words["now"][now],
        freight=freight, refund=yuan(page["refund_minor"], page["currency"]),
        when=china_time), 200, PRIVATE
