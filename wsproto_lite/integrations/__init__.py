"""The sans-I/O core inside other servers.

Each integration is a module of its own, imported by name, so that importing
:mod:`wsproto_lite` never imports the server it plugs into:

* :mod:`wsproto_lite.integrations.uvicorn`: a WebSocket protocol class for
  uvicorn (``pip install 'wsproto-lite[uvicorn]'``).
"""
