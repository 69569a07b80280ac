"""``python -m sandbox.courier --port 8765``: run the courier sandbox until interrupted."""
from __future__ import annotations

import argparse
from datetime import datetime

from werkzeug.serving import make_server

from sandbox.courier import _QuietHandler, make_app


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandbox.courier",
                                     description="Kuaidi100-style courier simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--retry-interval", type=float, default=5.0,
                        help="seconds between push retries (Kuaidi100: 2100)")
    parser.add_argument("--start", default=None,
                        help="virtual start time, ISO 8601 (default: now, China time)")
    parser.add_argument("--time-scale", type=float, default=None,
                        help="follow the wall clock, journeys this many times faster "
                             "(720: a day in two minutes); default: time moves only when "
                             "the control API says")
    args = parser.parse_args(argv)
    start = datetime.fromisoformat(args.start) if args.start else None
    app = make_app(retry_interval_s=args.retry_interval, start=start)
    if args.time_scale:
        app.sandbox.live(args.time_scale)
    server = make_server(args.host, args.port, app, threaded=True,
                         request_handler=_QuietHandler)
    print(f"courier sandbox on http://{args.host}:{server.server_port} "
          f"(control API under /_sandbox/)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        app.sandbox.close()
        server.server_close()


if __name__ == "__main__":
    main()
