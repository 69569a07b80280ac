"""Run the simulated Kuaishou platform from a shell.

    python -m sandbox.kuaishou --port 8091
    python -m sandbox.kuaishou --port 8091 --demo --push-url http://127.0.0.1:8080/webhooks/kuaishou
    python -m sandbox.kuaishou --config '{"pushTimeFactor": 0.01, "defaultQps": [5, 5]}'

``--demo`` creates one app and one shop, authorizes the shop and prints the credentials
and tokens as JSON, so a hub can be linked at once. Stop with Ctrl-C.
"""
from __future__ import annotations

import argparse
import json
import sys

import requests

from . import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.kuaishou", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--config", default="{}", help="JSON object of config overrides (camelCase)")
    parser.add_argument("--time-factor", type=float, help="push retry time factor (1 = real minutes)")
    parser.add_argument("--demo", action="store_true", help="create a demo app, shop and authorization")
    parser.add_argument("--app-key", default="ks_demo_app")
    parser.add_argument("--app-secret", default="demo-app-secret")
    parser.add_argument("--sign-secret", default="demo-sign-secret")
    parser.add_argument("--message-key", default="AAECAwQFBgcICQoLDA0ODw==")
    parser.add_argument("--push-url", default=None)
    parser.add_argument("--id-offset", type=int, default=0,
                        help="start order, refund and logistics ids this much higher (a restarted "
                             "platform then never reuses an id a hub has already seen)")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)

    config = json.loads(args.config)
    if args.time_factor is not None:
        config["pushTimeFactor"] = args.time_factor
    server, base_url = serve(port=args.port, host=args.host, config=config, quiet=not args.verbose)
    if args.id_offset:
        server.state.offset_ids(args.id_offset)
    print(f"Kuaishou sandbox listening on {base_url} (control API: {base_url}/_sandbox)", flush=True)
    if args.demo:
        app = requests.post(f"{base_url}/_sandbox/apps", json={
            "appKey": args.app_key, "appSecret": args.app_secret, "signSecret": args.sign_secret,
            "messageKey": args.message_key, "pushUrl": args.push_url}, timeout=10).json()
        shop = requests.post(f"{base_url}/_sandbox/shops", json={}, timeout=10).json()
        tokens = requests.post(f"{base_url}/_sandbox/shops/{shop['sellerId']}/authorize",
                               json={"appKey": args.app_key}, timeout=10).json()
        print(json.dumps({"baseUrl": base_url, "app": app, "shop": shop, "tokens": tokens},
                         ensure_ascii=False, indent=2), flush=True)
    try:
        server.thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()  # also stops a running scenario
    return 0


if __name__ == "__main__":
    sys.exit(main())
