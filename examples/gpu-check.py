"""A codec that only works where CUDA does: run it through the sandbox's GPU profile to
check a GPU node (docs/sandbox.md, "Checking the GPU profile on a GPU machine").

Encoding and decoding go through the GPU (a round trip of the planes via device memory);
anything the sandbox blocks that CUDA needs ends as an error naming it.
"""
import struct

import numpy as np
import torch

LEVELS = 1


def _through_gpu(plane):
    if not torch.cuda.is_available():
        raise RuntimeError("CUDA is not available in the sandbox")
    on_gpu = torch.from_numpy(np.ascontiguousarray(plane)).to("cuda")
    return (on_gpu.to(torch.int16) + 0).to(torch.uint8).cpu().numpy()


def encode(video, level):
    y, u, v = (_through_gpu(p) for p in (video.y, video.u, video.v))
    return struct.pack("<IIId", *y.shape, video.fps) + y.tobytes() + u.tobytes() + v.tobytes()


def decode(bitstream):
    t, h, w, fps = struct.unpack_from("<IIId", bitstream)
    raw = np.frombuffer(bitstream, np.uint8, offset=struct.calcsize("<IIId"))
    n, c = t * h * w, t * (h // 2) * (w // 2)
    y = raw[:n].reshape(t, h, w)
    u = raw[n:n + c].reshape(t, h // 2, w // 2)
    v = raw[n + c:].reshape(t, h // 2, w // 2)
    return _through_gpu(y), _through_gpu(u), _through_gpu(v), fps
