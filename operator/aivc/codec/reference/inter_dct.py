"""Inter DCT: a block-transform video codec with motion compensation (the search template).

Intra frames code the DCT of the pixels; predicted frames code the DCT of what is left after
block motion compensation from the previous *decoded* frame, so the encoder tracks the
decoder exactly and decoding cannot drift. Every symbol (motion vectors, block lengths,
coefficient magnitudes, signs) goes through one range coder (constriction) whose context
models either learn while coding or are sent up front.

Motion is searched between *source* frames (a coarse-to-fine pyramid, half-pel refinement,
then smoothing towards the median-predicted vector), which finds the true motion; the
vectors are sent, so the decoder never needs the source. Vectors are coded as differences
from the median of their left, above and above-right neighbours.

The bitstream is a fixed header (shape, frame count, fps, level) and the range coder's words;
the decoder needs nothing else. All design choices sit between the PARAMETERS markers, each
line declaring itself (`NAME = value  # KIND: DOMAIN; meaning[; operating point][; when
CONDITION]`, the format `aivc.codec.space` documents and reads).
"""

import math
import struct

import constriction
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# --- PARAMETERS (rewritten by the search planner) ---
BLOCK = 8                        # choice: 4|8|16; transform block size in pixels
QSTEP = 6.5                      # float: 2..16; luma quantiser step of level 0 (the highest quality); operating point
QSTEP_RATIO = 1.9                # float: 1.4..2.6; factor between the steps of consecutive levels; operating point
DEADZONE = 0.3                   # float: 0.05..0.5; rounding offset: q = floor(|c| / step + DEADZONE)
CHROMA_QP_OFFSET = 2             # int: -3..9; chroma step = luma step * 2 ** (offset / 6)
INTER = True                     # bool; motion-compensated prediction from the previous frame
INTER_QSCALE = 1.4               # float: 0.8..2; step of predicted frames relative to intra frames; when INTER
INTRA_PRED = "planar"            # choice: none|left|planar; DC prediction between intra blocks
MOTION_BLOCK = 16                # choice: 8|16; motion block size in luma pixels; when INTER
SEARCH = "hier"                  # choice: hier|diamond; integer motion search: coarse-to-fine or descent; when INTER
SEARCH_RANGE = 24                # int: 4..32; largest motion searched, luma pixels; when INTER
HALF_PEL = True                  # bool; half-pel bilinear motion refinement; when INTER
MV_LAMBDA = 1.0                  # float: 0.1..4; weight of vector bits against SAD in the motion search; when INTER
GOP = 0                          # int: 0..60; intra period in frames (0 = only the first frame); when INTER
DEBLOCK = 2                      # int: 0..4; in-loop deblocking strength (0 = off)
ENTROPY_CONTEXT = "band-neighbor"  # choice: single|band|band-last|band-neighbor; coefficient contexts: one model, per band, band x block length, band x neighbours
ENTROPY_ADAPT = "adaptive"       # choice: adaptive|static; models learn while coding, or their counts are sent up front
# --- END PARAMETERS ---

LEVELS = 4

HEADER = struct.Struct("<4sBIHHd")   # magic, level, frames, height, width, fps
MAGIC = b"AIV1"
ESCAPE = 15                          # magnitude symbols 0..14 are literal, 15 = escape
SMOOTHING = 4                        # rounds of vector smoothing after the search
MIN_CHUNK = 256                      # adaptive models update after chunks at least this long
MAX_COUNT = 1 << 16                  # a context's counts are halved past this total
MV_UNIT = 2 if HALF_PEL else 1       # motion vector units per luma pixel
MARGIN = 2 * ((SEARCH_RANGE + MOTION_BLOCK) // 2 + 4)   # reference padding, even
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


def to_blocks(plane, b):
    """(H, W) -> (H/b * W/b, b*b), blocks in raster order."""
    h, w = plane.shape
    return plane.reshape(h // b, b, w // b, b).transpose(0, 2, 1, 3).reshape(-1, b * b)


def from_blocks(blocks, h, w, b):
    return blocks.reshape(h // b, w // b, b, b).transpose(0, 2, 1, 3).reshape(h, w)


def level_steps(level, inter):
    """Quantiser steps (luma, chroma) of one frame type at one level."""
    luma = QSTEP * QSTEP_RATIO ** level * (INTER_QSCALE if inter else 1.0)
    return luma, luma * 2 ** (CHROMA_QP_OFFSET / 6)


def quantize(plane, pred, step):
    """Zig-zag ordered quantised DCT coefficients of plane - pred, one row per block."""
    coef = matmul(to_blocks(plane - pred, BLOCK).astype(np.float32), DCT.T)
    return (np.sign(coef) * np.floor(np.abs(coef) / step + DEADZONE)).astype(np.int32)


def dequantize(q, pred, step):
    """What the decoder sees: pred + inverse DCT of the dequantised coefficients."""
    res = from_blocks(matmul((q * np.float32(step)).astype(np.float32), DCT), *pred.shape, BLOCK)
    return np.clip(np.rint(pred + res), 0, 255).astype(np.int16)


# ---------------------------------------------------------------- intra DC prediction

def dc_residual(q, grid):
    """Replace each intra block's DC by its difference from already decoded neighbours."""
    dc = q[:, 0].reshape(grid)
    if INTRA_PRED == "left":          # from the left block; the first column from above
        first = np.diff(dc[:, 0], prepend=0)
        dc = np.diff(dc, axis=1, prepend=0)
        dc[:, 0] = first
    elif INTRA_PRED == "planar":      # left + above - above-left
        dc = np.diff(np.diff(dc, axis=0, prepend=0), axis=1, prepend=0)
    out = q.copy()
    out[:, 0] = dc.ravel()
    return out


def dc_restore(q, grid):
    """Inverse of dc_residual: running sums undo the differences exactly."""
    dc = q[:, 0].reshape(grid).copy()
    if INTRA_PRED == "left":
        dc[:, 0] = np.cumsum(dc[:, 0])
        dc = np.cumsum(dc, axis=1)
    elif INTRA_PRED == "planar":
        dc = np.cumsum(np.cumsum(dc, axis=0), axis=1)
    out = q.copy()
    out[:, 0] = dc.ravel()
    return out


# ---------------------------------------------------------------- loop filter

def deblock(plane, step):
    """In-loop smoothing across transform block edges where the step hides a real edge."""
    if DEBLOCK == 0:
        return plane
    alpha = int(DEBLOCK * step * 0.75) + 1      # larger jumps are real edges: keep them
    beta = int(DEBLOCK * step * 0.2) + 1        # flatness needed on either side
    tc = int(DEBLOCK * step * 0.1) + 1          # most a pixel may move
    x = plane.astype(np.int32)
    x = _filter_vertical_edges(x, alpha, beta, tc)
    x = _filter_vertical_edges(x.T.copy(), alpha, beta, tc).T
    return x.astype(np.int16)


def _filter_vertical_edges(x, alpha, beta, tc):
    e = np.arange(BLOCK, x.shape[1], BLOCK)
    p1, p0, q0, q1 = x[:, e - 2], x[:, e - 1], x[:, e], x[:, e + 1]
    delta = np.clip((4 * (q0 - p0) + (p1 - q1) + 4) >> 3, -tc, tc)
    on = (np.abs(q0 - p0) < alpha) & (np.abs(p1 - p0) < beta) & (np.abs(q1 - q0) < beta)
    delta *= on
    x[:, e - 1] = np.clip(p0 + delta, 0, 255)
    x[:, e] = np.clip(q0 - delta, 0, 255)
    return x


# ---------------------------------------------------------------- motion

def phases(planes, margin):
    """Edge-padded planes (..., H, W) at the half-pel phases (0,0), (0,.5), (.5,0), (.5,.5)."""
    pad = [(0, 0)] * (planes.ndim - 2) + [(margin, margin)] * 2
    r = np.pad(planes, pad, mode="edge").astype(np.int16)
    a, b, c, d = r[..., :-1, :-1], r[..., :-1, 1:], r[..., 1:, :-1], r[..., 1:, 1:]
    out = np.empty(a.shape[:-2] + (4,) + a.shape[-2:], np.int16)
    out[..., 0, :, :] = a
    np.right_shift(a + b + 1, 1, out=out[..., 1, :, :])
    np.right_shift(a + c + 1, 1, out=out[..., 2, :, :])
    np.right_shift(a + b + c + d + 2, 2, out=out[..., 3, :, :])
    return out


def block_origins(h, w, b):
    gy, gx = np.divmod(np.arange((h // b) * (w // b)), w // b)
    return gy * b, gx * b


class Matcher:
    """Blocks of a stack of frames and the phases of their references, at one block size.

    Vectors are in half-pel units; a reference with a single phase takes even vectors only.
    """

    def __init__(self, cur, ref_phases, b, margin):
        frames, h, w = cur.shape
        self.target = cur.reshape(frames, h // b, b, w // b, b).transpose(0, 1, 3, 2, 4)
        self.target = self.target.reshape(-1, b * b)
        self.windows = sliding_window_view(ref_phases, (b, b), axis=(-2, -1))
        oy, ox = block_origins(h, w, b)
        self.frame = np.repeat(np.arange(frames), len(oy))
        self.oy, self.ox = np.tile(oy, frames) + margin, np.tile(ox, frames) + margin

    def blocks(self, vec, which=slice(None)):
        """The reference blocks displaced by vec for the blocks `which` (default: all)."""
        phase = (vec[:, 0] & 1) * 2 + (vec[:, 1] & 1)
        y, x = self.oy[which] + (vec[:, 0] >> 1), self.ox[which] + (vec[:, 1] >> 1)
        blocks = self.windows[self.frame[which], phase, y, x]
        return blocks.reshape(len(vec), self.target.shape[1])

    def sad(self, vec, which=slice(None)):
        d = self.blocks(vec, which) - self.target[which]
        return np.abs(d, out=d).sum(axis=1, dtype=np.int32)


def chroma_vectors(hp):
    """Luma half-pel vectors -> chroma half-pel vectors (half the length, rounded)."""
    return np.sign(hp) * ((np.abs(hp) + 1) >> 1)


def compensate(ref, vec, shape):
    """Motion-compensated prediction of all three planes from the reference phases."""
    hp = vec.reshape(-1, 2) * (2 // MV_UNIT)
    out = []
    for c, stack in enumerate(ref):
        s = 1 if c == 0 else 2
        b, h, w = MOTION_BLOCK // s, shape[0] // s, shape[1] // s
        matcher = Matcher(np.zeros((1, h, w), np.int16), stack[None], b, MARGIN // s)
        blocks = matcher.blocks(hp if c == 0 else chroma_vectors(hp))
        out.append(from_blocks(blocks, h, w, b))
    return out


def median3(a, b, c):
    return np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))


def above_neighbours(vec, i):
    """Above and above-right (above-left at the right edge) vectors for row i >= 1."""
    up = vec[:, i - 1]
    edge = up[:, -2:-1] if up.shape[1] > 1 else up
    return up, np.concatenate([up[:, 1:], edge], axis=1)


def mv_prediction(vec):
    """Each block's predicted vector: the median of left, above and above-right neighbours.

    vec is (frames, rows, cols, 2). The first row predicts from the left, the first column
    uses the block above as its left neighbour. integrate_motion inverts this exactly.
    """
    pred = np.zeros_like(vec)
    pred[:, 0, 1:] = vec[:, 0, :-1]
    for i in range(1, vec.shape[1]):
        up, corner = above_neighbours(vec, i)
        left = np.concatenate([up[:, :1], vec[:, i, :-1]], axis=1)
        pred[:, i] = median3(left, up, corner)
    return pred


def integrate_motion(diff):
    """Vectors from their differences to mv_prediction, block by block (all frames at once)."""
    vec = np.zeros_like(diff)
    vec[:, 0] = np.cumsum(diff[:, 0], axis=1)
    for i in range(1, diff.shape[1]):
        up, corner = above_neighbours(vec, i)
        left = up[:, 0]
        for j in range(diff.shape[2]):
            left = vec[:, i, j] = diff[:, i, j] + median3(left, up[:, j], corner[:, j])
    return vec


def vector_bits(d):
    """Rough cost in bits of coding vector differences d (..., 2)."""
    return (2 * np.log2(1 + np.abs(d)) + 1).sum(axis=-1)


def block_sums(x, b):
    """Sums over the b x b blocks of (..., H, W); strided adds beat a reshaped sum by far."""
    rows = x[..., 0::b, :].astype(np.int32)
    for i in range(1, b):
        rows += x[..., i::b, :]
    out = rows[..., 0::b].copy()
    for j in range(1, b):
        out += rows[..., j::b]
    return out


def full_search(cur, ref, r, b, lam):
    """Every shift within +-r (ref padded by r) for all blocks of a stack of frames."""
    f, h, w = cur.shape
    best = np.full((f, h // b, w // b), np.inf)
    vec = np.zeros((f, h // b, w // b, 2), np.int64)
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            d = cur - ref[:, r + dy:r + dy + h, r + dx:r + dx + w]
            sad = block_sums(np.abs(d, out=d), b)
            cost = sad + lam * vector_bits(np.array([dy, dx]))
            better = cost < best
            best = np.where(better, cost, best)
            vec[better] = (dy, dx)
    return vec


RING = [np.array(d) for d in ((-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1))]


def choose(matcher, vec, deltas, lam, limit, sad=None, zero=False, parity=None):
    """Per block, the cheapest of: its vector, vector + each delta, the median prediction
    and (if zero) no motion. Cost = SAD + lam * bits of the difference from the prediction,
    so flat areas follow their neighbours instead of chasing noise. With a parity, only
    the blocks of that checkerboard colour may change (their neighbours hold still).
    Only blocks whose candidate differs from their current choice are measured.
    """
    pred = mv_prediction(vec).reshape(-1, 2)
    best_vec = vec.reshape(-1, 2).copy()
    best_sad = matcher.sad(best_vec) if sad is None else sad.copy()
    best = best_sad + lam * vector_bits(best_vec - pred)
    allowed = True
    if parity is not None:
        i, j = np.indices(vec.shape[1:3])
        allowed = np.tile(((i + j) % 2 == parity).ravel(), vec.shape[0])
    candidates = [np.clip(best_vec + d, -limit, limit) for d in deltas] + [pred]
    for cand in candidates + ([0 * pred] if zero else []):
        todo = np.flatnonzero((cand != best_vec).any(axis=1) & allowed)
        cand_sad = matcher.sad(cand[todo], todo)
        cost = cand_sad + lam * vector_bits(cand[todo] - pred[todo])
        better = cost < best[todo]
        won = todo[better]
        best[won], best_sad[won], best_vec[won] = cost[better], cand_sad[better], cand[won]
    return best_vec.reshape(vec.shape), best_sad


def halve(planes):
    return ((block_sums(planes, 2) + 2) >> 2).astype(np.int16)


def pyramid_levels():
    """Levels above full size for the hierarchical search: until a +-3 search covers the
    range, but never so far up that a 16-pixel block shrinks below 4 pixels."""
    return min(2, max(0, math.ceil(math.log2(SEARCH_RANGE / 3))))


def pyramid_search(cur, ref, lam):
    """Exhaustive search at the top of a pyramid of 16-pixel blocks, then +-1 pixel
    refinements on the way down; (vectors in half-pel units, their SAD) at MOTION_BLOCK."""
    size, depth = max(16, MOTION_BLOCK), pyramid_levels()
    curs, refs = [cur], [ref]
    for _ in range(depth):
        curs.append(halve(curs[-1]))
        refs.append(halve(refs[-1]))
    r = -(-SEARCH_RANGE // 2 ** depth)
    padded = np.pad(refs[depth], ((0, 0), (r, r), (r, r)), mode="edge")
    vec = 2 * full_search(curs[depth], padded, r, size >> depth, lam / 4 ** depth)
    sad = None
    ring = [2 * d for d in RING]
    for lvl in range(depth - 1, -1, -1):
        limit = 2 * (SEARCH_RANGE >> lvl)
        stack = np.pad(refs[lvl], ((0, 0), (MARGIN, MARGIN), (MARGIN, MARGIN)), mode="edge")
        matcher = Matcher(curs[lvl], stack[:, None], size >> lvl, MARGIN)
        vec, sad = choose(matcher, np.clip(2 * vec, -limit, limit), ring, lam / 4 ** lvl,
                          limit, zero=lvl == 0)
    if size > MOTION_BLOCK:         # split into smaller blocks and refine each
        k = size // MOTION_BLOCK
        matcher = Matcher(cur, np.pad(ref, ((0, 0), (MARGIN, MARGIN), (MARGIN, MARGIN)),
                                      mode="edge")[:, None], MOTION_BLOCK, MARGIN)
        vec, sad = choose(matcher, vec.repeat(k, axis=1).repeat(k, axis=2), ring, lam,
                          2 * SEARCH_RANGE, zero=True)
    return vec, sad


def diamond_search(cur, matcher, lam):
    """Descent from no motion: each round every block may step one pixel or take its
    neighbours' prediction, until no block moves (at most SEARCH_RANGE rounds)."""
    f, h, w = cur.shape
    vec = np.zeros((f, h // MOTION_BLOCK, w // MOTION_BLOCK, 2), np.int64)
    sad = None
    for _ in range(SEARCH_RANGE):
        moved, sad = choose(matcher, vec, [2 * d for d in RING[:4]], lam, 2 * SEARCH_RANGE, sad)
        if (moved == vec).all():
            break
        vec = moved
    return vec, sad


def motion_search(cur, ref, step):
    """Vectors (frames, rows, cols, 2) in MV units for source frames cur against ref.

    An integer search (SEARCH), a half-pel refinement, then SMOOTHING rounds in which
    blocks may adopt their prediction or stand still. Vectors are in half-pel units inside.
    """
    lam = MV_LAMBDA * step
    matcher = Matcher(cur, phases(ref, MARGIN), MOTION_BLOCK, MARGIN)
    if SEARCH == "diamond":
        vec, sad = diamond_search(cur, matcher, lam)
    else:
        vec, sad = pyramid_search(cur, ref, lam)
    limit = 2 * SEARCH_RANGE
    if HALF_PEL:
        vec, sad = choose(matcher, vec, RING, lam, limit, sad)
    for k in range(SMOOTHING):    # checkerboard rounds settle better than all-at-once
        vec, sad = choose(matcher, vec, [], lam, limit, sad, zero=True, parity=k % 2)
    return vec if HALF_PEL else vec // 2


def motion_fields(luma, inter, step):
    """Vectors of every predicted frame, searched between source frames in memory-sized batches.

    The decoder needs only the vectors, so searching the clean source is allowed and finds
    the true motion; prediction itself always uses the decoded reference.
    """
    index = np.flatnonzero(inter)
    batch = max(1, 2_000_000 // luma[0].size)
    parts = [motion_search(luma[i], luma[i - 1], step)
             for i in (index[k:k + batch] for k in range(0, len(index), batch))]
    return np.concatenate(parts) if parts else np.zeros((0, 1, 1, 2), np.int64)


# ---------------------------------------------------------------- entropy coding

class Channel:
    """The range coder in either direction, so the bitstream syntax is written only once.

    Encoding: pass the symbols; they are coded and handed back. Decoding: pass None; the
    decoded symbols come back. Both sides therefore build identical models in order.
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


class Tally(Channel):
    """Codes nothing: the encoder's dry run that counts symbols for static tables."""

    def __init__(self):
        self.decoding = False

    def categorical(self, symbols, probs):
        return symbols

    def uniform(self, values, sizes):
        return values

    def bits(self, bits, n):
        return bits


class Model:
    """Symbol counts per context, turned into probabilities for the coder.

    Adaptive models start from a prior and learn after each chunk (both sides alike);
    static ones hold counts fixed before coding starts (sent in the header).
    """

    def __init__(self, contexts, prior, learning):
        self.counts = np.tile(np.asarray(prior, np.float64), (contexts, 1))
        self.learning = learning
        self.halving = True
        self.seen = np.zeros(contexts)        # symbols learnt per context

    def code(self, ch, symbols, ctx):
        out = np.empty(len(ctx), np.int32)
        start = 0
        while start < len(ctx):
            stop = len(ctx)
            if self.learning:      # short chunks while a context is young, longer later
                typical = np.median(self.seen[ctx[start:start + MIN_CHUNK]])
                stop = min(stop, start + max(MIN_CHUNK, int(typical) // 2))
            part = ctx[start:stop]
            given = None if symbols is None else symbols[start:stop]
            got = ch.categorical(given, self.counts[part].astype(np.float32))
            out[start:stop] = got
            if self.learning:
                self.learn(part, got)
            start = stop
        return out

    def learn(self, ctx, symbols):
        size = self.counts.shape[1]
        hist = np.bincount(ctx * size + symbols, minlength=self.counts.size)
        self.counts += hist.reshape(self.counts.shape)
        self.seen += hist.reshape(self.counts.shape).sum(axis=1)
        if self.halving:
            self.counts[self.counts.sum(axis=1) > MAX_COUNT] *= 0.5


NC = BLOCK * BLOCK
BAND = (2 * np.log2(np.arange(NC) + 1)).astype(int)     # zig-zag position -> frequency band
NBANDS = int(BAND[-1]) + 1
CLASSES = {"single": 1, "band": 1, "band-last": int(math.log2(NC)) + 1, "band-neighbor": 5}
NCLASS = CLASSES[ENTROPY_CONTEXT]
PER_GROUP = NBANDS * 2 * NCLASS                          # contexts per (plane, frame type)


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
    learning = ENTROPY_ADAPT == "adaptive"
    mv_size = 4 * SEARCH_RANGE * MV_UNIT + 1
    mv_prior = 0.02 + np.exp(-np.abs(np.arange(mv_size) - mv_size // 2) / 2.0)
    last_prior = np.full(NC + 1, 0.05)
    last_prior[0] = 2.0
    return {
        "last": Model(4 * 3, last_prior, learning),
        "coef": Model(4 * PER_GROUP, 2.0 / (1 + np.arange(ESCAPE + 1)) ** 2, learning),
        "escape": Model(2, 0.5 ** np.arange(24), learning),
        "mv": Model(3, mv_prior, learning),
    }


def coef_context(k, rows, final, last, mag, group):
    """Context of position k in the given blocks: plane and frame type, band, neighbours."""
    if ENTROPY_CONTEXT == "single":
        return group[rows] * PER_GROUP
    cls = 0
    if ENTROPY_CONTEXT == "band-last":
        cls = np.frexp(last[rows])[1] - 1                    # floor(log2(last))
    elif ENTROPY_CONTEXT == "band-neighbor":
        cls = np.minimum(mag[rows, LEFT[k]], 2) + np.minimum(mag[rows, UP[k]], 2)
    return ((group[rows] * NBANDS + BAND[k]) * 2 + final) * NCLASS + cls


def last_positions(q):
    """1 + zig-zag index of each block's last non-zero coefficient, 0 for an empty block."""
    nz = q != 0
    return np.where(nz.any(axis=1), NC - np.argmax(nz[:, ::-1], axis=1), 0)


def code_blocks(ch, models, q, group, motion):
    """Quantised blocks: last positions, then magnitudes position by position, escapes, signs.

    Position k is coded for every block at once, so its context may use any position
    coded before it in the same block (zig-zag order visits left and upper neighbours first).
    """
    n = len(group)
    given = None if q is None else last_positions(q)
    last = models["last"].code(ch, given, group * 3 + motion)
    mag = np.zeros((n, NC + 1), np.int32)            # column NC: the missing neighbour
    escaped = np.zeros((n, NC), bool)
    for k in range(NC):
        rows = np.flatnonzero(last > k)
        if rows.size == 0:
            break
        final = (last[rows] == k + 1).astype(np.int32)      # known non-zero: code |q| - 1
        sym = None if q is None else np.minimum(np.abs(q[rows, k]) - final, ESCAPE)
        sym = models["coef"].code(ch, sym, coef_context(k, rows, final, last, mag, group))
        mag[rows, k] = sym + final
        escaped[rows, k] = sym == ESCAPE
    mag = mag[:, :NC]
    rest = None if q is None else np.abs(q[escaped]) - mag[escaped]
    mag[escaped] += code_escapes(ch, models["escape"], rest, group[np.nonzero(escaped)[0]] // 2)
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


def code_motion(ch, model, vec, count, grid):
    """Differences from the median prediction; y's context is whether x's difference is 0."""
    off = 2 * SEARCH_RANGE * MV_UNIT
    diff = None
    if vec is not None:
        diff = (vec - mv_prediction(vec)).reshape(-1, 2) + off
    zeros = np.zeros(count * grid[0] * grid[1], np.int64)
    dx = model.code(ch, None if diff is None else diff[:, 1], zeros)
    dy = model.code(ch, None if diff is None else diff[:, 0], 1 + (dx != off))
    diff = np.stack([dy, dx], axis=-1).reshape(count, grid[0], grid[1], 2) - off
    return integrate_motion(diff)


def code_tables(ch, models):
    """Static mode: each model's counts on a half-octave log scale, coded adaptively."""
    meta = Model(16, 0.7 ** np.arange(64), learning=True)
    for name in sorted(models):
        m = models[name]
        shape = m.counts.shape
        v = None
        if not ch.decoding:
            v = np.minimum(np.rint(2 * np.log2(m.counts + 1)), 63).astype(np.int32).ravel()
        ctx = np.minimum(np.tile(np.arange(shape[1]), shape[0]), 15)
        v = meta.code(ch, v, ctx)
        m.counts = (2.0 ** (v / 2) - 1).reshape(shape)


def code_syntax(ch, layout, syntax):
    """The whole clip's symbols in coding order; syntax is None when decoding."""
    models = make_models()
    if ENTROPY_ADAPT == "static":
        if syntax is not None:       # count first: the tables go ahead of the symbols
            for m in models.values():
                m.counts[:], m.learning, m.halving = 0.0, True, False
            code_clip(Tally(), models, layout, syntax)
            for m in models.values():
                m.learning = False
        code_tables(ch, models)
    return code_clip(ch, models, layout, syntax)


def code_clip(ch, models, layout, syntax):
    def part(key):
        return None if syntax is None else syntax[key]

    count = int(layout.inter.sum())
    mv = np.zeros((0, 1, 1, 2), np.int64)
    if count:
        mv = code_motion(ch, models["mv"], part("mv"), count, layout.mv_grid)
    motion = motion_classes(layout, mv)
    luma = code_blocks(ch, models, part("luma"), layout.luma_groups, motion[0])
    chroma = code_blocks(ch, models, part("chroma"), layout.chroma_groups, motion[1])
    return {"mv": mv, "luma": luma, "chroma": chroma}


def motion_classes(layout, mv):
    """Per transform block: 0 = intra or no motion, 1 = predicted motion, 2 = other motion.

    Blocks that sit still are nearly always empty, so their block lengths get own contexts.
    """
    cls = np.zeros((layout.frames,) + layout.mv_grid, np.int64)
    if len(mv):
        moving = (mv != 0).any(axis=-1)
        surprise = (mv != mv_prediction(mv)).any(axis=-1)
        cls[layout.inter] = np.where(moving, 1 + surprise, 0)
    out = []
    for c in (0, 1):
        gy, gx = layout.grids[c]
        rows = (np.arange(gy) * BLOCK << c) // MOTION_BLOCK
        cols = (np.arange(gx) * BLOCK << c) // MOTION_BLOCK
        per_frame = cls[:, rows][:, :, cols].reshape(layout.frames, -1)
        out.append(np.repeat(per_frame, 2, axis=0).ravel() if c else per_frame.ravel())
    return out


# ---------------------------------------------------------------- frames

class Layout:
    """What both sides derive from the header: padded size, frame types, block grids."""

    def __init__(self, frames, height, width):
        m = MOTION_BLOCK * 2 * BLOCK // math.gcd(MOTION_BLOCK, 2 * BLOCK)
        self.frames, self.height, self.width = frames, height, width
        self.padded = (-(-height // m) * m, -(-width // m) * m)
        ph, pw = self.padded
        t = np.arange(frames)
        self.inter = INTER & (t > 0) & ((t % GOP != 0) if GOP else True)
        self.mv_grid = (ph // MOTION_BLOCK, pw // MOTION_BLOCK)
        self.grids = [(ph // BLOCK, pw // BLOCK)] + [(ph // 2 // BLOCK, pw // 2 // BLOCK)] * 2
        self.blocks = [gy * gx for gy, gx in self.grids]
        kinds = self.inter.astype(np.int64)
        self.luma_groups = np.repeat(kinds, self.blocks[0])
        self.chroma_groups = 2 + np.repeat(kinds, 2 * self.blocks[1])

    def pad(self, plane, c):
        """Edge-extend a (T, h, w) plane stack to the padded size."""
        s = 1 if c == 0 else 2
        ph, pw = self.padded[0] // s, self.padded[1] // s
        return np.pad(plane, ((0, 0), (0, ph - plane.shape[1]), (0, pw - plane.shape[2])),
                      mode="edge").astype(np.int16)


def prediction(layout, ref, vec, inter):
    if inter:
        return compensate(ref, vec, layout.padded)
    return [np.full((layout.padded[0] // s, layout.padded[1] // s), 128, np.int16)
            for s in (1, 2, 2)]


def reconstruct(qs, pred, steps):
    """Decoded planes (after the loop filter) and their half-pel reference phases."""
    planes = [deblock(dequantize(q, p, steps[c > 0]), steps[c > 0])
              for c, (q, p) in enumerate(zip(qs, pred, strict=True))]
    return planes, [phases(p, MARGIN // (1 if c == 0 else 2)) for c, p in enumerate(planes)]


def encode(video, level):
    y, u, v, fps = video
    layout = Layout(*y.shape)
    source = [layout.pad(p, c) for c, p in enumerate((y, u, v))]
    mv = motion_fields(source[0], layout.inter, level_steps(level, True)[0])
    luma, chroma = [], []
    ref = None
    for t in range(layout.frames):
        inter = bool(layout.inter[t])
        steps = level_steps(level, inter)
        pred = prediction(layout, ref, mv[layout.inter[:t].sum()] if inter else None, inter)
        qs = [quantize(source[c][t], pred[c], steps[c > 0]) for c in range(3)]
        ref = reconstruct(qs, pred, steps)[1]
        if not inter:
            qs = [dc_residual(q, g) for q, g in zip(qs, layout.grids, strict=True)]
        luma.append(qs[0])
        chroma += qs[1:]
    ch = Channel()
    code_syntax(ch, layout, {"mv": mv, "luma": np.concatenate(luma),
                             "chroma": np.concatenate(chroma)})
    head = HEADER.pack(MAGIC, level, layout.frames, layout.height, layout.width, float(fps))
    return head + ch.coder.get_compressed().astype("<u4").tobytes()


def decode(bitstream):
    magic, level, frames, height, width, fps = HEADER.unpack_from(bitstream)
    if magic != MAGIC:
        raise ValueError("not an inter-dct bitstream")
    layout = Layout(frames, height, width)
    words = np.frombuffer(bitstream, "<u4", offset=HEADER.size).astype(np.uint32)
    syntax = code_syntax(Channel(words), layout, None)
    nl, nc = layout.blocks[0], layout.blocks[1]
    out = [np.empty((frames, height // s, width // s), np.uint8) for s in (1, 2, 2)]
    ref, used = None, 0
    for t in range(frames):
        inter = bool(layout.inter[t])
        steps = level_steps(level, inter)
        qs = [syntax["luma"][t * nl:(t + 1) * nl],
              syntax["chroma"][2 * t * nc:(2 * t + 1) * nc],
              syntax["chroma"][(2 * t + 1) * nc:(2 * t + 2) * nc]]
        if not inter:
            qs = [dc_restore(q, g) for q, g in zip(qs, layout.grids, strict=True)]
        pred = prediction(layout, ref, syntax["mv"][used] if inter else None, inter)
        used += inter
        planes, ref = reconstruct(qs, pred, steps)
        for c, p in enumerate(planes):
            out[c][t] = p[:out[c].shape[1], :out[c].shape[2]]
    return out[0], out[1], out[2], fps
