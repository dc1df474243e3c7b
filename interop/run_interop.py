#!/usr/bin/env python3
"""Interop matrix for sockless's examples (`echo_server` and the other server examples of
--servers, `echo_client`) and for the library itself through the #[ignore]d tests of
tests/peers.rs. The code is the package wsinterop/ beside this file (one module per peer and
scenario family); this is its entry point, as used by run.sh. See interop/README.md.

Needs: Python 3.9+ with `websockets>=14` and `wsproto` (interop/requirements.txt), Node.js with
`ws@8` installed in interop/node_modules (for node-ws), /usr/bin/chromium (for chromium;
skipped when absent unless --browser on), and cargo (for the library directions).
"""

import sys

from wsinterop.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
