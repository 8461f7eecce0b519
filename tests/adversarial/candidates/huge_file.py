# expect: size
# limits: max_file_bytes=8388608
# Writes a scratch file in its working directory until RLIMIT_FSIZE stops it.
LEVELS = 1


def encode(video, level):
    block = bytes(1 << 20)
    with open("scratch.bin", "wb") as f:
        for _ in range(64):
            f.write(block)
    return b"x"


def decode(bitstream):
    return None
