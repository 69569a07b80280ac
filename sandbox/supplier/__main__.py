"""``python -m sandbox.supplier --port 8093 --hub-url URL --token T --secret whsec_...``:
run the supplier sandbox until interrupted."""
from __future__ import annotations

import argparse
import json

from werkzeug.serving import make_server

from sandbox.supplier import _QuietHandler, make_app


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.supplier",
                                     description="dropship supplier simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8093)
    parser.add_argument("--hub-url", default="http://127.0.0.1:8080",
                        help="where the hub's supplier API is")
    parser.add_argument("--token", default=None, help="the supplier API token")
    parser.add_argument("--secret", action="append", default=[],
                        help="a whsec_ signing secret (repeat during a rotation)")
    parser.add_argument("--courier-url", default=None,
                        help="the courier sandbox, to register each parcel shipped")
    parser.add_argument("--ship-delay", type=float, default=5.0,
                        help="seconds between accepting and shipping")
    parser.add_argument("--config", default="{}", help="more configuration, as JSON")
    args = parser.parse_args(argv)
    app = make_app(hub_url=args.hub_url, token=args.token, secrets=args.secret,
                   courier_url=args.courier_url, ship_delay_s=args.ship_delay,
                   **json.loads(args.config))
    server = make_server(args.host, args.port, app, threaded=True,
                         request_handler=_QuietHandler)
    print(f"supplier sandbox on http://{args.host}:{server.server_port} (webhooks at "
          f"/webhook, control API under /_sandbox/)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        app.brain.worker.stop()
        server.server_close()


if __name__ == "__main__":
    main()
