# expect: timeout
# limits: wall_seconds=2
# Sleeps instead of spinning: no CPU limit ever fires, only the wall clock.
import time

LEVELS = 1


def encode(video, level):
    time.sleep(3600)
    return b"x"


def decode(bitstream):
    return None
