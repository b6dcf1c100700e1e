"""Turning a web page into an article to read: ``extract`` (HTML → title, byline,
language, blocks) and ``fetch`` (URL → HTML, behind an SSRF guard).

Neither knows Flask; ``listen_service.pages`` calls them for the ``html`` and
``url`` fields of ``POST /api/v1/listen``, and ``listen-service extract`` for
the command line.
"""
