#!/usr/bin/python3
"""
run.py - the interoperability round's runner: tests/run.py's integration
runner pointed at tests/interop/ (the harness package stays in
tests/integration/). Same arguments, same output ("PASS name", one final
"N passed, N failed" line).

    MQTTGW_BUILD=build /usr/bin/python3 tests/interop/run.py [-v] [NAME...]
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, TESTS)
sys.path.insert(0, os.path.join(TESTS, "integration"))

import run as runner    # noqa: E402  tests/run.py

runner.INTEGRATION = HERE
if "--integration" not in sys.argv:
    sys.argv.insert(1, "--integration")
sys.exit(runner.main())
