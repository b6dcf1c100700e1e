"""The worker's target: ``celery -A workers.celery_app worker``."""

import faulthandler

from listen_service import create_app
from workers.sweeper import install

# A crash in native code (espeak-ng, a C extension) prints every thread's
# Python stack to the worker's log before the process dies; the pool
# processes inherit the handler.
faulthandler.enable()

flask_app = create_app()
celery_app = flask_app.extensions["celery"]
install(flask_app)
