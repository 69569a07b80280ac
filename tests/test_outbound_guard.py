"""The outbound guard (``connectors.outbound``): the hub's HTTP calls reach no loopback,
private, link-local or other internal address and no other scheme, whatever a merchant
configured, unless the address is on the allow-list (``HUB_OUTBOUND_ALLOW``). Calls go to
a real local HTTP server; a name is made to resolve to it by replacing
``socket.getaddrinfo`` for that one name."""
from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connectors import outbound
from connectors.base import ConnectorError, ErrorClass
from connectors.http import HttpAdapter
from hub.core.config import ConfigError, Settings
from hub.web.app import create_app
from tests import factories as f


@pytest.fixture(autouse=True)
def strict():
    """No allow-list: what a deployment gets by default."""
    previous = outbound.configure(())
    yield
    outbound.configure(previous)


@pytest.fixture
def server():
    """A local server answering 200 (or ``redirect`` with a 302) and recording requests."""
    seen: list[dict] = []
    state = {"redirect": None}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen.append({"path": self.path, "host": self.headers.get("Host")})
            if state["redirect"]:
                self.send_response(302)
                self.send_header("Location", state["redirect"])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = b'{"secret":"internal"}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield {"port": httpd.server_address[1], "seen": seen, "state": state}
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def name_to_loopback(monkeypatch):
    """``shop.example.test`` resolves to 127.0.0.1 (a rebinding name, as DNS answers it)."""
    real = socket.getaddrinfo

    def fake(host, *args, **kwargs):
        return real("127.0.0.1" if host == "shop.example.test" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)


def refused(call) -> ConnectorError:
    with pytest.raises(ConnectorError) as info:
        call()
    error = info.value
    assert error.error_class is ErrorClass.FAIL_CONFIG
    assert error.response_excerpt is None and error.status_code is None
    return error


# -- at call time ------------------------------------------------------------------------
def test_a_loopback_address_is_refused_before_any_request(server):
    error = refused(lambda: HttpAdapter(f"http://127.0.0.1:{server['port']}").request(
        "GET", "/admin"))
    assert "127.0.0.1 is a loopback address" in error.message
    assert server["seen"] == []


@pytest.mark.parametrize("url,reason", [
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://10.1.2.3/", "private"),
    ("http://[::1]:9/", "loopback"),
    ("http://[::ffff:127.0.0.1]:9/", "loopback"),
    ("http://0.0.0.0:9/", "unspecified"),
    ("http://224.0.0.1/", "multicast"),
    ("http://100.64.0.1/", "non-public"),
    ("http://2130706433:9/", "loopback"),   # 127.0.0.1 spelled as one number
    ("http://localhost:9/", "loopback name"),
])
def test_internal_addresses_are_refused(url, reason):
    error = refused(lambda: HttpAdapter(url, sleep=lambda s: None).request("GET", "/x"))
    assert reason in error.message


def test_other_schemes_are_refused():
    error = refused(lambda: HttpAdapter().request("GET", "file:///etc/passwd"))
    assert "only http and https" in error.message


def test_a_name_resolving_to_loopback_is_refused_at_connect_time(server, name_to_loopback):
    error = refused(lambda: HttpAdapter(f"http://shop.example.test:{server['port']}").request(
        "GET", "/orders"))
    assert "shop.example.test resolves to 127.0.0.1, a loopback address" in error.message
    assert "internal" not in error.message  # never the refused host's answer
    assert server["seen"] == []


def test_a_redirect_to_an_internal_address_is_not_followed(server):
    outbound.configure(["127.0.0.1"])  # the first hop is allowed, the second is not
    server["state"]["redirect"] = "http://169.254.169.254/latest/meta-data/"
    error = refused_or_config(lambda: HttpAdapter(f"http://127.0.0.1:{server['port']}").request(
        "GET", "/start"))
    assert "302" in error.message
    assert len(server["seen"]) == 1


def refused_or_config(call) -> ConnectorError:
    with pytest.raises(ConnectorError) as info:
        call()
    assert info.value.error_class is ErrorClass.FAIL_CONFIG
    return info.value


def test_the_allow_list_lets_the_embedded_sandboxes_through(server, name_to_loopback):
    outbound.configure(["127.0.0.0/8"])
    resp = HttpAdapter(f"http://127.0.0.1:{server['port']}").request("GET", "/a")
    assert resp.json() == {"secret": "internal"}
    # a name is connected to at the address that was checked, its Host header kept
    HttpAdapter(f"http://shop.example.test:{server['port']}").request("GET", "/b")
    assert server["seen"][-1] == {"path": "/b", "host": f"shop.example.test:{server['port']}"}


def test_an_allowed_host_name_may_resolve_anywhere(server, name_to_loopback):
    outbound.configure(["shop.example.test"])
    HttpAdapter(f"http://shop.example.test:{server['port']}").request("GET", "/c")
    assert [r["path"] for r in server["seen"]] == ["/c"]
    refused(lambda: HttpAdapter(f"http://127.0.0.1:{server['port']}").request("GET", "/d"))


# -- at configuration time ---------------------------------------------------------------
@pytest.fixture
def admin(client, database):
    outbound.configure(())  # the app installed the tests' allow-list
    with database.session() as s:
        merchant = f.merchant(s, "Guarded")
        return {"id": merchant.id, "token": f.token(s, merchant.id, "merchant_admin")}


def add(client, admin, connector, config):
    return client.post("/api/v1/accounts", headers=f.bearer(admin["token"]),
                       json={"connector": connector, "name": "x", "config": config})


@pytest.mark.parametrize("connector,config,field", [
    ("generic_shop", {"webhook_secret": f.WHSEC, "base_url": "http://169.254.169.254/"},
     "base_url"),
    ("generic_shop", {"webhook_secret": f.WHSEC, "base_url": "ftp://shop.example.com/"},
     "base_url"),
    ("hub_webhook", {"endpoint_url": "http://10.0.0.8/hooks", "secrets": [f.WHSEC]},
     "endpoint_url"),
    ("cj", {"api_key": "k", "api_base_url": "http://127.0.0.1:8080/api"}, "api_base_url"),
    ("kuaidi100", {"key": "k", "customer": "C", "salt": "salt1234",
                   "callback_url": "http://localhost/cb"}, "callback_url"),
    ("kuaishou", {"app_key": "ks1", "app_secret": "a", "sign_secret": "b",
                  "oauth_base_url": "http://192.168.1.1/"}, "oauth_base_url"),
])
def test_an_internal_url_is_a_422_naming_the_field(client, admin, connector, config, field):
    resp = add(client, admin, connector, config)
    assert resp.status_code == 422, resp.get_data(as_text=True)
    error = resp.get_json()["error"]
    assert field in error["details"]["config"]
    assert client.get("/api/v1/accounts", headers=f.bearer(admin["token"])
                      ).get_json()["data"] == []


def test_an_allowed_address_may_be_configured(client, admin):
    outbound.configure(["127.0.0.1"])
    resp = add(client, admin, "generic_shop",
               {"webhook_secret": f.WHSEC, "base_url": "http://127.0.0.1:9/"})
    assert resp.status_code == 201, resp.get_data(as_text=True)


# -- the setting ---------------------------------------------------------------------------
def test_the_setting_is_read_and_installed_by_the_app(monkeypatch, settings, database):
    monkeypatch.setenv("HUB_OUTBOUND_ALLOW", "127.0.0.1, 10.0.0.0/8,sandbox.local")
    read = Settings.from_env(database_url=settings.database_url, secret_key="x" * 40)
    assert read.outbound_allow == ("127.0.0.1", "10.0.0.0/8", "sandbox.local")
    create_app(read, database)
    assert outbound.allowed() == read.outbound_allow
    assert outbound.url_problem("http://10.9.9.9/") is None
    assert outbound.url_problem("http://192.168.0.1/") is not None


@pytest.mark.parametrize("value", ["not a host!", "10.0.0.0/33", "http://x.com"])
def test_a_bad_allow_list_entry_is_a_config_error(monkeypatch, value):
    monkeypatch.setenv("HUB_OUTBOUND_ALLOW", value)
    with pytest.raises(ConfigError, match="HUB_OUTBOUND_ALLOW"):
        Settings.from_env()
