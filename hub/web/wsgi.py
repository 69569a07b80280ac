"""The WSGI entry point gunicorn serves: ``gunicorn hub.web.wsgi:app``."""
from hub.web.app import create_app

app = create_app()
