"""What the parent and the child agree on: file names, exit codes, the status descriptor."""

STATUS_FD = 3
"""The child's end of the status pipe (JSON lines: ready, start, done | error | harness)."""

CODEC_FILE = "codec.py"
SOURCE_FILE = "source.yuv"
BITSTREAM_FILE = "bitstream.bin"
PLANE_FILES = ("y.npy", "u.npy", "v.npy")

EXIT_HARNESS = 84
"""The harness failed before the candidate was loaded: a sandbox error, not the codec's."""
EXIT_REPORTED = 85
"""The child reported the candidate's failure on the status pipe."""
EXIT_FORBIDDEN = 86
"""The audit hook stopped a forbidden operation."""

SANDBOX_UID = SANDBOX_GID = 65534
"""`nobody`: who the child becomes when it starts as root."""
