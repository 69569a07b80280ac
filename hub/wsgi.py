"""The WSGI entry point gunicorn serves: ``gunicorn hub.wsgi:app``."""
from hub import create_app

app = create_app()
