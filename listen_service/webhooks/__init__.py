"""Webhooks: a site registers a URL (``routes``, with its secret key) and is POSTed a
signed ``audio.ready`` or ``audio.failed`` event (``signing``) when an article it sent
with that key ends. The worker that ends a job writes the events to a durable
outbox on the shared data directory (``events``, ``store``), never blocking the
synthesis; a thread in every worker's main process sends them, with retries and
backoff, and logs every attempt where the site and the operators see it
(``deliver``). docs/publishers.md tells a site how to verify them.
"""
