# expect: size
# limits: max_bitstream_bytes=1048576
# Returns far more bytes than the bitstream cap.
LEVELS = 1


def encode(video, level):
    return bytes(4 << 20)


def decode(bitstream):
    return None
