"""Appended to ``tests/protocols/conftest.py`` of an unpacked uvicorn sdist.

It runs uvicorn's own WebSocket test module with
:class:`wsproto_lite.integrations.uvicorn.WebSocketProtocol`, the test bodies
untouched (see ``test_uvicorn_suite.py``):

* ``ws_protocol_cls`` is redefined here, closer to the tests than uvicorn's
  definition in ``tests/conftest.py``, with our class as its parameter (id
  ``wsproto_lite``): every test that takes the fixture runs with it, under
  each of uvicorn's HTTP protocols.
* The one accommodation: two keepalive tests assert
  ``isinstance(protocol, (_WSProtocol, WebSocketsSansIOProtocol))`` (uvicorn's
  two classes), which no other class can pass. For those two tests, and our
  parameter only, the module's ``_WSProtocol`` name is widened to a tuple
  that also holds our class (``isinstance`` accepts nested tuples).
"""

import pytest

from wsproto_lite.integrations.uvicorn import WebSocketProtocol as _WsprotoLiteProtocol

_WIDENED_TESTS = {"test_server_keepalive_ping_pong", "test_server_keepalive_disabled"}


@pytest.fixture(params=[pytest.param(_WsprotoLiteProtocol, id="wsproto_lite")])
def ws_protocol_cls(request):  # replaces uvicorn's fixture of the same name
    return request.param


@pytest.fixture(autouse=True)
def _wsproto_lite_widen_isinstance(request, monkeypatch):
    if request.node.originalname not in _WIDENED_TESTS:
        return
    if request.getfixturevalue("ws_protocol_cls") is not _WsprotoLiteProtocol:
        return
    module = request.module
    monkeypatch.setattr(module, "_WSProtocol", (module._WSProtocol, _WsprotoLiteProtocol))
