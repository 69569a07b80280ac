"""HTTP client for a generic shop's API: bearer auth and the account's call budget."""
from __future__ import annotations

from connectors.http import HttpAdapter, budget_for


class GenericShopClient(HttpAdapter):
    def __init__(self, ctx, **kwargs):
        config = ctx.config
        super().__init__(config.get("base_url") or "",
                         budget=[budget_for(f"generic_shop:{ctx.account_id}",
                                            config.get("qps") or 5.0)],
                         **kwargs)
        self.api_key = config.get("api_key")

    def sign(self, request):
        if self.api_key:
            request.headers["Authorization"] = f"Bearer {self.api_key}"
        return request
