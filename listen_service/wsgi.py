"""WSGI entry point for gunicorn: ``gunicorn listen_service.wsgi:app``."""

from listen_service import create_app

app = create_app()
