"""The WSGI app the ``ingest`` benchmark serves: the real hub (``create_app()``, exactly
what ``hub.web.wsgi`` serves) plus one bench-only route, ``POST /_bench/noop``, the ceiling:
it reads the body and answers the same small acknowledgement the webhook receiver gives,
and does nothing else. Same server, same workers, same Flask dispatch and hooks, so the
difference between the two is what the hub does (verify, store durably).
"""
from flask import Response, request

from hub.web.app import create_app

ACK = b'{"ok":true}'

app = create_app()


@app.post("/_bench/noop")
def bench_noop():
    request.get_data()
    return Response(ACK, status=200, content_type="application/json")
