"""An Autobahn|Testsuite-style conformance suite (RFC 6455, RFC 7692).

One module per section of the Autobahn suite. The cases are written from the
suite's published case descriptions and the RFCs; the harness is in
``_harness.py``.
"""
