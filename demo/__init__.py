"""The demo and the sandbox world, beside the hub (the hub imports nothing of it): ``hub
demo`` (``command``, ``env``, ``report``), ``hub seed-demo`` (``data``) and what ``hub run
--sandbox`` starts (``sandbox_run``), plugged in through the ``hub.commands`` and
``hub.sandbox`` entry points."""
