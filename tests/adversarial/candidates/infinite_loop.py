# expect: timeout
# The encoder never returns.
LEVELS = 1


def encode(video, level):
    while True:
        pass


def decode(bitstream):
    return None
