# expect: timeout
# Ignores SIGXCPU through the signal module that an allowed library (scipy) loaded before the
# hook, and keeps spinning: the hard CPU limit then kills it with SIGKILL.
import sys

import scipy  # allowed; it loads subprocess and signal

LEVELS = 1


def encode(video, level):
    sig = sys.modules["signal"]
    sig.signal(sig.SIGXCPU, sig.SIG_IGN)
    while True:
        pass


def decode(bitstream):
    return None
