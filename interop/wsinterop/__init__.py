"""The sockless interop matrix, split by peer and scenario family.

Entry point: `python interop/run_interop.py` (or `python -m wsinterop` from interop/).

* common.py          results, child processes, timeouts, the time budget, peer options
* examples.py        the examples under test: the server table, a running server, echo_client
* scenarios.py       the data scenarios and how an echo is compared
* directions.py      peer-independent drivers: a peer client against a server example, the
                     peer-server script that drives echo_client, the library-server peer client
* raw.py             hand-written HTTP and frames (server and client directions)
* websockets_peer.py Python websockets (sync API), client and server
* wsproto_peer.py    wsproto over a plain socket, client and server
* node_peer.py       Node `ws` through node_client.js / node_server.js
* chromium_peer.py   headless Chromium loading browser_test.html / browser_library.html
* library.py         the #[ignore]d tests of tests/peers.rs (library-client, library-server)
* __main__.py        options, the order of the sections, the summary line
"""
