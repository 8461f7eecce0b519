# expect: size
# limits: max_written_bytes=67108864
# Fills the disk with many files, each under the per-file limit: 64 files of 8 MiB. The
# working directory is a tmpfs of max_written_bytes, so the kernel stops it (ENOSPC).
LEVELS = 1


def encode(video, level):
    block = bytes(8 << 20)
    for i in range(64):
        with open(f"fill-{i}.bin", "wb") as f:
            f.write(block)
    return b"x"


def decode(bitstream):
    return None
