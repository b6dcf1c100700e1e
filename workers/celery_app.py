"""The worker's target: ``celery -A workers.celery_app worker``."""

from listen_service import create_app
from workers.sweeper import install

flask_app = create_app()
celery_app = flask_app.extensions["celery"]
install(flask_app)
