"""`accelerate launch tests/dp_kill.py eval …`: `imax` with process 1 killed (SIGKILL) in its second generation
chunk, as an OOM killer or a lost node would end it. Used by tests/test_eval.py."""

import os
import sys

from imax_hub.backends.transformers_vlm import ImaxVLMModel
from imax_hub.cli import main

real = ImaxVLMModel._generate
calls = []


def generate(self, docs):
    calls.append(len(docs))
    if os.environ.get("RANK") == "1" and len(calls) == 2:
        os.kill(os.getpid(), 9)
    return real(self, docs)


ImaxVLMModel._generate = generate
main(sys.argv[1:])
