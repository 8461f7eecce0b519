"""Intra DCT: every frame coded on its own with an 8x8 DCT (v0 of every campaign).

Each plane is cut into 8x8 blocks, transformed with an orthonormal DCT-II, quantised with
a uniform deadzone quantiser whose step grows with the level, and scanned in zig-zag order.
Each block's DC is predicted from its decoded neighbours (left + above - above-left). One
range coder (constriction) codes, per block, the position after its last non-zero
coefficient, then the magnitudes position by position, with adaptive context models chosen
by frequency band and by the magnitudes of the already coded left and upper neighbours in
the block; then escapes and signs. No motion: the obvious next step is temporal prediction.

The bitstream is a fixed header (shape, frame count, fps, level) and the range coder's
words; the decoder needs nothing else.
"""

import math
import struct

import constriction
import numpy as np

LEVELS = 4
BLOCK = 8                      # transform size
QSTEP = 6.5                    # luma quantiser step of level 0 (the highest quality)
QSTEP_RATIO = 1.9              # each level multiplies the step by this
DEADZONE = 0.3                 # rounding offset: q = floor(|c| / step + DEADZONE)
CHROMA_QP_OFFSET = 2           # chroma step = luma step * 2 ** (offset / 6)

HEADER = struct.Struct("<4sBIHHd")   # magic, level, frames, height, width, fps
MAGIC = b"AIV0"
ESCAPE = 15                          # magnitude symbols 0..14 are literal, 15 = escape
MIN_CHUNK = 256                      # models update after chunks at least this long
MAX_COUNT = 1 << 16                  # a context's counts are halved past this total
CATEGORICAL = constriction.stream.model.Categorical(perfect=False)
UNIFORM = constriction.stream.model.Uniform()
BIT = constriction.stream.model.Uniform(2)


# ---------------------------------------------------------------- transform and quantiser

def dct_matrix(n):
    """Orthonormal DCT-II basis, one frequency per row."""
    k = np.arange(n)[:, None]
    m = np.cos(np.pi * (2 * np.arange(n)[None, :] + 1) * k / (2 * n)) * math.sqrt(2 / n)
    m[0] /= math.sqrt(2)
    return m


def zigzag(n):
    """Raster index of each zig-zag position (anti-diagonals, alternating direction)."""
    cells = [(i + j, j if (i + j) % 2 else i, i * n + j) for i in range(n) for j in range(n)]
    return np.array([raster for _, _, raster in sorted(cells)])


NC = BLOCK * BLOCK
ZIGZAG = zigzag(BLOCK)
# 2-D DCT of a flattened block, rows in zig-zag order: coef = pixels @ DCT.T, pixels = coef @ DCT
DCT = np.kron(dct_matrix(BLOCK), dct_matrix(BLOCK))[ZIGZAG].astype(np.float32)


def matmul(x, m):
    """x @ m in row chunks small enough for BLAS to stay on one thread: at these sizes
    extra threads only add overhead, and the codec may run with several."""
    out = np.empty((len(x), m.shape[1]), np.float32)
    rows = max(1, (1 << 18) // (m.shape[0] * m.shape[1]))
    for i in range(0, len(x), rows):
        np.matmul(x[i:i + rows], m, out=out[i:i + rows])
    return out


def padded(n):
    return -(-n // BLOCK) * BLOCK


def quantize(planes, step):
    """Edge-pad (T, h, w) to whole blocks; quantised coefficients, one row per block."""
    t, h, w = planes.shape
    x = np.pad(planes, ((0, 0), (0, padded(h) - h), (0, padded(w) - w)), mode="edge")
    blocks = x.reshape(t, padded(h) // BLOCK, BLOCK, padded(w) // BLOCK, BLOCK)
    blocks = blocks.transpose(0, 1, 3, 2, 4).reshape(-1, NC).astype(np.float32) - 128
    coef = matmul(blocks, DCT.T)
    return (np.sign(coef) * np.floor(np.abs(coef) / step + DEADZONE)).astype(np.int32)


def dequantize(q, shape, step):
    t, h, w = shape
    gy, gx = padded(h) // BLOCK, padded(w) // BLOCK
    pixels = matmul((q * np.float32(step)).astype(np.float32), DCT) + 128
    x = pixels.reshape(t, gy, gx, BLOCK, BLOCK).transpose(0, 1, 3, 2, 4)
    x = x.reshape(t, gy * BLOCK, gx * BLOCK)[:, :h, :w]
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def level_steps(level):
    luma = QSTEP * QSTEP_RATIO ** level
    return luma, luma * 2 ** (CHROMA_QP_OFFSET / 6)


# ---------------------------------------------------------------- DC prediction

def dc_residual(q, shape):
    """Each block's DC minus (left + above - above-left), zero outside the frame."""
    t, h, w = shape
    dc = q[:, 0].reshape(t, padded(h) // BLOCK, padded(w) // BLOCK)
    out = q.copy()
    out[:, 0] = np.diff(np.diff(dc, axis=1, prepend=0), axis=2, prepend=0).ravel()
    return out


def dc_restore(q, shape):
    """Inverse of dc_residual: running sums undo the differences exactly."""
    t, h, w = shape
    dc = q[:, 0].reshape(t, padded(h) // BLOCK, padded(w) // BLOCK)
    out = q.copy()
    out[:, 0] = np.cumsum(np.cumsum(dc, axis=1), axis=2).ravel()
    return out


# ---------------------------------------------------------------- entropy coding

class Channel:
    """The range coder in either direction, so the bitstream syntax is written only once.

    Encoding: pass the symbols; they are coded and handed back. Decoding: pass None; the
    decoded symbols come back. Both sides therefore update identical models in order.
    """

    def __init__(self, words=None):
        self.decoding = words is not None
        queue = constriction.stream.queue
        self.coder = queue.RangeDecoder(words) if self.decoding else queue.RangeEncoder()

    def categorical(self, symbols, probs):
        """One symbol per row of probs (rows need not sum to one)."""
        if len(probs) == 0:
            return np.zeros(0, np.int32)
        if self.decoding:
            return self.coder.decode(CATEGORICAL, probs)
        self.coder.encode(symbols.astype(np.int32), CATEGORICAL, probs)
        return symbols

    def uniform(self, values, sizes):
        """values[i] uniform in [0, sizes[i]), every size at least 2."""
        if len(sizes) == 0:
            return np.zeros(0, np.int32)
        if self.decoding:
            return self.coder.decode(UNIFORM, sizes.astype(np.int32))
        self.coder.encode(values.astype(np.int32), UNIFORM, sizes.astype(np.int32))
        return values

    def bits(self, bits, n):
        if n == 0:
            return np.zeros(0, np.int32)
        if self.decoding:
            return self.coder.decode(BIT, n)
        self.coder.encode(bits.astype(np.int32), BIT)
        return bits


class Model:
    """Adaptive symbol counts per context: probabilities follow the counts as coding goes."""

    def __init__(self, contexts, prior):
        self.counts = np.tile(np.asarray(prior, np.float64), (contexts, 1))
        self.seen = np.zeros(contexts)

    def code(self, ch, symbols, ctx):
        out = np.empty(len(ctx), np.int32)
        start = 0
        while start < len(ctx):    # short chunks while a context is young, longer later
            typical = np.median(self.seen[ctx[start:start + MIN_CHUNK]])
            stop = min(len(ctx), start + max(MIN_CHUNK, int(typical) // 2))
            given = None if symbols is None else symbols[start:stop]
            got = ch.categorical(given, self.counts[ctx[start:stop]].astype(np.float32))
            out[start:stop] = got
            self.learn(ctx[start:stop], got)
            start = stop
        return out

    def learn(self, ctx, symbols):
        size = self.counts.shape[1]
        hist = np.bincount(ctx * size + symbols, minlength=self.counts.size)
        hist = hist.reshape(self.counts.shape)
        self.counts += hist
        self.seen += hist.sum(axis=1)
        self.counts[self.counts.sum(axis=1) > MAX_COUNT] *= 0.5


BAND = (2 * np.log2(np.arange(NC) + 1)).astype(int)     # zig-zag position -> frequency band
NBANDS = int(BAND[-1]) + 1


def neighbours():
    """Zig-zag position of the left and upper neighbour of each position (NC = none)."""
    where = np.empty(NC, int)
    where[ZIGZAG] = np.arange(NC)
    i, j = np.divmod(ZIGZAG, BLOCK)
    left = np.where(j > 0, where[np.maximum(ZIGZAG - 1, 0)], NC)
    up = np.where(i > 0, where[np.maximum(ZIGZAG - BLOCK, 0)], NC)
    return left, up


LEFT, UP = neighbours()


def make_models():
    """Luma and chroma keep separate models (group 0 and 1 in every context)."""
    last_prior = np.full(NC + 1, 0.05)
    last_prior[0] = 2.0
    return {
        "last": Model(2, last_prior),
        "coef": Model(2 * NBANDS * 2 * 5, 2.0 / (1 + np.arange(ESCAPE + 1)) ** 2),
        "escape": Model(2, 0.5 ** np.arange(24)),
    }


def last_positions(q):
    """1 + zig-zag index of each block's last non-zero coefficient, 0 for an empty block."""
    nz = q != 0
    return np.where(nz.any(axis=1), NC - np.argmax(nz[:, ::-1], axis=1), 0)


def code_blocks(ch, models, q, n, group):
    """Quantised blocks: last positions, then magnitudes position by position, escapes, signs.

    Position k is coded for every block at once, so its context can use the positions
    coded before it in the same block (zig-zag order visits left and upper neighbours first).
    """
    groups = np.full(n, group)
    last = models["last"].code(ch, None if q is None else last_positions(q), groups)
    mag = np.zeros((n, NC + 1), np.int32)            # column NC: the missing neighbour
    escaped = np.zeros((n, NC), bool)
    for k in range(NC):
        rows = np.flatnonzero(last > k)
        if rows.size == 0:
            break
        final = (last[rows] == k + 1).astype(np.int32)      # known non-zero: code |q| - 1
        near = np.minimum(mag[rows, LEFT[k]], 2) + np.minimum(mag[rows, UP[k]], 2)
        ctx = ((group * NBANDS + BAND[k]) * 2 + final) * 5 + near
        sym = None if q is None else np.minimum(np.abs(q[rows, k]) - final, ESCAPE)
        sym = models["coef"].code(ch, sym, ctx)
        mag[rows, k] = sym + final
        escaped[rows, k] = sym == ESCAPE
    mag = mag[:, :NC]
    rest = None if q is None else np.abs(q[escaped]) - mag[escaped]
    mag[escaped] += code_escapes(ch, models["escape"], rest, np.full(escaped.sum(), group))
    nonzero = mag > 0
    signs = ch.bits(None if q is None else (q[nonzero] < 0), int(nonzero.sum()))
    mag[nonzero] *= 1 - 2 * signs
    return mag


def code_escapes(ch, model, rest, ctx):
    """Exp-Golomb: the bit length of rest + 1 through the model, then its low bits."""
    e = model.code(ch, None if rest is None else np.frexp(rest + 1)[1] - 1, ctx)
    sized = e > 0
    low = None if rest is None else (rest + 1 - (1 << e))[sized]
    out = (1 << e) - 1
    out[sized] += ch.uniform(low, 1 << e[sized])
    return out


# ---------------------------------------------------------------- bitstream

def block_count(shape):
    t, h, w = shape
    return t * (padded(h) // BLOCK) * (padded(w) // BLOCK)


def encode(video, level):
    y, u, v, fps = video
    steps = level_steps(level)
    ch, models = Channel(), make_models()
    for c, plane in enumerate((y, u, v)):
        q = dc_residual(quantize(plane, steps[c > 0]), plane.shape)
        code_blocks(ch, models, q, len(q), min(c, 1))
    head = HEADER.pack(MAGIC, level, y.shape[0], y.shape[1], y.shape[2], float(fps))
    return head + ch.coder.get_compressed().astype("<u4").tobytes()


def decode(bitstream):
    magic, level, frames, height, width, fps = HEADER.unpack_from(bitstream)
    if magic != MAGIC:
        raise ValueError("not an intra-dct bitstream")
    steps = level_steps(level)
    words = np.frombuffer(bitstream, "<u4", offset=HEADER.size).astype(np.uint32)
    ch, models = Channel(words), make_models()
    planes = []
    for c in range(3):
        shape = (frames, height // (1 + (c > 0)), width // (1 + (c > 0)))
        q = code_blocks(ch, models, None, block_count(shape), min(c, 1))
        planes.append(dequantize(dc_restore(q, shape), shape, steps[c > 0]))
    return planes[0], planes[1], planes[2], fps
