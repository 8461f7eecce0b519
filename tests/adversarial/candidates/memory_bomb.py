# expect: memory
# limits: cpu_seconds=30
# Allocates until the address-space limit stops it. bytearray() zero-fills, so each block is
# touched: faulting in ~1 GiB costs over a second of (system) CPU here and more on a slower
# CI machine, which raced the suite's 2 s CPU limit. A high CPU limit keeps this case about
# the address-space limit; the 10 s wall clock still ends it if the limit failed.
LEVELS = 1


def encode(video, level):
    hoard = []
    while True:
        hoard.append(bytearray(64 << 20))


def decode(bitstream):
    return None
