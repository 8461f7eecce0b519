# expect: forbidden
# unhook
# With the hook gone, changes the mode and timestamps of a file outside its working
# directory (as a normal user, Landlock alone had let this through for the user's own
# files). seccomp kills every metadata change; the test checks the file is untouched.
import os

import numpy as np

LEVELS = 1


def encode(video, level):
    target = np.__file__
    os.utime(target, (0, 0))
    os.chmod(target, 0o777)
    return b"x"


def decode(bitstream):
    return None
