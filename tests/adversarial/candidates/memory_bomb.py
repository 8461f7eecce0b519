# expect: memory
# Allocates until the address-space limit stops it.
LEVELS = 1


def encode(video, level):
    hoard = []
    while True:
        hoard.append(bytearray(64 << 20))


def decode(bitstream):
    return None
