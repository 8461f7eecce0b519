# expect: forbidden
# A bounded fork bomb (at most 200 forks, each child exits at once): the audit hook stops
# the first os.fork; seccomp and RLIMIT_NPROC stand behind it.
import os

LEVELS = 1


def encode(video, level):
    for _ in range(200):
        pid = os.fork()
        if pid == 0:
            os._exit(0)
    return b"x"


def decode(bitstream):
    return None
