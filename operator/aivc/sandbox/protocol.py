"""What the parent and the child agree on: file names, exit codes, the descriptors."""

STATUS_FD = 3
"""The child's end of the status pipe (JSON lines: confined, ready, start, done | error)."""
CONTROL_FD = 4
"""The child's end of the control socket: it sends its working directory's descriptor
there, then waits for `GO`; it closes it before the candidate is loaded."""
GO = b"go"

CODEC_FILE = "codec.py"
SOURCE_FILE = "source.yuv"
BITSTREAM_FILE = "bitstream.bin"
PLANE_FILES = ("y.npy", "u.npy", "v.npy")


def bitstream_name(level: int) -> str:
    """The file an encoder writes for one level."""
    return f"bitstream-{level}.bin"


EXIT_HARNESS = 84
"""The harness failed before the candidate was loaded: a sandbox error, not the codec's."""
EXIT_REPORTED = 85
"""The child reported the candidate's failure on the status pipe."""
EXIT_FORBIDDEN = 86
"""The audit hook stopped a forbidden operation."""

SANDBOX_UID = SANDBOX_GID = 65534
"""`nobody`: who the child becomes (as root), or appears as in its user namespace."""
