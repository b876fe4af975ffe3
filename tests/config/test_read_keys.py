"""The recorder behind "no key that nothing reads" (tests/helpers/read_keys.py) counts what it should.

It runs in its own process: it patches OmegaConf and Hydra for the rest of the process, as the recorded
end-to-end runs do (tests/evaluation/recorded_run.py).
"""

from __future__ import annotations

import subprocess
import sys

from tests.helpers.runs import REPO

PROBE = '''
import json
from tests.helpers.read_keys import record_reads, unread
reads = record_reads()
from hydra.utils import instantiate
from omegaconf import OmegaConf

cfg = OmegaConf.create({
    "a": {"read": 1, "unread": 2, "nested": {"deep": 3}},
    "whole": {"x": 1, "y": [1, 2], "template": "${wording}"},  # read whole, and a node interpolated whole
    "built": {"_target_": "builtins.dict", "k": 1},
    "via": "${target}", "target": 5, "orphan": 6, "unset": None,
    "wording": {"line": "x", "header": "y"},
})


def validate_config(c):  # bookkeeping: its reads do not count
    return [c.orphan, c.a.unread]


validate_config(cfg)
_ = cfg.a.read, cfg.get("via"), cfg.a.nested  # a node handed over is not its leaves
OmegaConf.to_container(cfg.whole)
instantiate(cfg.built)
print(json.dumps(unread(cfg, reads)))
'''


def test_reads_subtrees_instantiation_and_interpolation_count_bookkeeping_and_nodes_do_not():
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == '["a.nested.deep", "a.unread", "orphan"]'
