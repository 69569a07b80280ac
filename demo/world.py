"""The demo world's rows and products: what ``hub demo``, ``hub run --sandbox`` and the
benchmarks set up on the sandboxes and in the hub (``provision``), idempotently."""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone

MESSAGE_KEY = "AAECAwQFBgcICQoLDA0ODw=="
# (merchant SKU, title, price in fen)
PRODUCTS = [("MUG-01", "陶瓷马克杯 ceramic mug", 3990), ("TEE-02", "纯棉T恤 cotton T-shirt", 5900),
            ("LAMP-03", "LED 台灯 desk lamp", 12900)]
SHIPPING_FEE = 600
COST_SHARE = 60  # the supplier's contract cost, in percent of the price
# who pays: the default table, with claims sent to the supplier as soon as decided
LIABILITY = {"claims": {"auto_send": True, "answer_days": 3}}
CATEGORIES = {"MUG-01": "fragile", "TEE-02": "apparel", "LAMP-03": "large"}
# the demo merchant's return policy: small returns, exchanges and repairs approved at once
# (refunds before shipment are approved by stop-ship once the supplier stops the goods)
AUTO_REVIEW = [
    {"name": "repeat_returner", "outcome": "manual", "min_returns_90d": 5},
    {"name": "small_after_sales", "outcome": "approve",
     "kinds": ["return_refund", "exchange", "repair"], "max_refund_minor": 30000,
     "zh": "退货、换货、维修金额不超过300元，自动同意",
     "en": "returns, exchanges and repairs up to ¥300 are approved at once"},
]
KS_CONFIG = {"pushTimeFactor": 0.001}  # a failed push is retried within a second

def iso_in(seconds: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat()


DEMO_MERCHANT = "Demo merchant"
SHOP_NAME, COURIER_NAME, CHANNEL_NAME = ("sandbox shop", "sandbox courier",
                                         "sandbox supplier channel")
SUPPLIER_CODE = "SBX"
SANDBOX_SELLER_ID = 2_161_524_001  # the sandbox's first shop; fixed so a restart finds it


def provision(db, ks, *, ks_url: str, courier_url: str, supplier_url: str,
              whsec: str | None = None, shop_config: dict | None = None,
              actor: str = "demo") -> dict:
    """The demo world on both sides, idempotently: on the Kuaishou sandbox (``ks(verb,
    path, **body)``, its control API) an app and a shop authorized for it; in the hub's
    database (``db``, the crypto keyring configured) the demo merchant, its Kuaishou shop
    account, a ``kuaidi100`` account on the courier sandbox, a ``hub_webhook`` channel to
    the supplier sandbox, the supplier ``SBX`` with SKU mappings for ``PRODUCTS``, and a
    fresh supplier token (earlier ones of this set-up are revoked).

    Run against a database that already has them (``hub run --sandbox`` restarted), it
    reuses every row and re-creates the platform's side from what the hub holds: the app
    with the stored keys and the shop with the stored tokens (a restarted sandbox has
    forgotten both), and points the accounts at the sandboxes' current URLs.
    Answers ``{"ids", "app_key", "seller_id", "whsec", "supplier_token", "created"}``."""
    from sqlalchemy import select

    from connectors.hub_webhook.secrets import generate_secret
    from hub.models import Account, ApiToken, Merchant, SkuMapping, Supplier
    from hub.parties import auth
    from hub.parties.accounts import add_account

    with db.session() as s:
        merchant = s.scalar(select(Merchant).where(Merchant.name == DEMO_MERCHANT)
                            .order_by(Merchant.id))
        created = merchant is None
        if created:
            merchant = Merchant(name=DEMO_MERCHANT)
            s.add(merchant)
            s.flush()
        m = merchant.id

        def account(connector: str, name: str) -> Account | None:
            return s.scalar(select(Account).where(Account.merchant_id == m,
                                                  Account.connector == connector,
                                                  Account.name == name))

        shop_account = account("kuaishou", SHOP_NAME)
        if shop_account is None:
            app = ks("POST", "/apps", messageKey=MESSAGE_KEY)
            shop = ks("POST", "/shops", sellerId=SANDBOX_SELLER_ID, shopName="沙盒小店 demo shop")
            tokens = ks("POST", f"/shops/{shop['sellerId']}/authorize", appKey=app["appKey"])
            shop_account = add_account(s, m, "kuaishou", SHOP_NAME, {
                "app_key": app["appKey"], "app_secret": app["appSecret"],
                "sign_secret": app["signSecret"], "message_key": MESSAGE_KEY,
                "api_base_url": ks_url, "oauth_base_url": ks_url,
                "access_token": tokens["access_token"], "refresh_token": tokens["refresh_token"],
                "access_token_expires_at": iso_in(172_800),
                "refresh_token_expires_at": iso_in(180 * 86_400),
                "backfill_days": 1, "order_window_days": 1, "refund_window_hours": 24,
                "qps_default": 100, **(shop_config or {})}, actor=actor)
            app_key, seller_id = app["appKey"], int(shop["sellerId"])
        else:  # the platform forgot the app and the shop: give it back what the hub holds
            cfg = dict(shop_account.config)
            app_key, seller_id = cfg["app_key"], SANDBOX_SELLER_ID
            ks("POST", "/apps", appKey=app_key, appSecret=cfg["app_secret"],
               signSecret=cfg["sign_secret"], messageKey=cfg["message_key"])
            ks("POST", "/shops", sellerId=seller_id, shopName="沙盒小店 demo shop")
            ks("POST", f"/shops/{seller_id}/authorize", appKey=app_key,
               accessToken=cfg["access_token"], refreshToken=cfg["refresh_token"])
            shop_account.config = {**cfg, "api_base_url": ks_url, "oauth_base_url": ks_url,
                                   "access_token_expires_at": iso_in(172_800),
                                   **(shop_config or {})}
            if shop_account.status != "active":
                shop_account.status, shop_account.status_reason = "active", None
        courier = account("kuaidi100", COURIER_NAME)
        if courier is None:
            courier = add_account(s, m, "kuaidi100", COURIER_NAME, {
                "key": "sandbox-key", "customer": "SANDBOXCUSTOMER", "secret": "sandbox-secret",
                "salt": secrets.token_hex(12), "poll_base_url": courier_url,
                "api_base_url": courier_url, "return_label_carrier": "sf"}, actor=actor)
        else:
            courier.config = {**courier.config, "poll_base_url": courier_url,
                              "api_base_url": courier_url, "return_label_carrier": "sf"}
        channel = account("hub_webhook", CHANNEL_NAME)
        if channel is None:
            whsec = whsec or generate_secret()
            channel = add_account(s, m, "hub_webhook", CHANNEL_NAME, {
                "endpoint_url": f"{supplier_url}/webhook", "secrets": [whsec]}, actor=actor)
        else:
            whsec = channel.config["secrets"][0]
            channel.config = {**channel.config, "endpoint_url": f"{supplier_url}/webhook"}
        supplier = s.scalar(select(Supplier).where(Supplier.merchant_id == m,
                                                   Supplier.code == SUPPLIER_CODE))
        if supplier is None:
            supplier = Supplier(merchant_id=m, code=SUPPLIER_CODE, name="沙盒工厂 sandbox supplier",
                                sla_hours=24, channel_account_id=channel.id)
            s.add(supplier)
            s.flush()
        mapped = set(s.scalars(select(SkuMapping.sku).where(
            SkuMapping.merchant_id == m, SkuMapping.supplier_id == supplier.id)))
        for sku, _title, price in PRODUCTS:
            if sku not in mapped:
                s.add(SkuMapping(merchant_id=m, sku=sku, supplier_id=supplier.id,
                                 unit_cost_minor=price * COST_SHARE // 100))
        _returns_set_up(s, m, shop_account.id, supplier.id, ks("GET", f"/shops/{seller_id}"),
                        actor)
        for old in s.scalars(select(ApiToken).where(
                ApiToken.merchant_id == m, ApiToken.supplier_id == supplier.id,
                ApiToken.name == "sandbox", ApiToken.revoked_at.is_(None))):
            auth.revoke(s, old)
        _row, supplier_token = auth.issue_token(s, m, "supplier", supplier.id, "sandbox")
        ids = {"merchant": m, "shop": shop_account.id, "courier": courier.id,
               "channel": channel.id, "supplier": supplier.id}
    return {"ids": ids, "app_key": app_key, "seller_id": seller_id, "whsec": whsec,
            "supplier_token": supplier_token, "created": created}


def _returns_set_up(s, merchant_id: int, shop_id: int, supplier_id: int, shop: dict,
                    actor: str) -> None:
    """The catalogue's categories and values, the supplier's return address with the
    platform's id for it, and the demo policy published — each once."""
    import copy

    from sqlalchemy import select

    from hub.domain.policy import versions
    from hub.domain.policy.document import DEFAULT
    from hub.models import Product, ReturnAddress

    known = set(s.scalars(select(Product.sku).where(Product.merchant_id == merchant_id)))
    for sku, title, price in PRODUCTS:
        if sku not in known:
            s.add(Product(merchant_id=merchant_id, sku=sku, name=title, value_minor=price,
                          category=CATEGORIES[sku]))
    address_id = str(shop["returnAddressId"])
    if s.scalar(select(ReturnAddress.id).where(
            ReturnAddress.merchant_id == merchant_id,
            ReturnAddress.platform_address_id == address_id)) is None:
        s.add(ReturnAddress(merchant_id=merchant_id, shop_account_id=shop_id,
                            supplier_id=supplier_id, platform_address_id=address_id,
                            name="沙盒工厂退货仓", contact="退货仓", phone="400-000-0000",
                            address=shop["returnAddress"], is_default=True, source="platform"))
    if versions.in_force(s, merchant_id).version == 0:
        draft = versions.edit(s, merchant_id, {**copy.deepcopy(DEFAULT),
                                               "auto_review": AUTO_REVIEW,
                                               "liability": LIABILITY}, actor,
                              "the demo's policy")
        versions.publish(s, merchant_id, draft.version, actor)
