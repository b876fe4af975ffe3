"""`python -m tests.helpers.process_probe [sleep]`: prints what a `python -m` process sees of itself, so that
tests/test_forked_runs.py can compare a forked run with a new interpreter's. Exits 3 (or sleeps, for timeouts)."""

from __future__ import annotations

import atexit
import json
import os
import sys
import time

if __name__ == "__main__":
    atexit.register(lambda: print("atexit ran", file=sys.stderr, flush=True))
    if sys.argv[1:] == ["sleep"]:
        time.sleep(60)
    main = sys.modules["__main__"]
    print(json.dumps({"cwd": os.getcwd(), "argv": sys.argv, "path0": sys.path[0], "name": __name__,
                      "spec": main.__spec__.name if main.__spec__ else None, "probe": os.environ.get("PROBE"),
                      "threads": os.environ.get("OMP_NUM_THREADS")}))
    print("to stderr", file=sys.stderr)
    sys.exit(3)
