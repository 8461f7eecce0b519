"""Inter RDO: a hybrid block codec with the tools that matter (the search template).

What it does, and why each piece is there:

- Frames are coded in hierarchical mini-GOPs: an anchor (P, or I at the start and every
  INTRA_PERIOD frames) every GOP frames and B frames between them by recursive bisection,
  each predicted from the nearest NUM_REFS decoded frames on either side (the nearest
  one only, and 16x16 blocks only, for frames that are not references themselves). GOP = 1
  is low-delay P. Deeper B frames get coarser quantisers (B_QP_STEP): they are referenced
  less.
- Motion is quarter-pel. Reference frames are interpolated once, when decoded, into the
  16 quarter-pel phases with a separable windowed-sinc filter of INTERP_TAPS taps (integer
  taps summing to 64, derived below, not copied from any standard): at every phase
  (QUARTER = filter) or at half-pel phases only, quarter-pel samples being averages of
  their two nearest neighbours (QUARTER = average, five times cheaper). Motion is searched
  between source frames at quarter size (exhaustive) and half size (refinement) in a
  lookahead, then refined at full size against the decoded references: an integer ring,
  a half-pel ring and a quarter-pel ring.
- Every 16x16 macroblock is a quadtree (16 -> 8 -> 4, PARTITION_DEPTH). Each node is
  skip (motion merged from the left or upper neighbour, no residual), inter (one of
  NUM_REFS references per list, list 0, list 1 or both averaged, a coded vector difference
  to the median of the neighbours) or intra (DC, vertical, horizontal, planar from decoded
  neighbours). Decisions minimise D + lambda * R, with SSE distortion (luma plus chroma)
  and R from the entropy coder's current statistics; lambda = LAMBDA * 0.1 * step^2 follows
  each block's quantiser.
- Per-macroblock QP offsets come from temporal propagation (the macroblock-tree idea): the
  lookahead estimates how much of each block later frames inherit through motion and gives
  the blocks that are reused more bits. The offsets are sent (differences, coded).
- Residuals use integer DCT approximations of 4, 8 and 16 points whose inverse is exact
  (integer-valued float64 products, so the decoder's output never depends on summation
  order or thread count), a deadzone quantiser with per-block step, and zeroing of whole
  blocks when it lowers the Lagrangian cost.
- An in-loop deblocking filter smooths transform edges by boundary strength and QP.
- Every syntax element goes through one range coder (constriction) with adaptive context
  models (counts learnt while coding, in chunks, on both sides alike); contexts use block
  size, frequency band, already coded neighbours and the co-located flags of the previous
  frame. Raw suffix and sign bits are coded uniformly (bypass).
- Optionally (LEARNED_FILTER), a tiny CNN post-filter is fitted per clip by the encoder in
  torch (CUDA when available), its weights quantised to 8 bits and sent in the bitstream.
  The decoder runs it in integer-valued float64, which is exact on any device.

Bitstream: a fixed header (magic, level, frames, height, width, fps), the learned filter's
bytes (length-prefixed, possibly empty) and the range coder's words. The decoder needs
nothing else; it derives the frame structure and every quantiser from the header.

The PARAMETERS block is self-describing: each line is
``NAME = VALUE  # KIND[: DOMAIN]; MEANING[; operating point][; when CONDITION]`` where
KIND is int, float, choice or bool; DOMAIN is ``LOW..HIGH`` (int, float; a trailing
``log`` asks for a log scale) or ``A|B|C`` (choice); ``operating point`` marks QP and
QP_SPACING, which place the rate points rather than code them better (searches hold them);
CONDITION (``NAME == V``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``NAME in A|B``, or a bare
bool NAME, joined by ``and``) says when the parameter matters. `aivc.codec.space` reads
this block, and the search planner rewrites only it (and the optional import line below,
``torch = None`` until LEARNED_FILTER turns it into ``import torch``: the sandbox imports
every library a source names, torch takes seconds).
"""

import math
import struct

import constriction
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

torch = None  # when LEARNED_FILTER

# --- PARAMETERS (rewritten by the search planner) ---
QP = 24                     # int: 14..40; luma QP of level 0 (the quantiser step doubles every 6); operating point
QP_SPACING = 6              # int: 3..9; QP added per level; operating point
CHROMA_QP_OFFSET = -2       # int: -6..6; chroma QP = luma QP + this
I_QP_OFFSET = -3            # int: -8..2; QP offset of intra frames
GOP = 8                     # choice: 1|2|4|8|16; anchor distance, hierarchical B frames between (1 = low-delay P)
B_QP_STEP = 1               # int: 0..3; QP added per level of the B-frame hierarchy; when GOP > 1
INTRA_PERIOD = 0            # int: 0..128; an intra frame every so many frames (0 = only the first)
NUM_REFS = 1                # int: 1..4; reference frames per prediction list
PARTITION_DEPTH = 1         # int: 0..2; quadtree below 16x16 (0 = none, 1 = down to 8x8, 2 = down to 4x4)
SUBPEL = "quarter"          # choice: off|half|quarter; motion vector precision
INTERP_TAPS = 6             # choice: 2|4|6|8; interpolation filter length (2 = bilinear); when SUBPEL != off
QUARTER = "average"         # choice: average|filter; quarter-pel samples: mean of the two nearest half-pel ones, or the filter at every phase; when SUBPEL == quarter
SUBPEL_PATTERN = "diamond"  # choice: diamond|square; sub-pel refinement steps: 4 or 8 neighbours; when SUBPEL != off
SEARCH = "exhaustive"       # choice: exhaustive|predictive; lookahead search per side of a frame, or once per frame
SEARCH_RANGE = 24           # int: 8..48; integer motion search range in pixels
MODE_DECISION = "rd"        # choice: rd|sad; Lagrangian rate-distortion decisions or SAD heuristics
LAMBDA = 1.0                # float: 0.25..4 log; Lagrangian multiplier relative to 0.1 * step^2
CHROMA_WEIGHT = 1.0         # float: 0.25..4 log; weight of chroma SSE in decisions
MBTREE = True               # bool; per-macroblock QP offsets from temporal propagation
MBTREE_STRENGTH = 2.0       # float: 0.5..4; QP offset per doubling of propagated importance; when MBTREE
ENTROPY_CONTEXTS = "neighbour"  # choice: single|position|neighbour; context modelling of all syntax elements
DEBLOCK = 1.0               # float: 0..2; deblocking strength (0 = off)
LEARNED_FILTER = False      # bool; a CNN post-filter fitted per clip (torch), weights in the bitstream
FILTER_CHANNELS = 8         # choice: 4|8|16; hidden channels of the learned filter; when LEARNED_FILTER
FILTER_STEPS = 150          # int: 50..400; training steps of the learned filter; when LEARNED_FILTER
# --- END PARAMETERS ---

LEVELS = 4

HEADER = struct.Struct("<4sBIHHdI")   # magic, level, frames, height, width, fps, filter bytes
MAGIC = b"AIR1"
MB = 16                                # macroblock size, luma pixels
MV_UNIT = {"off": 4, "half": 2, "quarter": 1}[SUBPEL]   # coded vector unit, quarter pels
TAPS = INTERP_TAPS if SUBPEL != "off" else 2
MV_LIMIT = 4 * (SEARCH_RANGE + 8)      # largest vector component, quarter pels
MARGIN = 16 * ((SEARCH_RANGE + 8 + MB + TAPS + 15) // 16)   # reference padding, luma pixels
QP_MAX = 63
DQP_MAX = 12                           # macroblock QP offsets lie in [-DQP_MAX, DQP_MAX]
ESCAPE = 15                            # coefficient symbols 0..14 literal, 15 = escape
MIN_CHUNK = 256                        # adaptive models update after chunks at least this long
MAX_COUNT = 1 << 16                    # a context's counts are halved past this total
CATEGORICAL = constriction.stream.model.Categorical(perfect=False)
UNIFORM = constriction.stream.model.Uniform()
BIT = constriction.stream.model.Uniform(2)
SKIP, INTER, INTRA = 0, 1, 2           # node modes
L0, L1, BI = 0, 1, 2                   # inter directions
DC, VER, HOR, PLANAR = 0, 1, 2, 3      # intra modes
NMODES = 4


# ---------------------------------------------------------------- quantiser and transform

def clip(x, low, high):
    """np.clip without its overhead on the many small arrays here."""
    return np.minimum(np.maximum(x, low), high)


def _step_table():
    scale = np.array([round(64 * 2 ** ((k - 4) / 6)) for k in range(6)], np.int64)
    qp = np.arange(QP_MAX + 1)
    return scale[qp % 6] << (qp // 6)


STEP64 = _step_table()


def step64(qp):
    """Quantiser step times 64 as an exact integer: 2 ** ((qp - 4) / 6) * 64."""
    return STEP64[qp]


def dct_basis(n):
    """Orthonormal DCT-II, one frequency per row."""
    k = np.arange(n)[:, None]
    m = np.cos(np.pi * (2 * np.arange(n)[None, :] + 1) * k / (2 * n)) * math.sqrt(2 / n)
    m[0] /= math.sqrt(2)
    return m


def zigzag(n):
    """Raster index of each zig-zag position (anti-diagonals, alternating direction)."""
    cells = [(i + j, j if (i + j) % 2 else i, i * n + j) for i in range(n) for j in range(n)]
    return np.array([raster for _, _, raster in sorted(cells)])


SIZES = (4, 8, 16)
INT_DCT = {n: np.rint(dct_basis(n) * 64 * math.sqrt(n)) for n in SIZES}   # integer-valued
FWD_DCT = {n: (INT_DCT[n] / (64 * math.sqrt(n))).astype(np.float32) for n in SIZES}
INV_SHIFT = {n: 18 + int(math.log2(n)) for n in SIZES}
ZIGZAG = {n: zigzag(n) for n in SIZES}


def forward(blocks):
    """(N, n, n) residuals -> (N, n*n) coefficients in zig-zag order (encoder only)."""
    n = blocks.shape[-1]
    c = FWD_DCT[n] @ blocks.astype(np.float32) @ FWD_DCT[n].T
    return c.reshape(len(blocks), n * n)[:, ZIGZAG[n]]


def inverse(q, qp):
    """Exact integer inverse: (N, n*n) levels at per-block qp -> (N, n, n) residuals.

    Levels times step * 64 are integers, the basis is integer, so every product and sum
    is an exact integer in float64: the result cannot depend on how BLAS orders the sums.
    """
    nn = q.shape[1]
    n = int(math.isqrt(nn))
    x = np.zeros((len(q), nn))
    x[:, ZIGZAG[n]] = q * step64(qp)[:, None].astype(np.float64)
    t = INT_DCT[n]
    y = t.T @ x.reshape(-1, n, n) @ t
    s = INV_SHIFT[n]
    return np.floor((y + 2.0 ** (s - 1)) / 2.0 ** s).astype(np.int32)


def quantize(coef, qp, rounding):
    """Deadzone quantiser: levels = sign * floor(|c| / step + rounding), per-block qp."""
    step = (step64(qp) / 64.0).astype(np.float32)[:, None]
    return (np.sign(coef) * np.floor(np.abs(coef) / step + rounding)).astype(np.int32)


def lagrangian(qp):
    """lambda for SSE distortion and bits, tied to the quantiser step."""
    step = step64(qp) / 64.0
    return LAMBDA * 0.1 * step * step


# ---------------------------------------------------------------- frame structure

class Frame:
    """One frame in coding order: display index, type, hierarchy depth, reference use."""

    def __init__(self, t, kind, depth):
        self.t, self.kind, self.depth = t, kind, depth
        self.is_ref = kind != "B"
        self.l0, self.l1 = [], []


def _bisect(a, b, depth, out):
    """B frames strictly between anchors a and b, middle first (coding order)."""
    if b - a < 2:
        return
    mid = (a + b) // 2
    frame = Frame(mid, "B", depth)
    frame.is_ref = b - a > 2
    out.append(frame)
    _bisect(a, mid, depth + 1, out)
    _bisect(mid, b, depth + 1, out)


def schedule(frames):
    """Frames in coding order, with their reference lists (display indices, nearest first)."""
    anchors = sorted(set(range(0, frames, GOP)) | {frames - 1})
    order, last_intra = [Frame(0, "I", 0)], 0
    for a, b in zip(anchors, anchors[1:], strict=False):
        intra = INTRA_PERIOD and b - last_intra >= INTRA_PERIOD
        order.append(Frame(b, "I" if intra else "P", 0))
        last_intra = b if intra else last_intra
        _bisect(a, b, 1, order)
    decoded = []
    for frame in order:
        refs = NUM_REFS if frame.is_ref else 1    # frames nothing predicts from stay cheap
        if frame.kind != "I":
            past = sorted((t for t in decoded if t < frame.t), reverse=True)
            frame.l0 = past[:refs]
            if frame.kind == "B":
                frame.l1 = sorted(t for t in decoded if t > frame.t)[:refs]
        if frame.is_ref:
            decoded.append(frame.t)
    return order


def last_uses(order):
    """Display index -> position in coding order after which that reference is not needed."""
    last = {}
    for i, frame in enumerate(order):
        for t in frame.l0 + frame.l1:
            last[t] = i
    return last


def frame_qp(frame, level):
    qp = QP + QP_SPACING * level
    if frame.kind == "I":
        qp += I_QP_OFFSET
    elif frame.kind == "B":
        qp += B_QP_STEP * frame.depth
    return int(min(max(qp, 0), QP_MAX - DQP_MAX))


class Geometry:
    """Sizes both sides derive from the header: padded to whole macroblocks."""

    def __init__(self, frames, height, width):
        self.frames, self.height, self.width = frames, height, width
        self.ph, self.pw = -(-height // MB) * MB, -(-width // MB) * MB
        self.mbh, self.mbw = self.ph // MB, self.pw // MB
        self.uh, self.uw = self.ph // 4, self.pw // 4

    def pad(self, plane, c):
        """Edge-extend a (T, h, w) plane stack to the padded size."""
        s = 1 if c == 0 else 2
        return np.pad(plane, ((0, 0), (0, self.ph // s - plane.shape[1]),
                              (0, self.pw // s - plane.shape[2])), mode="edge").astype(np.int16)


# ---------------------------------------------------------------- interpolation

def interpolation_taps(phase):
    """Integer taps (sum 64) of a windowed-sinc filter at a quarter-pel phase (1, 2 or 3).

    Lanczos window with a = TAPS / 2 over the TAPS nearest integer samples; rounding
    error goes to the largest tap. TAPS = 2 gives bilinear interpolation.
    """
    a = TAPS // 2
    k = np.arange(-a + 1, a + 1) - phase / 4
    h = np.sinc(k) * np.sinc(k / a)
    taps = np.rint(64 * h / h.sum()).astype(np.int64)
    taps[np.argmax(taps)] += 64 - taps.sum()
    return taps


FILTERS = {p: interpolation_taps(p) for p in (1, 2, 3)}


def _filter_rows(x, phase):
    """Apply the phase's taps along the last axis of an int32 array padded by TAPS/2 each
    side (slices, not copies, for every tap)."""
    a = TAPS // 2
    n = x.shape[-1] - 2 * a
    taps = FILTERS[phase]
    out = x[..., 1:1 + n] * int(taps[0])
    for i in range(1, len(taps)):
        out += x[..., i + 1:i + 1 + n] * int(taps[i])
    return out


def _vertical_half(x):
    return _filter_rows(np.ascontiguousarray(x.T), 2).T


def phase_planes(plane):
    """(16, H + 2M, W + 2M) int16: the edge-padded plane at every quarter-pel phase.

    Plane fy * 4 + fx holds the picture sampled at (y + fy/4, x + fx/4), in integer
    arithmetic throughout, so bit-exact on every machine.
    """
    return _filtered_phases(plane) if QUARTER == "filter" else _averaged_phases(plane)


def _filtered_phases(plane):
    """Every phase by the INTERP_TAPS filter at its own offset: horizontal then vertical,
    each x64, rounded once (fifteen filter passes)."""
    a = TAPS // 2
    m = MARGIN + a
    r = np.pad(plane.astype(np.int32), ((m, m), (m, m)), mode="edge")
    horizontal = [r[:, a:-a] * 64] + [_filter_rows(r, p) for p in (1, 2, 3)]
    out = np.empty((16, r.shape[0] - 2 * a, r.shape[1] - 2 * a), np.int16)
    for fx, hx in enumerate(horizontal):
        columns = np.ascontiguousarray(hx.T)
        for fy in range(4):
            v = columns[:, a:-a] * 64 if fy == 0 else _filter_rows(columns, fy)
            out[fy * 4 + fx] = clip((v.T + 2048) >> 12, 0, 255)
    return out


def _averaged_phases(plane):
    """Half-pel samples by the INTERP_TAPS filter (horizontal, vertical, and vertical over
    horizontal, rounded once per plane); quarter-pel samples as the rounded average of the
    two nearest integer or half-pel samples along the axis, first horizontally, then
    vertically (three filter passes instead of fifteen)."""
    a = TAPS // 2
    m = MARGIN + a
    r = np.pad(plane.astype(np.int32), ((m, m + 1), (m, m + 1)), mode="edge")
    h = _filter_rows(r, 2)
    full = {(0, 0): r[a:-a, a:-a],
            (0, 2): clip((h[a:-a] + 32) >> 6, 0, 255),
            (2, 0): clip((_vertical_half(r[:, a:-a]) + 32) >> 6, 0, 255),
            (2, 2): clip((_vertical_half(h) + 2048) >> 12, 0, 255)}
    full = {k: v.astype(np.int16) for k, v in full.items()}
    for fy in (0, 2):          # horizontal quarters: average with the next sample along x
        full[fy, 1] = (full[fy, 0] + full[fy, 2] + 1) >> 1
        full[fy, 3] = (full[fy, 2][:, :-1] + full[fy, 0][:, 1:] + 1) >> 1
    for fx in range(4):        # vertical quarters, from the horizontally complete rows
        full[1, fx] = (full[0, fx] + full[2, fx] + 1) >> 1
        full[3, fx] = (full[2, fx][:-1] + full[0, fx][1:] + 1) >> 1
    h, w = plane.shape[0] + 2 * MARGIN, plane.shape[1] + 2 * MARGIN
    out = np.empty((16, h, w), np.int16)
    for (fy, fx), p in full.items():
        out[fy * 4 + fx] = p[:h, :w]
    return out


class Reference:
    """A decoded frame kept for prediction: luma phases, padded chroma, its QP map."""

    def __init__(self, t, planes, needs_phases=True):
        self.t = t
        self.luma = planes[0]
        self.phases = phase_planes(planes[0]) if needs_phases else None
        h = MARGIN // 2
        self.chroma = [np.pad(p.astype(np.int32), ((h, h + 1), (h, h + 1)), mode="edge")
                       for p in planes[1:]]


# ---------------------------------------------------------------- motion compensation

def luma_blocks(ref, mv, y, x, n):
    """(N, n, n) predictions of n x n blocks at (y, x) displaced by quarter-pel mv."""
    phase = (mv[:, 0] & 3) * 4 + (mv[:, 1] & 3)
    windows = sliding_window_view(ref.phases, (n, n), axis=(1, 2))
    return windows[phase, y + MARGIN + (mv[:, 0] >> 2), x + MARGIN + (mv[:, 1] >> 2)]


def chroma_blocks(plane, mv, y, x, n):
    """(N, n, n) chroma predictions: the luma vector is 1/8-pel here, bilinear weights."""
    h = MARGIN // 2
    windows = sliding_window_view(plane, (n + 1, n + 1))
    p = windows[y + h + (mv[:, 0] >> 3), x + h + (mv[:, 1] >> 3)]
    fy = (mv[:, 0] & 7).astype(np.int32)[:, None, None]
    fx = (mv[:, 1] & 7).astype(np.int32)[:, None, None]
    top = (8 - fx) * p[:, :-1, :-1] + fx * p[:, :-1, 1:]
    bottom = (8 - fx) * p[:, 1:, :-1] + fx * p[:, 1:, 1:]
    return (((8 - fy) * top + fy * bottom + 32) >> 6).astype(np.int16)


def average(a, b):
    return ((a.astype(np.int32) + b + 1) >> 1).astype(np.int16)


def predict(refs, motion, y, x, n, plane):
    """Motion-compensated (N, n, n) blocks for plane 0 (luma, n luma pixels) or 1, 2.

    motion: dict with dir (N,), ref (N, 2) reference objects' indices into refs lists
    and mv (N, 2, 2) quarter-pel vectors per list.
    """
    out = []
    for lst in (0, 1):
        use = np.flatnonzero((motion["dir"] == lst) | (motion["dir"] == BI))
        part = np.zeros((len(y), n, n), np.int16)
        for r in np.unique(motion["ref"][use, lst]):
            sel = use[motion["ref"][use, lst] == r]
            ref = refs[lst][r]
            mv = motion["mv"][sel, lst]
            if plane == 0:
                part[sel] = luma_blocks(ref, mv, y[sel], x[sel], n)
            else:
                part[sel] = chroma_blocks(ref.chroma[plane - 1], mv, y[sel], x[sel], n)
        out.append(part)
    bi = motion["dir"] == BI
    pred = np.where((motion["dir"] == L1)[:, None, None], out[1], out[0])
    if bi.any():
        pred[bi] = average(out[0][bi], out[1][bi])
    return pred


# ---------------------------------------------------------------- partition

class Partition:
    """Nodes (16, 8, or 8 split into four 4x4 leaves) and leaves of one frame, in coding
    order, with the maps both sides use to find neighbours.

    A node carries the mode (skip, inter, intra) and the chroma block; a leaf carries the
    motion or intra mode and the luma transform. `key` orders leaves and nodes so that
    everything left of or above a block comes first: macroblock anti-diagonal, then
    z-order inside the macroblock.
    """

    def __init__(self, geo, split16, split8):
        self.geo = geo
        self.split16, self.split8 = split16, split8 & split16[:, :, None, None]
        mb_r, mb_c = np.divmod(np.arange(geo.mbh * geo.mbw), geo.mbw)
        whole = ~split16.ravel()
        q = np.arange(4)
        nodes_mb = np.concatenate([np.flatnonzero(whole), np.repeat(np.flatnonzero(~whole), 4)])
        nodes_q = np.concatenate([np.zeros(whole.sum(), int), np.tile(q, (~whole).sum())])
        order = np.lexsort((nodes_q, nodes_mb))
        self.node_mb, quad = nodes_mb[order], nodes_q[order]
        big = np.isin(self.node_mb, np.flatnonzero(whole))
        self.node_size = np.where(big, 16, 8)
        qi, qj = quad >> 1, quad & 1
        self.node_split = ~big & self.split8.reshape(-1, 4)[self.node_mb, quad]
        self.node_y = mb_r[self.node_mb] * MB + qi * 8
        self.node_x = mb_c[self.node_mb] * MB + qj * 8
        self.node_z = np.where(big, 0, qi * 8 + qj * 4)
        diag = mb_r[self.node_mb] + mb_c[self.node_mb]
        self.node_key = diag * 16 + self.node_z
        self._leaves()
        self._maps()

    def _leaves(self):
        reps = np.where(self.node_split, 4, 1)
        node = np.repeat(np.arange(len(reps)), reps)
        sub = np.arange(len(node)) - np.repeat(np.cumsum(reps) - reps, reps)
        split = self.node_split[node]
        self.leaf_node = node
        self.leaf_size = np.where(split, 4, self.node_size[node])
        self.leaf_y = self.node_y[node] + np.where(split, (sub >> 1) * 4, 0)
        self.leaf_x = self.node_x[node] + np.where(split, (sub & 1) * 4, 0)
        self.leaf_z = self.node_z[node] + np.where(split, sub, 0)
        self.leaf_key = self.node_key[node] - self.node_z[node] + self.leaf_z

    def _maps(self):
        """Unit (4x4) -> leaf index, and each leaf's left, upper, upper-left neighbour."""
        geo = self.geo
        self.unit_leaf = np.empty((geo.uh, geo.uw), np.int64)
        for n in SIZES:
            sel = np.flatnonzero(self.leaf_size == n)
            k = n // 4
            r, c = self.leaf_y[sel] // 4, self.leaf_x[sel] // 4
            for i in range(k):
                for j in range(k):
                    self.unit_leaf[r + i, c + j] = sel
        r, c = self.leaf_y // 4, self.leaf_x // 4

        def at(rr, cc):
            ok = (rr >= 0) & (cc >= 0)
            return np.where(ok, self.unit_leaf[np.maximum(rr, 0), np.maximum(cc, 0)], -1)

        self.neighbours = np.stack([at(r, c - 1), at(r - 1, c), at(r - 1, c - 1)])

    def groups(self, keys, select):
        """Indices of the selected items grouped by key, in ascending key order."""
        idx = np.flatnonzero(select)
        if len(idx) == 0:
            return []
        idx = idx[np.argsort(keys[idx], kind="stable")]
        cuts = np.flatnonzero(np.diff(keys[idx])) + 1
        return np.split(idx, cuts)


# ---------------------------------------------------------------- intra prediction

def intra_edges(plane, y, x, n):
    """Top row and left column (N, n) from `plane`, substituted where outside the frame."""
    span = np.arange(n)
    has_top, has_left = (y > 0)[:, None], (x > 0)[:, None]
    top = plane[np.maximum(y - 1, 0)[:, None], x[:, None] + span].astype(np.int32)
    left = plane[y[:, None] + span, np.maximum(x - 1, 0)[:, None]].astype(np.int32)
    top = np.where(has_top, top, np.where(has_left, left[:, :1], 128))
    left = np.where(has_left, left, top[:, :1])
    dc_sum = np.where(has_top & has_left, top.sum(1, keepdims=True) + left.sum(1, keepdims=True),
                      2 * np.where(has_top, top, left).sum(1, keepdims=True))
    dc = (dc_sum + n) // (2 * n)
    return top, left, dc


def intra_modes(top, left, dc, n):
    """(N, NMODES, n, n) predictions of every mode from the edges."""
    i = np.arange(n)[:, None]
    j = np.arange(n)[None, :]
    shift = int(math.log2(n)) + 1
    out = np.empty((len(top), NMODES, n, n), np.int16)
    out[:, DC] = dc[:, :, None]
    out[:, VER] = top[:, None, :]
    out[:, HOR] = left[:, :, None]
    out[:, PLANAR] = ((n - 1 - j) * left[:, :, None] + (j + 1) * top[:, None, n - 1:n]
                      + (n - 1 - i) * top[:, None, :] + (i + 1) * left[:, None, n - 1:n]
                      + n) >> shift
    return out


def intra_predict(plane, y, x, n, modes):
    """(N, n, n) intra predictions of the given modes from the decoded `plane`."""
    preds = intra_modes(*intra_edges(plane, y, x, n), n)
    return preds[np.arange(len(y)), modes]


def all_intra(plane, y, x, n):
    """(N, NMODES, n, n): every intra mode's prediction."""
    return intra_modes(*intra_edges(plane, y, x, n), n)


# ---------------------------------------------------------------- motion resolution

def zero_motion(count, bidir):
    return {"dir": np.full(count, BI if bidir else L0), "ref": np.zeros((count, 2), np.int64),
            "mv": np.zeros((count, 2, 2), np.int64)}


def median3(a, b, c):
    return np.maximum(np.minimum(a, b), np.minimum(np.maximum(a, b), c))


def mv_predictor(motion, usable, nb, lst, ref):
    """A leaf's predicted vector in list lst from its left, upper and upper-left
    neighbours: the one neighbour using the same reference if there is exactly one (a
    vector to another reference has another length), else the only neighbour with a
    vector in that list, else the median (missing vectors count as zero)."""
    has = usable[nb] & ((motion["dir"][nb] == lst) | (motion["dir"][nb] == BI)) & (nb >= 0)
    mv = np.where(has[..., None], motion["mv"][nb, lst], 0)          # (3, N, 2)
    same = has & (motion["ref"][nb, lst] == ref[None, :])
    pred = median3(mv[0], mv[1], mv[2])
    pred = np.where((has.sum(0) == 1)[:, None], (mv * has[..., None]).sum(0), pred)
    return np.where((same.sum(0) == 1)[:, None], (mv * same[..., None]).sum(0), pred)


def merged(full, usable, nb, first, default):
    """Motion that skip leaves with merge choice `first` copy from their neighbours."""
    a, b = nb[0], nb[1]
    ua, ub = usable[a] & (a >= 0), usable[b] & (b >= 0)
    pick = np.where(first == 0, np.where(ua, a, np.where(ub, b, -2)),
                    np.where(ub, b, np.where(ua, a, -2)))
    out = {}
    for key, values in full.items():
        src = values[np.maximum(pick, 0)]
        out[key] = np.where((pick >= 0).reshape((-1,) + (1,) * (src.ndim - 1)), src,
                            default[key][0])
    return out


def resolve_motion(part, mode, motion, merge, mvd, bidir, encoding):
    """Final motion of every leaf, block by block in key order (the only sequential step).

    Skip nodes copy the motion of their left (merge 0) or upper (merge 1) neighbour, or
    the other, or none. Inter leaves: vector = median prediction + coded difference. The
    encoder passes its chosen vectors in `motion` and gets the differences back in `mvd`;
    the decoder passes the differences and gets the vectors.
    """
    leaf_mode = mode[part.leaf_node]
    usable = np.append(leaf_mode != INTRA, False)       # index -1: outside the frame
    full = {k: np.concatenate([v, v[:1] * 0]) for k, v in motion.items()}
    default = zero_motion(1, bidir)
    for idx in part.groups(part.leaf_key, leaf_mode != INTRA):
        nb = part.neighbours[:, idx]
        skip = leaf_mode[idx] == SKIP
        if skip.any():
            s = idx[skip]
            got = merged(full, usable, nb[:, skip], merge[part.leaf_node[s]], default)
            for key in full:
                full[key][s] = got[key]
        inter = ~skip
        if inter.any():
            s = idx[inter]
            for lst in (0, 1):
                pred = mv_predictor(full, usable, nb[:, inter], lst, full["ref"][s, lst])
                if encoding:
                    mvd[s, lst] = full["mv"][s, lst] - pred
                else:
                    full["mv"][s, lst] = pred + mvd[s, lst]
    out = {k: v[:-1] for k, v in full.items()}
    for lst, other in ((0, L1), (1, L0)):      # an unused list carries nothing
        out["mv"][out["dir"] == other, lst] = 0
        out["ref"][out["dir"] == other, lst] = 0
    return out


def resolve_encoder(part, mode, motion, merge, bidir):
    """What resolve_motion computes, without its sequential loop (encoder only).

    Availability of a neighbour depends only on modes, so each skip leaf's merge target is
    known up front; following those pointers to a non-skip leaf (pointer doubling) gives
    the merged motion of every skip leaf at once. The inter leaves' vectors are known, so
    their predictors and differences then follow in one batch. A test holds both paths to
    the same result.
    """
    leaf_mode = mode[part.leaf_node]
    count = len(leaf_mode)
    usable = np.append(leaf_mode != INTRA, False)
    nb = part.neighbours
    a, b = nb[0], nb[1]
    ua, ub = usable[a] & (a >= 0), usable[b] & (b >= 0)
    first = merge[part.leaf_node]
    pick = np.where(first == 0, np.where(ua, a, np.where(ub, b, count)),
                    np.where(ub, b, np.where(ua, a, count)))
    pointer = np.append(np.where(leaf_mode == SKIP, pick, np.arange(count)), count)
    for _ in range(int(math.log2(count + 1)) + 2):
        pointer = pointer[pointer]
    default = zero_motion(1, bidir)
    full = {k: np.concatenate([v, default[k]]) for k, v in motion.items()}
    full = {k: v[pointer] for k, v in full.items()}
    mvd = np.zeros((count, 2, 2), np.int64)
    inter = np.flatnonzero(leaf_mode == INTER)
    padded = {k: np.concatenate([v[:count], v[:1] * 0]) for k, v in full.items()}
    for lst in (0, 1):
        pred = mv_predictor(padded, usable, nb[:, inter], lst, full["ref"][inter, lst])
        mvd[inter, lst] = full["mv"][inter, lst] - pred
    out = {k: v[:count] for k, v in full.items()}
    for lst, other in ((0, L1), (1, L0)):
        out["mv"][out["dir"] == other, lst] = 0
        out["ref"][out["dir"] == other, lst] = 0
        mvd[out["dir"] == other, lst] = 0
    return out, mvd


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
        if len(probs) == 0:
            return np.zeros(0, np.int64)
        if self.decoding:
            return self.coder.decode(CATEGORICAL, probs).astype(np.int64)
        self.coder.encode(np.asarray(symbols, np.int32), CATEGORICAL, probs)
        return np.asarray(symbols, np.int64)

    def uniform(self, values, sizes):
        """values[i] uniform in [0, sizes[i]), every size at least 2."""
        if len(sizes) == 0:
            return np.zeros(0, np.int64)
        if self.decoding:
            return self.coder.decode(UNIFORM, sizes.astype(np.int32)).astype(np.int64)
        self.coder.encode(np.asarray(values, np.int32), UNIFORM, sizes.astype(np.int32))
        return np.asarray(values, np.int64)

    def bits(self, bits, n):
        if n == 0:
            return np.zeros(0, np.int64)
        if self.decoding:
            return self.coder.decode(BIT, n).astype(np.int64)
        self.coder.encode(np.asarray(bits, np.int32), BIT)
        return np.asarray(bits, np.int64)


class Model:
    """Symbol counts per context, learnt while coding in chunks (both sides alike)."""

    def __init__(self, contexts, prior):
        self.counts = np.tile(np.asarray(prior, np.float64), (contexts, 1))
        self.seen = np.zeros(contexts)
        self._cost = None

    def code(self, ch, symbols, ctx):
        ctx = np.asarray(ctx, np.int64)
        out = np.empty(len(ctx), np.int64)
        start = 0
        while start < len(ctx):
            typical = self.seen[ctx[start:start + MIN_CHUNK]].mean()
            stop = min(len(ctx), start + max(MIN_CHUNK, int(typical) // 2))
            part = ctx[start:stop]
            given = None if symbols is None else symbols[start:stop]
            got = ch.categorical(given, self.counts[part].astype(np.float32))
            out[start:stop] = got
            self.learn(part, got)
            start = stop
        return out

    def learn(self, ctx, symbols):
        hist = np.bincount(ctx * self.counts.shape[1] + symbols, minlength=self.counts.size)
        hist = hist.reshape(self.counts.shape)
        self.counts += hist
        self.seen += hist.sum(axis=1)
        full = self.counts.sum(axis=1) > MAX_COUNT
        if full.any():
            self.counts[full] *= 0.5
        self._cost = None

    def cost(self):
        """Bits of each symbol in each context under the current counts (for decisions)."""
        if self._cost is None:
            p = self.counts / self.counts.sum(axis=1, keepdims=True)
            self._cost = -np.log2(p)
        return self._cost


def bit_length(v):
    return np.frexp(np.asarray(v, np.float64))[1].astype(np.int64)   # 0 -> 0, 1 -> 1, 2..3 -> 2


def code_unsigned(ch, model, values, ctx):
    """Exp-Golomb style: the bit length of each value through the model, then its low bits."""
    cls = model.code(ch, None if values is None else bit_length(values), ctx)
    long = cls > 1
    low = None if values is None else (values - (1 << np.maximum(cls - 1, 0)))[long]
    out = np.where(cls > 0, 1 << np.maximum(cls - 1, 0), 0)
    out[long] += ch.uniform(low, 1 << (cls[long] - 1))
    return out


def unsigned_bits(model_cost, values, ctx):
    """Estimated bits of code_unsigned (for decisions)."""
    cls = bit_length(values)
    return model_cost[ctx, np.minimum(cls, model_cost.shape[1] - 1)] + np.maximum(cls - 1, 0)


def code_signed(ch, model, values, ctx):
    mag = code_unsigned(ch, model, None if values is None else np.abs(values), ctx)
    nz = mag != 0
    signs = ch.bits(None if values is None else (values[nz] < 0), int(nz.sum()))
    mag[nz] *= 1 - 2 * signs
    return mag


def signed_bits(model_cost, values, ctx):
    return unsigned_bits(model_cost, np.abs(values), ctx) + (values != 0)


NBANDS = 17
BAND = {n: np.minimum((2 * np.log2(np.arange(n * n) + 1)).astype(int), NBANDS - 1) for n in SIZES}


def scan_neighbours(n):
    """Zig-zag position of the left and upper neighbour of each position (n*n = none)."""
    zz = ZIGZAG[n]
    where = np.empty(n * n, int)
    where[zz] = np.arange(n * n)
    i, j = np.divmod(zz, n)
    left = np.where(j > 0, where[np.maximum(zz - 1, 0)], n * n)
    up = np.where(i > 0, where[np.maximum(zz - n, 0)], n * n)
    return left, up


NEIGHBOURS = {n: scan_neighbours(n) for n in SIZES}
SIZE_INDEX = {4: 0, 8: 1, 16: 2}
NCLASS = 5


def make_models():
    """Every context model, with priors that make the first frame cheap to learn."""
    flags = Model(64, [1.0, 1.0])
    return {
        "dqp": Model(3, 0.5 ** np.arange(6)),
        "split": Model(16, [1.0, 1.0]), "skip": Model(32, [1.0, 1.0]), "intra": flags,
        "merge": Model(4, [1.0, 1.0]), "imode": Model(8, np.ones(NMODES)),
        "dir": Model(4, np.ones(3)), "ref": Model(4, 0.5 ** np.arange(NUM_REFS)),
        "mvd": Model(8, 0.6 ** np.arange(16)),
        "last": Model(2 * 3 * 2, 0.8 ** np.arange(10)),
        "coef": Model(2 * 3 * 2 * NBANDS * 2 * NCLASS, 2.0 / (1 + np.arange(ESCAPE + 1)) ** 2),
        "escape": Model(2, 0.5 ** np.arange(24)),
    }


def ctx(kind, value):
    """A context id under ENTROPY_CONTEXTS: `single` keeps one context per element."""
    if ENTROPY_CONTEXTS == "single":
        return np.zeros_like(np.asarray(value))
    if kind == "temporal" and ENTROPY_CONTEXTS != "neighbour":
        return np.zeros_like(np.asarray(value))
    return np.asarray(value)


def last_positions(q):
    """1 + zig-zag index of each block's last non-zero level, 0 for an empty block."""
    nz = q != 0
    nn = q.shape[1]
    return np.where(nz.any(axis=1), nn - np.argmax(nz[:, ::-1], axis=1), 0)


def coef_contexts(n, k, final, mag_left, mag_up, group):
    """Context of position k: plane/size/intra group, band, last-flag, neighbour class."""
    if ENTROPY_CONTEXTS == "single":
        return group // 6
    nbr = np.minimum(mag_left, 2) + np.minimum(mag_up, 2)
    if ENTROPY_CONTEXTS == "position":
        nbr = nbr * 0
    return ((group * NBANDS + BAND[n][k]) * 2 + final) * NCLASS + nbr


def diagonal_ranges(n):
    """(first, last + 1) zig-zag positions of each anti-diagonal: the scan visits them in
    order, and a position's left and upper neighbours lie on the diagonal before."""
    i, j = np.divmod(ZIGZAG[n], n)
    d = i + j
    return [(int(np.argmax(d == k)), int(np.argmax(d == k)) + int((d == k).sum()))
            for k in range(2 * n - 1)]


DIAGONALS = {n: diagonal_ranges(n) for n in SIZES}


def code_coefficients(ch, models, q, n, group):
    """Levels of same-size blocks: last positions, magnitudes by anti-diagonal, escapes, signs.

    One anti-diagonal of every block is coded at once, so a position's context can use
    its left and upper neighbours (on the diagonal before) while the coder is called once
    per diagonal, not once per position. group = (plane class * 3 + size index) * 2 +
    intra, per block.
    """
    count, nn = len(group), n * n
    last = code_unsigned(ch, models["last"], None if q is None else last_positions(q),
                         ctx("coef", group))
    mag = np.zeros((count, nn + 1), np.int64)
    escaped = np.zeros((count, nn), bool)
    left, up = NEIGHBOURS[n]
    longest = int(last.max(initial=0))
    for k0, k1 in DIAGONALS[n]:
        if k0 >= longest:
            break
        rows, pos = np.nonzero(last[:, None] > np.arange(k0, k1)[None, :])
        k = pos + k0
        final = (last[rows] == k + 1).astype(np.int64)
        sym = None if q is None else np.minimum(np.abs(q[rows, k]) - final, ESCAPE)
        c = coef_contexts(n, k, final, mag[rows, left[k]], mag[rows, up[k]], group[rows])
        sym = models["coef"].code(ch, sym, c)
        mag[rows, k] = sym + final
        escaped[rows, k] = sym == ESCAPE
    mag = mag[:, :nn]
    rest = None if q is None else np.abs(q[escaped]) - mag[escaped]
    plane_class = group[np.nonzero(escaped)[0]] // 6
    mag[escaped] += code_unsigned(ch, models["escape"], rest, plane_class)
    nonzero = mag > 0
    signs = ch.bits(None if q is None else (q[nonzero] < 0), int(nonzero.sum()))
    mag[nonzero] *= 1 - 2 * signs
    return mag


def coefficient_bits(costs, q, n, group):
    """Estimated bits of code_coefficients for each block (vectorised over all positions,
    only up to the furthest last position)."""
    last = last_positions(q)
    bits = unsigned_bits(costs["last"], last, ctx("coef", group))
    rows = np.flatnonzero(last)
    if len(rows) == 0:
        return bits
    kmax = int(last[rows].max())
    mag = np.abs(q[rows, :kmax])
    capped = np.concatenate([np.minimum(mag, 2), np.zeros((len(rows), 1), mag.dtype)], axis=1)
    left, up = (np.minimum(a[:kmax], kmax) for a in NEIGHBOURS[n])
    k = np.arange(kmax)
    lr = last[rows][:, None]
    final = (k == lr - 1).astype(np.int64)
    sym = np.minimum(mag - final, ESCAPE)
    c = coef_contexts(n, k, final, capped[:, left], capped[:, up], group[rows][:, None])
    table = costs["coef"]
    coef = np.where(k < lr, table.ravel()[c * table.shape[1] + sym], 0.0).sum(axis=1)
    escape = np.maximum(mag - ESCAPE - final, 0)
    coef += np.where(sym == ESCAPE, 2 * np.log2(escape + 1) + 1, 0.0).sum(axis=1)
    bits[rows] += coef + (mag > 0).sum(axis=1)
    return bits


# ---------------------------------------------------------------- frame syntax

KIND_INDEX = {"I": 0, "P": 1, "B": 2}


class History:
    """What both sides remember of the previous coded frame, for temporal contexts."""

    def __init__(self, geo):
        self.split16 = np.zeros((geo.mbh, geo.mbw), np.int64)
        self.split8 = np.zeros((geo.mbh, geo.mbw, 2, 2), np.int64)
        self.skip = np.zeros((geo.uh, geo.uw), np.int64)

    def update(self, part, mode):
        self.split16 = part.split16.astype(np.int64)
        self.split8 = part.split8.astype(np.int64)
        self.skip = (mode[part.leaf_node] == SKIP)[part.unit_leaf].astype(np.int64)


def code_flags(ch, model, flags, context):
    return model.code(ch, None if flags is None else flags.astype(np.int64), context)


def code_partition(ch, models, geo, kind, syn, hist):
    """Split flags of macroblocks, then of the 8x8 quadrants of split macroblocks."""
    k = KIND_INDEX[kind]
    split16 = np.zeros((geo.mbh, geo.mbw), bool)
    split8 = np.zeros((geo.mbh, geo.mbw, 2, 2), bool)
    if PARTITION_DEPTH >= 1:
        given = None if syn is None else syn["split16"].ravel()
        c = k * 2 + ctx("temporal", hist.split16.ravel())
        split16 = code_flags(ch, models["split"], given, ctx("flag", c)).reshape(split16.shape) > 0
    if PARTITION_DEPTH >= 2:
        where = np.broadcast_to(split16[:, :, None, None], split8.shape)
        given = None if syn is None else syn["split8"][where]
        c = 8 + k * 2 + ctx("temporal", hist.split8[where])
        split8[where] = code_flags(ch, models["split"], given, ctx("flag", c)) > 0
    return split16, split8


def code_modes(ch, models, part, kind, syn, hist):
    """Node modes (skip flag, intra flag), merge choices of skip nodes."""
    count = len(part.node_size)
    if kind == "I":
        return np.full(count, INTRA), np.zeros(count, np.int64)
    k = KIND_INDEX[kind] - 1
    mode = np.full(count, INTER)
    may_skip = ~part.node_split
    given = None if syn is None else (syn["mode"][may_skip] == SKIP)
    prev = hist.skip[part.node_y[may_skip] // 4, part.node_x[may_skip] // 4]
    c = (k * 2 + (part.node_size[may_skip] == 16)) * 2 + ctx("temporal", prev)
    skip = code_flags(ch, models["skip"], given, ctx("flag", c)) > 0
    mode[np.flatnonzero(may_skip)[skip]] = SKIP
    coded = mode != SKIP
    node_class = np.where(part.node_size == 16, 2, part.node_split.astype(np.int64))
    given = None if syn is None else (syn["mode"][coded] == INTRA)
    intra = code_flags(ch, models["intra"], given, ctx("flag", k * 3 + node_class[coded])) > 0
    mode[np.flatnonzero(coded)[intra]] = INTRA
    merge = np.zeros(count, np.int64)
    skipped = mode == SKIP
    given = None if syn is None else syn["merge"][skipped]
    merge[skipped] = code_flags(ch, models["merge"], given, ctx("flag", np.full(skipped.sum(), k)))
    return mode, merge


def code_intra_modes(ch, models, part, mode, syn):
    leaf_intra = mode[part.leaf_node] == INTRA
    imode = np.zeros(len(part.leaf_size), np.int64)
    given = None if syn is None else syn["imode"][leaf_intra]
    c = part.leaf_size[leaf_intra] >> 3
    imode[leaf_intra] = models["imode"].code(ch, given, ctx("flag", c))
    cmode = np.zeros(len(part.node_size), np.int64)
    node_intra = mode == INTRA
    given = None if syn is None else syn["cmode"][node_intra]
    c = 4 + (part.node_size[node_intra] == 16)
    cmode[node_intra] = models["imode"].code(ch, given, ctx("flag", c))
    return imode, cmode


def code_motion(ch, models, part, mode, kind, nrefs, syn):
    """Direction (B frames), reference index and vector difference of each inter leaf."""
    count = len(part.leaf_size)
    inter = np.flatnonzero(mode[part.leaf_node] == INTER)
    direction = np.zeros(count, np.int64)
    if kind == "B":
        given = None if syn is None else syn["dir"][inter]
        direction[inter] = models["dir"].code(ch, given, ctx("flag", part.leaf_size[inter] >> 3))
    ref = np.zeros((count, 2), np.int64)
    mvd = np.zeros((count, 2, 2), np.int64)
    for lst in (0, 1):
        use = inter[(direction[inter] == lst) | (direction[inter] == BI)]
        if nrefs[lst] > 1:
            given = None if syn is None else syn["ref"][use, lst]
            ref[use, lst] = models["ref"].code(ch, given, ctx("flag", np.full(len(use), lst)))
        given = None if syn is None else syn["mvd"][use, lst] // MV_UNIT
        dx = code_signed(ch, models["mvd"], None if given is None else given[:, 1],
                         ctx("flag", np.full(len(use), 4 * lst)))
        cy = 4 * lst + 1 + np.minimum(bit_length(np.abs(dx)), 2)
        dy = code_signed(ch, models["mvd"], None if given is None else given[:, 0],
                         ctx("flag", cy))
        mvd[use, lst] = np.stack([dy, dx], axis=1) * MV_UNIT
    return direction, ref, mvd


def coefficient_groups(part, mode):
    """(plane class, size, index arrays) of the blocks that carry coefficients."""
    out = []
    leaf_coded = mode[part.leaf_node] != SKIP
    for n in SIZES:
        leaves = np.flatnonzero(leaf_coded & (part.leaf_size == n))
        out.append((0, n, leaves))
    csize = np.where(part.node_split, 4, part.node_size // 2)
    for n in (4, 8):
        out.append((1, n, np.flatnonzero((mode != SKIP) & (csize == n))))
    return out


def code_residuals(ch, models, part, mode, syn):
    """Levels of every coded block: luma per leaf size, then chroma (U, V) per node size."""
    luma, chroma = {}, {}
    leaf_intra = mode[part.leaf_node] == INTRA
    for plane_class, n, idx in coefficient_groups(part, mode):
        intra = (leaf_intra[idx] if plane_class == 0 else mode[idx] == INTRA).astype(np.int64)
        if plane_class == 1:
            intra = np.concatenate([intra, intra])
        group = (plane_class * 3 + SIZE_INDEX[n]) * 2 + intra
        store = luma if plane_class == 0 else chroma
        given = None if syn is None else syn["luma" if plane_class == 0 else "chroma"][n]
        store[n] = code_coefficients(ch, models, given, n, group)
    return luma, chroma


def code_frame(ch, models, geo, frame, syn, hist):
    """The whole syntax of one frame in coding order; syn is None when decoding."""
    out = {}
    out["dqp"] = np.zeros(geo.mbh * geo.mbw, np.int64)
    if MBTREE:
        diff = None if syn is None else np.diff(syn["dqp"], prepend=0)
        zeros = np.zeros(geo.mbh * geo.mbw, np.int64)
        out["dqp"] = np.cumsum(code_signed(ch, models["dqp"], diff, zeros))
    out["split16"], out["split8"] = code_partition(ch, models, geo, frame.kind, syn, hist)
    part = Partition(geo, out["split16"], out["split8"])
    out["mode"], out["merge"] = code_modes(ch, models, part, frame.kind, syn, hist)
    out["imode"], out["cmode"] = code_intra_modes(ch, models, part, out["mode"], syn)
    nrefs = (len(frame.l0), len(frame.l1))
    out["dir"], out["ref"], out["mvd"] = code_motion(ch, models, part, out["mode"], frame.kind,
                                                     nrefs, syn)
    out["luma"], out["chroma"] = code_residuals(ch, models, part, out["mode"], syn)
    hist.update(part, out["mode"])
    return out, part


# ---------------------------------------------------------------- reconstruction

def block_view(plane, n):
    """(H/n, W/n, n, n) view of a plane: assign blocks by their block coordinates."""
    h, w = plane.shape
    return plane.reshape(h // n, n, w // n, n).swapaxes(1, 2)


def take_blocks(plane, y, x, n):
    """(N, n, n) copies of the blocks at (y, x); each position a multiple of n."""
    return block_view(plane, n)[y // n, x // n]


def put_blocks(plane, y, x, blocks):
    n = blocks.shape[-1]
    block_view(plane, n)[y // n, x // n] = blocks


CHROMA_KNEE = 30      # above this QP chroma's QP rises at about half the rate of luma's


def chroma_qp(qp):
    """Chroma QP of luma QP qp: chroma is smooth, so at coarse quantisers it keeps more of
    its quality per bit than luma; past the knee its QP grows only about half as fast (the
    idea of H.264's chroma QP table, as a formula), then CHROMA_QP_OFFSET."""
    qp = np.asarray(qp)
    knee = np.where(qp > CHROMA_KNEE, CHROMA_KNEE + ((qp - CHROMA_KNEE) * 9 + 8) // 16, qp)
    return clip(knee + CHROMA_QP_OFFSET, 0, QP_MAX)


LUMA_OF_CHROMA = np.array([int(np.argmax(chroma_qp(np.arange(QP_MAX + 1)) >= c))
                           for c in range(QP_MAX + 1)])   # for lambda: the luma QP behind a chroma QP


class Coefficients:
    """Where each block's levels live in the frame syntax (luma by leaf, chroma by node).

    The decoder reads levels from here; the encoder's quantiser writes them here, so the
    same reconstruction code serves both sides.
    """

    def __init__(self, part, mode, syn, quantiser=None):
        self.syn, self.quantiser = syn, quantiser
        self.leaf_row = np.zeros(len(part.leaf_size), np.int64)
        self.node_row = np.zeros(len(part.node_size), np.int64)
        self.count = {}
        for plane_class, n, idx in coefficient_groups(part, mode):
            rows = self.leaf_row if plane_class == 0 else self.node_row
            rows[idx] = np.arange(len(idx))
            self.count[plane_class, n] = len(idx)
            key = "luma" if plane_class == 0 else "chroma"
            if quantiser is not None:
                syn.setdefault(key, {})[n] = np.zeros(((1 + plane_class) * len(idx), n * n),
                                                      np.int64)

    def levels(self, plane, idx, src, pred, qp, intra):
        """Levels of blocks idx (leaves for luma, nodes for chroma) of plane 0, 1 or 2."""
        n = pred.shape[-1]
        if plane == 0:
            rows, table = self.leaf_row[idx], self.syn["luma"][n]
        else:
            rows = self.node_row[idx] + (plane - 1) * self.count[1, n]
            table = self.syn["chroma"][n]
        if self.quantiser is not None:
            table[rows] = self.quantiser(plane, src, pred, qp, intra)
        return table[rows]

    def rows(self, plane, idx, n):
        if plane == 0:
            return self.leaf_row[idx], self.syn["luma"][n]
        return self.node_row[idx] + (plane - 1) * self.count[1, n], self.syn["chroma"][n]

    def store(self, plane, idx, n, q):
        """Levels the encoder already chose for blocks idx (of plane 0, 1 or 2)."""
        rows, table = self.rows(plane, idx, n)
        table[rows] = q

    def read(self, plane, idx, n):
        rows, table = self.rows(plane, idx, n)
        return table[rows]

    def chroma_levels(self, idx, src, pred, qp, intra):
        """Levels of the U and V blocks of nodes idx at once: (U levels, V levels)."""
        n, count = pred[0].shape[-1], len(idx)
        rows = np.concatenate([self.node_row[idx], self.node_row[idx] + self.count[1, n]])
        table = self.syn["chroma"][n]
        if self.quantiser is not None:
            both = None if src[0] is None else np.concatenate(src)
            table[rows] = self.quantiser(1, both, np.concatenate(pred), np.concatenate([qp, qp]),
                                         intra)
        q = table[rows]
        return q[:count], q[count:]


def add_residual(pred, q, qp):
    return clip(pred + inverse(q, qp), 0, 255).astype(np.int16)


class Reconstruction:
    """Decoded planes of one frame from its partition, modes, motion and levels."""

    def __init__(self, geo, kind, part, syn, motion, qp_mb, refs, coefs, source=None,
                 cache=None):
        self.geo, self.part, self.syn, self.motion = geo, part, syn, motion
        self.frame_kind, self.cache = kind, cache
        self.refs, self.coefs, self.source = refs, coefs, source
        mb_of = (part.leaf_y // MB) * geo.mbw + part.leaf_x // MB
        self.leaf_qp = qp_mb[mb_of]
        self.node_qp = chroma_qp(qp_mb[(part.node_y // MB) * geo.mbw + part.node_x // MB])
        self.mode = syn["mode"]
        self.leaf_mode = self.mode[part.leaf_node]
        self.planes = [np.zeros((geo.ph, geo.pw), np.int16),
                       np.zeros((geo.ph // 2, geo.pw // 2), np.int16),
                       np.zeros((geo.ph // 2, geo.pw // 2), np.int16)]
        self.coded = np.zeros(len(part.leaf_size), bool)   # luma leaves with levels

    def src(self, plane, y, x, n):
        return None if self.source is None else take_blocks(self.source[plane], y, x, n)

    def run(self):
        if (self.mode != INTRA).any():
            self.inter_luma()
            self.inter_chroma()
        if (self.mode == INTRA).any():
            self.intra_luma()
            self.intra_chroma()
        return self.planes

    def cached(self, plane, n, y, x, leaves):
        """For blocks of size n at (y, x) of these leaves, those the encoder's decisions
        already predicted (and quantised) with the same motion: (hit mask, predictions,
        levels); never any in the decoder."""
        if self.cache is None:
            return np.zeros(len(leaves), bool), None, None
        return self.cache.get(plane, n, y, x, {k: v[leaves] for k, v in self.motion.items()})

    def inter_luma(self):
        part = self.part
        for n in SIZES:
            idx = np.flatnonzero((self.leaf_mode != INTRA) & (part.leaf_size == n))
            if len(idx) == 0:
                continue
            y, x = part.leaf_y[idx], part.leaf_x[idx]
            coded = self.leaf_mode[idx] == INTER
            hit, pred_hit, q_hit = self.cached(0, n, y, x, idx)
            pred = np.empty((len(idx), n, n), np.int16)
            if hit.any():
                pred[hit] = pred_hit
                reuse = coded[hit]
                self.coefs.store(0, idx[hit][reuse], n, q_hit[reuse])
            if (~hit).any():
                motion = {k: v[idx[~hit]] for k, v in self.motion.items()}
                pred[~hit] = predict(self.refs, motion, y[~hit], x[~hit], n, 0)
            miss = coded & ~hit
            if miss.any():
                self.coefs.levels(0, idx[miss], self.src(0, y[miss], x[miss], n), pred[miss],
                                  self.leaf_qp[idx[miss]], False)
            if coded.any():
                i = idx[coded]
                q = self.coefs.read(0, i, n)
                self.coded[i] = (q != 0).any(axis=1)
                pred[coded] = add_residual(pred[coded], q, self.leaf_qp[i])
            put_blocks(self.planes[0], y, x, pred)

    def inter_chroma(self):
        """Chroma prediction per leaf (2x2 blocks for 4x4 leaves), residual per node."""
        part = self.part
        csize = np.where(part.node_split, 4, part.node_size // 2)
        for plane in (1, 2):
            for n in SIZES:
                idx = np.flatnonzero((self.leaf_mode != INTRA) & (part.leaf_size == n))
                if len(idx) == 0:
                    continue
                y, x = part.leaf_y[idx], part.leaf_x[idx]
                hit, pred_hit, _q = self.cached(plane, n, y, x, idx)
                pred = np.empty((len(idx), n // 2, n // 2), np.int16)
                if hit.any():
                    pred[hit] = pred_hit
                if (~hit).any():
                    motion = {k: v[idx[~hit]] for k, v in self.motion.items()}
                    pred[~hit] = predict(self.refs, motion, y[~hit] // 2, x[~hit] // 2, n // 2,
                                         plane)
                put_blocks(self.planes[plane], y // 2, x // 2, pred)
            for n in (4, 8):
                idx = np.flatnonzero((self.mode == INTER) & (csize == n))
                if len(idx) == 0:
                    continue
                y, x = part.node_y[idx] // 2, part.node_x[idx] // 2
                pred = take_blocks(self.planes[plane], y, x, n)
                whole = ~part.node_split[idx]      # node == leaf: the decisions' levels fit it
                leaves = np.searchsorted(part.leaf_node, idx)
                hit, _p, q_hit = self.cached(plane, 2 * n, 2 * y, 2 * x, leaves)
                use = hit & whole
                if use.any():
                    self.coefs.store(plane, idx[use], n, q_hit[whole[hit]])
                miss = ~use
                if miss.any():
                    self.coefs.levels(plane, idx[miss], self.src(plane, y[miss], x[miss], n),
                                      pred[miss], self.node_qp[idx[miss]], False)
                q = self.coefs.read(plane, idx, n)
                put_blocks(self.planes[plane], y, x, add_residual(pred, q, self.node_qp[idx]))

    def intra_groups(self, keys, intra):
        """Intra blocks in groups of one key, in key order: each group after the blocks
        it predicts from (in inter frames those are mostly inter blocks, done before)."""
        return self.part.groups(keys, intra)

    def intra_luma(self):
        part = self.part
        for group in self.intra_groups(part.leaf_key, self.leaf_mode == INTRA):
            for n in SIZES[::-1]:
                idx = group[part.leaf_size[group] == n]
                if len(idx) == 0:
                    continue
                y, x = part.leaf_y[idx], part.leaf_x[idx]
                pred = intra_predict(self.planes[0], y, x, n, self.syn["imode"][idx])
                q = self.coefs.levels(0, idx, self.src(0, y, x, n), pred, self.leaf_qp[idx], True)
                self.coded[idx] = (q != 0).any(axis=1)
                put_blocks(self.planes[0], y, x, add_residual(pred, q, self.leaf_qp[idx]))

    def intra_chroma(self):
        """Chroma intra blocks in node key order, U and V together."""
        part = self.part
        csize = np.where(part.node_split, 4, part.node_size // 2)
        for group in self.intra_groups(part.node_key, self.mode == INTRA):
            for n in (8, 4):
                idx = group[csize[group] == n]
                if len(idx) == 0:
                    continue
                y, x, qp = part.node_y[idx] // 2, part.node_x[idx] // 2, self.node_qp[idx]
                pred = [intra_predict(self.planes[c], y, x, n, self.syn["cmode"][idx])
                        for c in (1, 2)]
                q = self.coefs.chroma_levels(idx, [self.src(c, y, x, n) for c in (1, 2)], pred,
                                             qp, True)
                for c in (1, 2):
                    put_blocks(self.planes[c], y, x, add_residual(pred[c - 1], q[c - 1], qp))


# ---------------------------------------------------------------- deblocking

def edge_strength(u, leaf_mode, coded, motion, ref_time):
    """Boundary strength of every vertical edge between the 4x4 units of leaf map u
    (rows, cols - 1): 2 intra, 1 coded levels or different motion, 0 otherwise or inside
    a leaf."""
    p, q = u[:, :-1], u[:, 1:]
    intra = (leaf_mode == INTRA)
    bs = np.where(intra[p] | intra[q], 2, 0)
    times = np.where(motion["dir"][:, None] == np.array([L1, L0]), -1,
                     ref_time[np.arange(2)[None, :], motion["ref"]])
    mv = np.where((times < 0)[..., None], 0, motion["mv"])
    moved = (times[p] != times[q]).any(-1) | (np.abs(mv[p] - mv[q]) >= 4).any((-1, -2))
    bs = np.where((bs == 0) & (coded[p] | coded[q] | moved), 1, bs)
    return np.where(p != q, bs, 0)


def filter_edges(x, bs, qp, luma):
    """Filter the vertical edges every 4 columns of x (int32, modified in place).

    bs and qp are per edge and row; only positions with bs > 0 are touched. All edges read
    the unfiltered picture and write disjoint pixels, so the order never matters.
    """
    rows, edge = np.nonzero(bs)
    if len(rows) == 0:
        return
    col = 4 * (edge + 1)
    bs, qp = bs[rows, edge], qp[rows, edge]
    p2, p1, p0 = x[rows, col - 3], x[rows, col - 2], x[rows, col - 1]
    q0, q1, q2 = x[rows, col], x[rows, col + 1], x[rows, col + 2]
    step = STEP64[qp] / 64.0
    alpha = DEBLOCK * step + 1
    beta = DEBLOCK * 0.3 * step + 1
    tc0 = np.floor(DEBLOCK * step * np.where(bs == 2, 0.1, 0.05)).astype(np.int32)
    on = (np.abs(p0 - q0) < alpha) & (np.abs(p1 - p0) < beta) & (np.abs(q1 - q0) < beta)
    ap, aq = np.abs(p2 - p0) < beta, np.abs(q2 - q0) < beta
    tc = tc0 + 1 if not luma else tc0 + ap + aq
    delta = clip(((q0 - p0) * 4 + (p1 - q1) + 4) >> 3, -tc, tc) * on
    x[rows, col - 1] = clip(p0 + delta, 0, 255)
    x[rows, col] = clip(q0 - delta, 0, 255)
    if luma:
        avg = (p0 + q0 + 1) >> 1
        x[rows, col - 2] = p1 + clip((p2 + avg - 2 * p1) >> 1, -tc0, tc0) * (on & ap)
        x[rows, col + 1] = q1 + clip((q2 + avg - 2 * q1) >> 1, -tc0, tc0) * (on & aq)


def deblock(planes, part, leaf_mode, coded, motion, ref_time, qp_mb):
    """In-loop deblocking of luma (every 4 pixels) and chroma (every 4 chroma pixels)."""
    if DEBLOCK <= 0:
        return planes
    qp_units = np.repeat(np.repeat(qp_mb.reshape(part.geo.mbh, part.geo.mbw), 4, 0), 4, 1)
    edges = {}
    for axis in (1, 0):
        unit = part.unit_leaf if axis == 1 else part.unit_leaf.T
        qp = qp_units if axis == 1 else qp_units.T
        edges[axis] = (edge_strength(unit, leaf_mode, coded, motion, ref_time),
                       (qp[:, :-1] + qp[:, 1:] + 1) >> 1)
    out = []
    for c, plane in enumerate(planes):
        x = plane.astype(np.int32)
        for axis in (1, 0):
            bs, qp = edges[axis]
            work = x if axis == 1 else x.T
            if c:
                bs, qp = np.repeat(bs[:, 1::2], 2, 0), np.repeat(chroma_qp(qp[:, 1::2]), 2, 0)
            else:
                bs, qp = np.repeat(bs, 4, 0), np.repeat(qp, 4, 0)
            filter_edges(work, bs, qp, c == 0)
        out.append(x.astype(np.int16))
    return out


# ---------------------------------------------------------------- motion search (encoder)

RING = np.array([(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)])
REF_SLACK = 1.15     # a further reference is searched where the lookahead puts it this close
CROSS = np.array([(0, 0), (-1, 0), (0, -1), (0, 1), (1, 0)])


def block_sums(x, b):
    """Sums over the b x b blocks of the last two axes; strided adds beat reshaped sums."""
    rows = x[..., 0::b, :].astype(np.int32)
    for i in range(1, b):
        rows += x[..., i::b, :]
    out = rows[..., 0::b].copy()
    for j in range(1, b):
        out += rows[..., j::b]
    return out


def halve(planes):
    return ((block_sums(planes, 2) + 2) >> 2).astype(np.int16)


MV_BITS = 2 * np.log2(1 + np.arange(4 * MV_LIMIT + 1) / MV_UNIT) + 1


def mv_bits(d):
    """Rough bits of vector differences d (..., 2) in quarter pels, from a table."""
    a = np.minimum(np.abs(d), 4 * MV_LIMIT)
    return MV_BITS[a[..., 0]] + MV_BITS[a[..., 1]]


def exhaustive_search(cur, ref, r, b, lam):
    """Best integer shift within +-r of every b x b block of cur; ref is padded by r."""
    h, w = cur.shape
    best = np.full((h // b, w // b), np.inf)
    vec = np.zeros((h // b, w // b, 2), np.int64)
    dx = np.arange(-r, r + 1)
    for dy in range(-r, r + 1):
        windows = sliding_window_view(ref[r + dy:r + dy + h], w, axis=1)   # (h, 2r+1, w)
        d = windows - cur[:, None, :]
        sad = block_sums(np.abs(d, out=d).transpose(1, 0, 2), b)           # (2r+1, h/b, w/b)
        cost = sad + lam * (2 * np.log2(1 + np.hypot(dy, dx)) + 1)[:, None, None]
        k = np.argmin(cost, axis=0)
        c = np.take_along_axis(cost, k[None], 0)[0]
        better = c < best
        best = np.where(better, c, best)
        vec[better] = np.stack([np.full(better.sum(), dy), dx[k[better]]], axis=1)
    return vec


class BlockMatcher:
    """SADs of the b x b blocks of one picture against displaced blocks of a padded plane
    stack (phases), at a granularity g <= b: each block's SAD comes back per g x g part."""

    def __init__(self, cur, stack, b, margin):
        h, w = cur.shape
        self.b, self.margin = b, margin
        self.target = np.ascontiguousarray(block_view(cur, b)).reshape(-1, b, b)
        self.windows = sliding_window_view(stack, (b, b), axis=(1, 2))
        gy, gx = np.divmod(np.arange((h // b) * (w // b)), w // b)
        self.oy, self.ox = gy * b + margin, gx * b + margin

    def sad(self, vec, which, g=None):
        """vec in quarter pels (phases) for blocks `which`; SAD per g x g part."""
        phase = (vec[:, 0] & 3) * 4 + (vec[:, 1] & 3)
        blocks = self.windows[phase, self.oy[which] + (vec[:, 0] >> 2),
                              self.ox[which] + (vec[:, 1] >> 2)]
        d = blocks - self.target[which]
        np.abs(d, out=d)
        g = g or self.b
        return block_sums(d, g).reshape(len(d), (self.b // g) ** 2)


def refine_search(matcher, vec, sad, steps, lam, pred, which, parts, limit=MV_LIMIT):
    """Move each block by the best of `steps` (quarter pels) while it lowers SAD + rate.

    sad holds (blocks, parts) SADs of the current vectors; parts are summed for the
    block's own cost. Returns the vectors, their part SADs and every tried candidate as
    (vectors, part SADs) so that sub-blocks may pick among them.
    """
    tried = []
    cost = sad.sum(1) + lam * mv_bits(vec - pred)
    best_vec, best_sad = vec.copy(), sad.copy()
    for step in steps:
        cand = clip(vec + step, -limit, limit)
        s = matcher.sad(cand, which, parts)
        tried.append((cand, s))
        c = s.sum(1) + lam * mv_bits(cand - pred)
        better = c < cost
        cost = np.where(better, c, cost)
        best_vec[better], best_sad[better] = cand[better], s[better]
    return best_vec, best_sad, tried


def search_stages():
    """Integer cross, then half- and quarter-pel steps as SUBPEL allows (quarter pels):
    the 8 neighbours (square) or the 4 nearest (diamond) around the best so far."""
    ring = RING if SUBPEL_PATTERN == "square" else CROSS[1:]
    stages = [CROSS[1:] * 4]
    if SUBPEL in ("half", "quarter"):
        stages.append(ring * 2)
    if SUBPEL == "quarter":
        stages.append(ring)
    return stages


def mb_search(cur, ref, start, lam, pred, which, g):
    """Full-size search of macroblocks `which` against one reference from lookahead
    vectors `start` (quarter pels): integer cross, then the sub-pel rings.

    Returns (vectors, SAD per g x g part) of the best candidate of each macroblock and
    every candidate tried, so 8x8 and 4x4 blocks can pick their own best among them.
    """
    matcher = BlockMatcher(cur, ref.phases, MB, MARGIN)
    vec = clip(start, -MV_LIMIT, MV_LIMIT)
    sad = matcher.sad(vec, which, g)
    tried = [(vec, sad)]
    for steps in search_stages():
        vec, sad, more = refine_search(matcher, vec, sad, steps, lam, pred, which, g)
        tried += more
    return vec, sad, tried


# ---------------------------------------------------------------- lookahead and macroblock tree

class Lookahead:
    """Integer motion between source frames at half size (8x8 blocks = macroblocks).

    Found once per (frame, reference) pair: exhaustively at quarter size, or from the
    vectors of a nearer pair of the same frame (SEARCH = predictive), then refined at half
    size. Its vectors seed the full-size search; its costs drive the macroblock tree.
    """

    def __init__(self, luma):
        self.half = halve(luma)
        self.quarter = halve(self.half)
        self.pad = MARGIN // 2
        self.found = {}
        self._intra = {}

    def stack(self, t):
        return np.pad(self.half[t], self.pad, mode="edge")[None]

    def intra(self, t):
        """Per macroblock: SAD of the half-size block around its mean (a DC-intra cost)."""
        if t not in self._intra:
            blocks = np.ascontiguousarray(block_view(self.half[t], 8)).reshape(-1, 64)
            self._intra[t] = np.abs(blocks - blocks.mean(1, keepdims=True)).sum(1) + 16.0
        return self._intra[t]

    def coarse(self, t, r):
        """(vectors in half-size pixels (mbh, mbw, 2), whether found exhaustively).

        Exhaustive at quarter size for the first reference on each side of the frame
        (SEARCH = exhaustive) or only for the frame's first pair (predictive); otherwise
        the vectors of the nearest pair already found, scaled by temporal distance.
        """
        near = [p for p in self.found if p[0] == t
                and (SEARCH == "predictive" or (p[1] - t) * (r - t) > 0)]
        if near:
            t0, r0 = min(near, key=lambda p: abs(p[1] - p[0]))
            scale = (r - t) / (r0 - t0)
            return np.rint(self.found[t0, r0][0] / 2 * scale).astype(np.int64), False
        rng = -(-SEARCH_RANGE // 4)
        ref = np.pad(self.quarter[r], rng, mode="edge")
        return 2 * exhaustive_search(self.quarter[t], ref, rng, 4, 4.0), True

    def pair(self, t, r):
        """(vectors in full pels (mbh, mbw, 2), half-size SAD per macroblock)."""
        if (t, r) in self.found:
            return self.found[t, r]
        vec, exhaustive = self.coarse(t, r)
        vec = vec.reshape(-1, 2)
        matcher = BlockMatcher(self.half[t], self.stack(r), 8, self.pad)
        which = np.arange(len(vec))
        limit = MV_LIMIT // 8
        vec = clip(vec, -limit, limit) * 4
        sad = matcher.sad(vec, which)
        for _ in range(1 if exhaustive else 3):
            vec, sad, _tried = refine_search(matcher, vec, sad, RING * 4, 4.0, vec, which, None,
                                             limit=4 * limit)
        vec = vec // 4
        shape = self.half.shape[1] // 8, self.half.shape[2] // 8
        self.found[t, r] = (2 * vec.reshape(shape + (2,)), sad[:, 0].astype(np.float64))
        return self.found[t, r]

    def bi_cost(self, t, r0, r1):
        """Half-size SAD of the average of the two lists' best blocks."""
        (v0, _), (v1, _) = self.pair(t, r0), self.pair(t, r1)
        blocks, target = [], None
        for r, v in ((r0, v0), (r1, v1)):
            m = BlockMatcher(self.half[t], self.stack(r), 8, self.pad)
            vv = v.reshape(-1, 2) // 2
            blocks.append(m.windows[0, m.oy + vv[:, 0], m.ox + vv[:, 1]].astype(np.int32))
            target = m.target
        avg = (blocks[0] + blocks[1] + 1) >> 1
        return np.abs(avg - target).reshape(len(avg), -1).sum(1).astype(np.float64)


def best_inter(look, frame):
    """Per macroblock of a frame: lookahead cost, list choice and vectors of the best
    prediction (list 0 nearest ref, list 1 nearest ref, or both)."""
    options = []
    for r in frame.l0 + frame.l1:
        vec, cost = look.pair(frame.t, r)
        options.append((cost, [(r, vec.reshape(-1, 2), 1.0)]))
    if frame.l0 and frame.l1:
        r0, r1 = frame.l0[0], frame.l1[0]
        parts = [(r0, look.pair(frame.t, r0)[0].reshape(-1, 2), 0.5),
                 (r1, look.pair(frame.t, r1)[0].reshape(-1, 2), 0.5)]
        options.append((look.bi_cost(frame.t, r0, r1), parts))
    costs = np.stack([c for c, _ in options])
    return costs.min(0), costs.argmin(0), options


def spread(target, geo, amount, vec):
    """Add each macroblock's amount to the macroblocks its displaced area overlaps."""
    mb_r, mb_c = np.divmod(np.arange(geo.mbh * geo.mbw), geo.mbw)
    y = mb_r * MB + vec[:, 0]
    x = mb_c * MB + vec[:, 1]
    y0, x0 = np.floor_divide(y, MB), np.floor_divide(x, MB)
    fy, fx = (y - y0 * MB) / MB, (x - x0 * MB) / MB
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            r, c = y0 + dy, x0 + dx
            ok = (r >= 0) & (r < geo.mbh) & (c >= 0) & (c < geo.mbw)
            np.add.at(target, (r * geo.mbw + c)[ok], (amount * wy * wx)[ok])


def macroblock_tree(order, look, geo):
    """Per frame, per macroblock QP offsets from how much later frames inherit each block.

    In reverse coding order, each frame passes on the part of its (own + inherited) cost
    that prediction saves, (1 - inter / intra), to the blocks its vectors point at; a
    block's offset is -MBTREE_STRENGTH * log2(1 + inherited / own).
    """
    nmb = geo.mbh * geo.mbw
    inherited = {f.t: np.zeros(nmb) for f in order}
    offsets = {f.t: np.zeros(nmb, np.int64) for f in order}
    if not MBTREE:
        return offsets
    for frame in reversed(order):
        intra = look.intra(frame.t)
        if frame.kind != "I":
            cost, choice, options = best_inter(look, frame)
            amount = (intra + inherited[frame.t]) * clip(1 - cost / intra, 0, 1)
            for k, (_c, parts) in enumerate(options):
                chosen = choice == k
                for r, vec, share in parts:
                    spread(inherited[r], geo, np.where(chosen, amount * share, 0.0), vec)
        ratio = np.log2(1 + inherited[frame.t] / intra)
        offsets[frame.t] = clip(np.rint(-MBTREE_STRENGTH * ratio), -DQP_MAX, DQP_MAX)
    return {t: v.astype(np.int64) for t, v in offsets.items()}


# ---------------------------------------------------------------- decisions (encoder)

def grid(h, w, n):
    """(y, x) of every n x n block of an h x w plane, raster order."""
    gy, gx = np.divmod(np.arange((h // n) * (w // n)), w // n)
    return gy * n, gx * n


def to_size(parts, g, n):
    """(mbs, 16/g * 16/g) part values at granularity g -> (mbs, 16/n, 16/n) at size n."""
    k, f = MB // g, n // g
    x = parts.reshape(-1, k // f, f, k // f, f)
    return x.sum(axis=(2, 4))


def neighbour_cells(h, w, n, y, x, cell):
    """Indices into a raster grid of cell-sized blocks: the cells holding the pixel left
    of, above and above-left of each block's corner (-1 outside the picture)."""
    cols = w // cell

    def at(yy, xx):
        ok = (yy >= 0) & (xx >= 0)
        return np.where(ok, (np.maximum(yy, 0) // cell) * cols + np.maximum(xx, 0) // cell, -1)

    return at(y, x - 1), at(y - 1, x), at(y - 1, x - 1)


def visible(src, pred):
    """Source blocks with the padding outside the picture (marked -1 in the encoder's
    target planes) replaced by the prediction: what is never shown costs nothing."""
    return np.where(src < 0, pred, src)


def masked_sad(src, preds):
    """(N, modes) SAD of source blocks (N, n, n) against predictions (N, modes, n, n)."""
    s = src[:, None].astype(np.int32)
    return np.abs(np.where(s < 0, preds, s) - preds).sum(axis=(2, 3))


ZERO_TEST = 6      # blocks with more level magnitude than this are never zeroed whole


def rd_quantise(plane_class, src, pred, qp, lam, intra, costs, need_rate=True):
    """Levels of residual blocks, (N, n*n), with their distortion and estimated bits; a
    block is zeroed when D + lambda * R says so (under MODE_DECISION = rd)."""
    n = src.shape[-1]
    coef = forward(visible(src, pred).astype(np.int32) - pred)
    q = quantize(coef, qp, 1 / 3 if intra else 1 / 6)
    if MODE_DECISION == "sad":
        return q, np.zeros(len(q)), np.zeros(len(q))
    step = (step64(qp) / 64.0)[:, None]
    group = np.full(len(q), (plane_class * 3 + SIZE_INDEX[n]) * 2 + int(intra))
    d_q = ((coef - q * step) ** 2).sum(1)
    r_q = coefficient_bits(costs, q, n, group) if need_rate else np.zeros(len(q))
    d_0 = (coef.astype(np.float64) ** 2).sum(1)
    r_0 = unsigned_bits(costs["last"], np.zeros(len(q), np.int64), ctx("coef", group))
    small = np.abs(q).sum(1) <= ZERO_TEST   # only blocks this light are ever worth zeroing
    if not need_rate:
        r_q[small] = coefficient_bits(costs, q[small], n, group[small])
    zero = small & (d_0 + lam * r_0 <= d_q + lam * r_q)
    q[zero] = 0
    return q, np.where(zero, d_0, d_q), np.where(zero, r_0, r_q)


class Choice:
    """The cheapest way found so far to code each block of one size, and what it is."""

    def __init__(self, count):
        self.cost = np.full(count, np.inf)
        self.mode = np.full(count, INTER)
        self.dir = np.zeros(count, np.int64)
        self.ref = np.zeros((count, 2), np.int64)
        self.mv = np.zeros((count, 2, 2), np.int64)
        self.merge = np.zeros(count, np.int64)
        self.imode = np.zeros(count, np.int64)
        self.cmode = np.zeros(count, np.int64)

    def offer(self, idx, cost, mode, **fields):
        """Take the offered alternative for blocks idx where it costs less."""
        better = cost < self.cost[idx]
        won = idx[better]
        self.cost[won] = cost[better]
        self.mode[won] = mode
        for name, value in fields.items():
            getattr(self, name)[won] = np.broadcast_to(value, (len(idx),) + value.shape[1:])[better]


class PredictionCache:
    """Inter predictions and levels the decisions computed, kept per block size and block
    so that reconstruction reuses them for every inter leaf whose motion did not change
    (encoder only: the decoder computes the same predictions; levels are what was sent)."""

    def __init__(self, geo):
        self.geo = geo
        self.entries = {}     # (plane, n) -> (valid, motion, pred, q) over the n-grid

    def put(self, plane, n, idx, motion, pred, q):
        h, w = self.geo.ph // n, self.geo.pw // n
        key = (plane, n)
        if key not in self.entries:
            m = pred.shape[-1]
            self.entries[key] = (np.zeros(h * w, bool), zero_motion(h * w, False),
                                 np.zeros((h * w, m, m), np.int16), np.zeros((h * w, m * m), np.int64))
        valid, stored, preds, levels = self.entries[key]
        valid[idx] = True
        for k, v in motion.items():
            stored[k][idx] = v
        preds[idx], levels[idx] = pred, q

    def get(self, plane, n, y, x, motion):
        """(hit mask, predictions, levels) for blocks of size n at luma (y, x)."""
        if (plane, n) not in self.entries:
            return np.zeros(len(y), bool), None, None
        valid, stored, preds, levels = self.entries[plane, n]
        cell = (y // n) * (self.geo.pw // n) + x // n
        hit = valid[cell] & (stored["dir"][cell] == motion["dir"])
        hit &= (stored["ref"][cell] == motion["ref"]).all(1) & (stored["mv"][cell] == motion["mv"]).all((1, 2))
        return hit, preds[cell[hit]], levels[cell[hit]]


class Decider:
    """Chooses partition, modes and motion of one frame by Lagrangian cost (encoder)."""

    def __init__(self, geo, frame, src, refs, qp_mb, look, costs, hist):
        self.geo, self.frame, self.src, self.refs = geo, frame, src, refs
        self.target = [p.copy() for p in src]      # the source, with the padding marked -1
        for c, p in enumerate(self.target):
            s = 1 + (c > 0)
            p[geo.height // s:] = -1
            p[:, geo.width // s:] = -1
        self.qp_mb, self.look, self.costs, self.hist = qp_mb, look, costs, hist
        self.cache = PredictionCache(geo)
        fast = frame.kind == "B" and frame.depth >= SIMPLE_B_DEPTH and geo.mbh * geo.mbw >= 64
        depth = 0 if fast else PARTITION_DEPTH
        self.sizes = [16, 8, 4][:depth + 1]
        self.k = KIND_INDEX[frame.kind]

    # ---- per-block quantities

    def blocks(self, n):
        y, x = grid(self.geo.ph, self.geo.pw, n)
        mb = (y // MB) * self.geo.mbw + x // MB
        qp = self.qp_mb[mb]
        return y, x, qp, lagrangian(qp)

    def residual_cost(self, plane_class, src, pred, qp, lam, intra):
        """(D, R) of a block's residual: quantised, or zeroed when that costs less."""
        _q, d, r = rd_quantise(plane_class, src, pred, qp, lam, intra, self.costs)
        return d, r

    def sad_cost(self, src, pred):
        return np.abs(visible(src, pred).astype(np.int32) - pred).sum(axis=(1, 2)).astype(float)

    def sse(self, src, pred):
        d = visible(src, pred).astype(np.int32) - pred
        return (d * d).sum(axis=(1, 2)).astype(float)

    def flag_bits(self, n, y, x, skip, intra):
        """Bits of the skip and intra flags of nodes of size n at (y, x)."""
        if self.frame.kind == "I":
            return np.zeros(len(y))
        k = self.k - 1
        prev = self.hist.skip[y // 4, x // 4]
        c = ctx("flag", (k * 2 + (n == 16)) * 2 + ctx("temporal", prev))
        bits = self.costs["skip"][c, int(skip)] if n != 4 else np.zeros(len(y))
        if not skip:
            node_class = {16: 2, 8: 0, 4: 1}[n]
            bits = bits + self.costs["intra"][ctx("flag", np.full(len(y), k * 3 + node_class)),
                                              int(intra)]
        return bits


class InterSearch:
    """Motion of every block size against every reference (encoder)."""

    def __init__(self, dec):
        self.dec = dec
        self.g = 4 if 4 in dec.sizes else 8
        self.best = {}      # (list, n) -> (ref, mv, sad, cost)

    def run(self):
        """Each list's references, each searched only for the macroblocks where the
        lookahead found it close to that list's best (the nearest is always searched)."""
        dec = self.dec
        lam_mb = np.sqrt(lagrangian(dec.qp_mb))
        for lst, refs in enumerate(dec.refs):
            if not refs:
                continue
            looks = [dec.look.pair(dec.frame.t, ref.t) for ref in refs]
            best = np.minimum.reduce([cost for _, cost in looks])
            for ri, (ref, (vec, cost)) in enumerate(zip(refs, looks, strict=True)):
                which = np.flatnonzero(cost <= REF_SLACK * best + 64) if ri else \
                    np.arange(len(cost))
                start = (vec.reshape(-1, 2) * 4 // MV_UNIT) * MV_UNIT
                _v, _s, tried = mb_search(dec.src[0], ref, start[which], lam_mb[which],
                                          start[which], which, self.g)
                for n in dec.sizes:
                    self.offer(lst, ri, n, self.expand(tried, which, start), start)
        return self.best

    @staticmethod
    def expand(tried, which, start):
        """Candidates of a subset of macroblocks as full-size arrays (others never win)."""
        out = []
        for vec, parts in tried:
            v = start.copy()
            v[which] = vec
            p = np.full((len(start), parts.shape[1]), 1 << 28, parts.dtype)
            p[which] = parts
            out.append((v, p))
        return out

    def offer(self, lst, ri, n, tried, start):
        """Each n x n block's best of the candidates tried for its macroblock."""
        dec, geo = self.dec, self.dec.geo
        lam = np.sqrt(dec.blocks(n)[3])
        k = MB // n
        count = len(tried)

        def spread_mb(a):       # (..., mbs, 2) per macroblock -> (..., blocks, 2) raster
            a = a.reshape(a.shape[:-2] + (geo.mbh, 1, geo.mbw, 1, 2))
            a = np.broadcast_to(a, a.shape[:-4] + (k, geo.mbw, k, 2))
            return a.reshape(a.shape[:-5] + (-1, 2))

        vecs = spread_mb(np.stack([v for v, _ in tried]))
        parts = np.stack([p for _, p in tried])
        sad = to_size(parts.reshape(-1, parts.shape[-1]), self.g, n).reshape(count, -1, k, k)
        sad = sad.reshape(count, geo.mbh, geo.mbw, k, k).swapaxes(2, 3).reshape(count, -1)
        pred = spread_mb(start)
        ref_bits = 0.0 if len(dec.refs[lst]) < 2 else \
            dec.costs["ref"][ctx("flag", lst), min(ri, NUM_REFS - 1)]
        cost = sad + lam * (mv_bits(vecs - pred) + ref_bits)
        pick = cost.argmin(0)
        cols = np.arange(cost.shape[1])
        best_cost, best_vec, best_sad = cost[pick, cols], vecs[pick, cols], sad[pick, cols]
        ref = np.full(len(cols), ri)
        old = self.best.get((lst, n))
        if old is not None:
            keep = old[3] <= best_cost
            ref = np.where(keep, old[0], ref)
            best_vec = np.where(keep[:, None], old[1], best_vec)
            best_sad = np.where(keep, old[2], best_sad).astype(float)
            best_cost = np.where(keep, old[3], best_cost)
        self.best[lst, n] = (ref, best_vec, best_sad.astype(float), best_cost)


def motion_of(choice_like, idx=slice(None)):
    return {"dir": choice_like.dir[idx], "ref": choice_like.ref[idx], "mv": choice_like.mv[idx]}


def sub(motion, idx):
    return {k: v[idx] for k, v in motion.items()}


def pick_rows(mask, a, b):
    """Rows of b where mask holds, else rows of a (any trailing shape)."""
    return np.where(mask.reshape((-1,) + (1,) * (a.ndim - 1)), b, a)


SIMPLE_B_DEPTH = 2   # B frames this deep in the hierarchy: 16x16 blocks only (pictures of 64+ MBs)
INTRA_LOOK = 0.5     # intra is tried where the motion SAD exceeds this share of the block's detail
INTRA_KEEP = 1.25    # and fully costed where its SAD comes within this factor of the motion SAD


class ModeSearch:
    """Lagrangian choice between skip, inter and intra for every block of every size,
    then the quadtree (encoder). Blocks of 8 and 4 are only looked at inside blocks whose
    own best cost leaves room for a split to pay (early termination)."""

    SPLIT_FLOOR = 8.0    # a block cheaper than this many bits' worth of lambda is not split

    def __init__(self, dec, best_motion):
        self.dec, self.best_motion = dec, best_motion
        geo = dec.geo
        self.count = {n: (geo.ph // n) * (geo.pw // n) for n in dec.sizes}
        self.choice = {n: Choice(self.count[n]) for n in dec.sizes}
        self.active = {n: np.arange(self.count[n]) for n in dec.sizes}
        self.intra_only = {n: np.full(c, np.inf) for n, c in self.count.items()}
        self.inter_only = {n: np.full(c, np.inf) for n, c in self.count.items()}
        self.chroma = {(8, m): np.zeros(self.count.get(8, 0)) for m in (INTER, INTRA)}
        self.inter_motion = {n: zero_motion(c, False) for n, c in self.count.items()}
        self.intra_mode = {n: np.zeros(c, np.int64) for n, c in self.count.items()}
        self.intra_cmode = {n: np.zeros(c, np.int64) for n, c in self.count.items()}

    def blocks(self, n):
        """(indices, y, x, qp, lambda) of the active n x n blocks."""
        idx = self.active[n]
        y, x, qp, lam = self.dec.blocks(n)
        return idx, y[idx], x[idx], qp[idx], lam[idx]

    def narrow(self, n):
        """Blocks of size n worth a look: inside parents whose best cost is not tiny."""
        parent = 2 * n
        lam = self.dec.blocks(parent)[3]
        open_ = np.flatnonzero(self.choice[parent].cost > self.SPLIT_FLOOR * lam)
        gy, gx = np.divmod(open_, self.dec.geo.pw // parent)
        cols = self.dec.geo.pw // n
        kids = [(2 * gy + i) * cols + 2 * gx + j for i in (0, 1) for j in (0, 1)]
        self.active[n] = np.sort(np.concatenate(kids))

    # ---- inter

    def direction(self, n):
        """Per active block: the cheapest of list 0, list 1 and both by SAD + rate."""
        dec = self.dec
        idx, y, x, _qp, _lam = self.blocks(n)
        count = len(idx)
        motion = zero_motion(count, False)
        motion["dir"][:] = L0
        cost = np.full(count, np.inf)
        for lst in (0, 1):
            if (lst, n) not in self.best_motion:
                continue
            ref, mv, _sad, c = self.best_motion[lst, n]
            motion["ref"][:, lst], motion["mv"][:, lst] = ref[idx], mv[idx]
            better = c[idx] < cost
            cost = np.where(better, c[idx], cost)
            motion["dir"][better] = lst
        if dec.frame.kind == "B" and (1, n) in self.best_motion and count:
            both = dict(motion, dir=np.full(count, BI))
            pred = predict(dec.refs, both, y, x, n, 0)
            sad = dec.sad_cost(take_blocks(dec.src[0], y, x, n), pred)
            side = sum(self.best_motion[lst, n][3][idx] - self.best_motion[lst, n][2][idx]
                       for lst in (0, 1))
            motion["dir"] = np.where(sad + side < cost, BI, motion["dir"])
        return motion

    def inter(self, n, motion):
        dec = self.dec
        idx, y, x, qp, lam = self.blocks(n)
        if len(idx) == 0:
            return
        pred = predict(dec.refs, motion, y, x, n, 0)
        src = take_blocks(dec.target[0], y, x, n)
        q, d, r = rd_quantise(0, src, pred, qp, lam, False, dec.costs)
        dec.cache.put(0, n, idx, motion, pred, q)
        if MODE_DECISION == "sad":
            d = dec.sad_cost(src, pred)
            lam = np.sqrt(lam)
        side = self.motion_bits(n, motion, y, x) + dec.flag_bits(n, y, x, False, False)
        cost = d + lam * (r + side)
        chroma = self.chroma_inter(n, idx, motion, y, x, qp, lam) if n >= 8 else 0.0
        self.inter_only[n][idx] = cost + chroma
        for k, v in motion.items():
            self.inter_motion[n][k][idx] = v
        if n == 8:
            self.chroma[8, INTER][idx] = chroma
        self.choice[n].offer(idx, cost + chroma, INTER, **motion)

    def chroma_inter(self, n, idx, motion, y, x, qp, lam):
        dec = self.dec
        cq = chroma_qp(qp)
        total = 0.0
        for plane in (1, 2):
            pred = predict(dec.refs, motion, y // 2, x // 2, n // 2, plane)
            src = take_blocks(dec.target[plane], y // 2, x // 2, n // 2)
            q, d, r = rd_quantise(1, src, pred, cq, lam / CHROMA_WEIGHT, False, dec.costs)
            dec.cache.put(plane, n, idx, motion, pred, q)
            if MODE_DECISION == "sad":
                total = total + dec.sad_cost(src, pred)
                continue
            total = total + CHROMA_WEIGHT * d + lam * r
        return total

    def motion_bits(self, n, motion, y, x):
        """Estimated bits of direction, reference indices and vector differences."""
        dec = self.dec
        bits = np.zeros(len(y))
        if dec.frame.kind == "B":
            bits += dec.costs["dir"][ctx("flag", np.full(len(y), n >> 3)), motion["dir"]]
        for lst in (0, 1):
            if (lst, n) not in self.best_motion:
                continue
            used = (motion["dir"] == lst) | (motion["dir"] == BI)
            est = self.best_motion[lst, n][1]
            cells = neighbour_cells(dec.geo.ph, dec.geo.pw, n, y, x, n)
            nb = [np.where((c >= 0)[:, None], est[np.maximum(c, 0)], 0) for c in cells]
            d = (motion["mv"][:, lst] - median3(*nb)) // MV_UNIT
            c0 = ctx("flag", np.full(len(y), 4 * lst))
            c1 = ctx("flag", 4 * lst + 1 + np.minimum(bit_length(np.abs(d[:, 1])), 2))
            mvb = signed_bits(dec.costs["mvd"], d[:, 1], c0) + signed_bits(dec.costs["mvd"], d[:, 0], c1)
            if len(dec.refs[lst]) > 1:
                mvb = mvb + dec.costs["ref"][ctx("flag", np.full(len(y), lst)), motion["ref"][:, lst]]
            bits += np.where(used, mvb, 0.0)
        return bits

    # ---- skip

    def skip(self, n, field):
        """Merge with the left or upper neighbour's estimated motion, no residual: both
        merges judged on luma, chroma added for the better one."""
        dec = self.dec
        idx, y, x, _qp, lam = self.blocks(n)
        count = len(idx)
        if count == 0:
            return
        cell = self.dec.sizes[min(1, len(self.dec.sizes) - 1)]
        cells = neighbour_cells(dec.geo.ph, dec.geo.pw, n, y, x, cell)
        default = zero_motion(count, dec.frame.kind == "B")
        error = dec.sad_cost if MODE_DECISION == "sad" else dec.sse
        lam_use = np.sqrt(lam) if MODE_DECISION == "sad" else lam
        src = take_blocks(dec.target[0], y, x, n)
        options, costs = [], []
        for merge in (0, 1):
            pick = np.where(cells[merge] >= 0, cells[merge], cells[1 - merge])
            ok = pick >= 0
            motion = {k: pick_rows(ok, default[k], v[np.maximum(pick, 0)])
                      for k, v in field.items()}
            bits = dec.flag_bits(n, y, x, True, False) + dec.costs["merge"][
                ctx("flag", np.full(count, dec.k - 1)), merge]
            options.append(motion)
            costs.append(error(src, predict(dec.refs, motion, y, x, n, 0)) + lam_use * bits)
        merge = (costs[1] < costs[0]).astype(np.int64)
        motion = {k: pick_rows(merge == 1, v, options[1][k]) for k, v in options[0].items()}
        cost = np.minimum(costs[0], costs[1])
        for c in (1, 2):
            pred = predict(dec.refs, motion, y // 2, x // 2, n // 2, c)
            cost = cost + CHROMA_WEIGHT * error(take_blocks(dec.target[c], y // 2, x // 2, n // 2), pred)
        self.choice[n].offer(idx, cost, SKIP, merge=merge, **motion)

    # ---- intra

    def intra_candidates(self, n, idx, src):
        """Active blocks where intra might win: where motion does not already beat the
        block's own detail (all of them in intra frames)."""
        inter_sad = [self.best_motion[k][2][idx] for k in ((0, n), (1, n))
                     if k in self.best_motion]
        rows = np.arange(len(idx))
        if not inter_sad:
            return rows, None
        flat = src.reshape(len(idx), -1).astype(np.int32)
        detail = np.abs(flat - flat.mean(1, keepdims=True)).sum(1)
        best = np.minimum.reduce(inter_sad)
        return rows[best > INTRA_LOOK * detail], best

    def intra(self, n, rd_modes):
        """Intra candidates from the source's neighbours (open loop), by SAD of every mode,
        then a full cost for the best mode of blocks that come near their motion SAD (all
        four modes by full cost in intra frames)."""
        dec = self.dec
        idx, y, x, qp, lam = self.blocks(n)
        if len(idx) == 0:
            return
        src = take_blocks(dec.target[0], y, x, n)
        mode_bits = dec.costs["imode"][ctx("flag", np.full(len(idx), n >> 3))]
        look, inter_sad = self.intra_candidates(n, idx, take_blocks(dec.src[0], y, x, n))
        cost = np.full(len(idx), np.inf)
        imode = np.zeros(len(idx), np.int64)
        if len(look):
            preds = all_intra(dec.src[0], y[look], x[look], n)
            if rd_modes and MODE_DECISION == "rd":     # intra frames: the 2 best by SAD, by cost
                sad = masked_sad(src[look], preds) + np.sqrt(lam[look])[:, None] * mode_bits[look]
                rows = np.arange(len(look))
                costs = []
                for m in np.argsort(sad, axis=1)[:, :2].T:
                    costs.append(self.intra_rd(src[look], preds[rows, m], qp[look], lam[look],
                                               mode_bits[look, m]))
                best = np.argmin(np.stack(costs), axis=0)
                imode[look] = np.argsort(sad, axis=1)[rows, best]
                cost[look] = np.minimum(costs[0], costs[1])
            else:
                sad = masked_sad(src[look], preds)
                m = (sad + np.sqrt(lam[look])[:, None] * mode_bits[look]).argmin(1)
                imode[look] = m
                keep = np.arange(len(look)) if inter_sad is None else \
                    np.flatnonzero(sad[np.arange(len(look)), m] < INTRA_KEEP * inter_sad[look])
                t = look[keep]
                cost[t] = self.intra_rd(src[t], preds[keep, m[keep]], qp[t], lam[t],
                                        mode_bits[t, imode[t]])
        cost = cost + lam * dec.flag_bits(n, y, x, False, True)
        chroma, cmode = np.zeros(len(idx)), np.zeros(len(idx), np.int64)
        todo = np.flatnonzero(np.isfinite(cost))
        if n >= 8 and len(todo):
            chroma[todo], cmode[todo] = self.chroma_intra(n, y[todo], x[todo], qp[todo], lam[todo])
        self.intra_only[n][idx] = cost + chroma
        self.intra_mode[n][idx], self.intra_cmode[n][idx] = imode, cmode
        if n == 8:
            self.chroma[8, INTRA][idx] = chroma
        self.choice[n].offer(idx, cost + chroma, INTRA, imode=imode, cmode=cmode)

    def intra_rd(self, src, pred, qp, lam, mode_bits):
        if MODE_DECISION == "sad":
            return self.dec.sad_cost(src, pred) + np.sqrt(lam) * mode_bits
        d, r = self.dec.residual_cost(0, src, pred, qp, lam, True)
        return d + lam * (r + mode_bits)

    def chroma_intra(self, n, y, x, qp, lam):
        dec = self.dec
        cn, cy, cx = n // 2, y // 2, x // 2
        preds = [all_intra(dec.src[c], cy, cx, cn) for c in (1, 2)]
        srcs = [take_blocks(dec.target[c], cy, cx, cn) for c in (1, 2)]
        sad = sum(masked_sad(s, p) for s, p in zip(srcs, preds, strict=True))
        bits = dec.costs["imode"][ctx("flag", np.full(len(y), 4 + (n == 16)))]
        cmode = (sad + np.sqrt(lam)[:, None] * bits).argmin(1)
        rows = np.arange(len(y))
        total = lam * bits[rows, cmode]
        for s, p in zip(srcs, preds, strict=True):
            if MODE_DECISION == "sad":
                total = total + dec.sad_cost(s, p[rows, cmode])
                continue
            d, r = dec.residual_cost(1, s, p[rows, cmode], chroma_qp(qp), lam, True)
            total = total + CHROMA_WEIGHT * d + lam * r
        return total, cmode

    # ---- partition

    def decide(self):
        """Every candidate of every size, then the quadtree; returns (syntax, partition)."""
        dec = self.dec
        inter = dec.frame.kind != "I"
        field = None
        for n in dec.sizes:
            if n < 16:
                self.narrow(n)
            if inter:
                motion = self.direction(n)
                self.inter(n, motion)
                if n >= 8:
                    field = self.field() if field is None else field
                    self.skip(n, field)
            self.intra(n, rd_modes=not inter)
        return self.syntax(*self.quadtree())

    def field(self):
        """Estimated motion of every block on the 8x8 grid (16x16 without partitions):
        each block's best motion search result, what skip merges from."""
        cell = 8 if 8 in self.dec.sizes else 16
        keep = self.active
        self.active = {**keep, cell: np.arange(self.count[cell])}
        motion = self.direction(cell)
        self.active = keep
        return motion

    def split_bits(self, deep, prev, bit):
        base = 8 if deep else 0
        c = ctx("flag", base + self.dec.k * 2 + ctx("temporal", prev))
        return self.dec.costs["split"][c, bit]

    def quadtree(self):
        """Split flags minimising cost: 8x8 blocks against four 4x4 leaves (all inter or all
        intra), macroblocks against four 8x8 blocks."""
        dec, geo = self.dec, self.dec.geo
        lam16 = lagrangian(dec.qp_mb)
        split16 = np.zeros((geo.mbh, geo.mbw), bool)
        split8 = np.zeros((geo.mbh, geo.mbw, 2, 2), bool)
        self.split_intra = np.zeros((geo.ph // 8) * (geo.pw // 8), bool)
        if 8 not in dec.sizes:
            return split16, split8
        cost8 = self.choice[8].cost
        lam8 = dec.blocks(8)[3]
        if 4 in dec.sizes:
            prev8 = dec.hist.split8.swapaxes(1, 2).reshape(-1)
            inter4 = np.inf
            if 4 in self.inter_only:
                inter4 = self.children(self.inter_only[4], 8) + self.chroma[8, INTER]
            intra4 = self.children(self.intra_only[4], 8) + self.chroma[8, INTRA]
            self.split_intra = intra4 < inter4
            split_cost = np.minimum(inter4, intra4) + lam8 * self.split_bits(True, prev8, 1)
            leaf_cost = cost8 + lam8 * self.split_bits(True, prev8, 0)
            s8 = split_cost < leaf_cost
            cost8 = np.where(s8, split_cost, leaf_cost)
            split8 = s8.reshape(geo.mbh, 2, geo.mbw, 2).swapaxes(1, 2)
        prev16 = dec.hist.split16.ravel()
        whole = self.choice[16].cost + lam16 * self.split_bits(False, prev16, 0)
        parts = self.children(cost8, 16) + lam16 * self.split_bits(False, prev16, 1)
        split16 = (parts < whole).reshape(geo.mbh, geo.mbw)
        return split16, split8

    def children(self, values, n):
        """Sum of the four n/2 blocks inside each n x n block (raster grids)."""
        h, w = self.dec.geo.ph // (n // 2), self.dec.geo.pw // (n // 2)
        return values.reshape(h // 2, 2, w // 2, 2).sum(axis=(1, 3)).ravel()

    def syntax(self, split16, split8):
        """The frame's syntax elements (and intended motion) from the decisions."""
        geo = self.dec.geo
        part = Partition(geo, split16, split8)
        syn = {"split16": split16, "split8": part.split8}
        cols8, cols4 = geo.pw // 8, geo.pw // 4
        node_mode = np.zeros(len(part.node_size), np.int64)
        syn["merge"] = np.zeros(len(part.node_size), np.int64)
        syn["cmode"] = np.zeros(len(part.node_size), np.int64)
        for n in (16, 8):
            sel = np.flatnonzero((part.node_size == n) & ~part.node_split)
            cell = (part.node_y[sel] // n) * (geo.pw // n) + part.node_x[sel] // n
            if n in self.choice:
                ch = self.choice[n]
                node_mode[sel], syn["merge"][sel] = ch.mode[cell], ch.merge[cell]
                syn["cmode"][sel] = ch.cmode[cell]
        sel = np.flatnonzero(part.node_split)
        cell8 = (part.node_y[sel] // 8) * cols8 + part.node_x[sel] // 8
        node_mode[sel] = np.where(self.split_intra[cell8], INTRA, INTER)
        if len(sel):
            syn["cmode"][sel] = self.intra_cmode[8][cell8]
        syn["mode"] = node_mode
        count = len(part.leaf_size)
        motion = zero_motion(count, False)
        syn["imode"] = np.zeros(count, np.int64)
        for n in self.dec.sizes:
            sel = np.flatnonzero(part.leaf_size == n)
            cell = (part.leaf_y[sel] // n) * (geo.pw // n) + part.leaf_x[sel] // n
            if n == 4:
                source = self.inter_motion.get(4, motion_of(self.choice[4]))
                imode = self.intra_mode[4]
            else:
                source, imode = motion_of(self.choice[n]), self.choice[n].imode
            for key in motion:
                motion[key][sel] = source[key][cell]
            syn["imode"][sel] = imode[cell]
        syn["dir"] = motion["dir"]
        del cols4
        return syn, part, motion


# ---------------------------------------------------------------- learned post-filter

FILTER_PATCH = 64           # training crops, pixels
FILTER_BATCH = 16           # crops per step
FILTER_GAIN = 0.995         # keep a filter only if it cuts the MSE below this fraction
FILTER_HEAD = struct.Struct("<BBbb")   # channels, on, first and second layer scale exponents


def filter_device():
    return "cuda" if torch.cuda.is_available() else "cpu"


def crops(decoded, source, rng):
    """Random training crops (N, 1, P, P) of decoded and source planes."""
    t, h, w = decoded.shape
    p = min(FILTER_PATCH, h, w)
    count = FILTER_BATCH * 8
    ts = rng.integers(0, t, count)
    ys, xs = rng.integers(0, h - p + 1, count), rng.integers(0, w - p + 1, count)
    take = [(decoded[a, b:b + p, c:c + p], source[a, b:b + p, c:c + p])
            for a, b, c in zip(ts, ys, xs, strict=True)]
    return (np.stack([d for d, _ in take])[:, None].astype(np.float32),
            np.stack([s for _, s in take])[:, None].astype(np.float32))


def fit_net(decoded, source, seed):
    """Float weights of conv3x3(1->C), ReLU, conv3x3(C->1), residual, fitted with Adam
    to map decoded pixels (minus 128) onto the source; the last layer starts at zero."""
    device = filter_device()
    torch.set_num_threads(1)     # the fit is small; one thread makes it the same everywhere
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    dec_np, src_np = crops(decoded, source, rng)
    dec_t = torch.from_numpy(dec_np).to(device) - 128
    target = torch.from_numpy(src_np).to(device) - 128
    c = FILTER_CHANNELS
    w1 = (torch.randn(c, 1, 3, 3, generator=gen) * 0.02).to(device).requires_grad_()
    b1 = torch.zeros(c, device=device, requires_grad=True)
    w2 = torch.zeros(1, c, 3, 3, device=device, requires_grad=True)
    b2 = torch.zeros(1, device=device, requires_grad=True)
    params = [w1, b1, w2, b2]
    moments = [(torch.zeros_like(p), torch.zeros_like(p)) for p in params]
    for step in range(1, FILTER_STEPS + 1):
        pick = torch.randint(0, len(dec_t), (FILTER_BATCH,), generator=gen).to(device)
        x, y = dec_t[pick], target[pick]
        h = torch.relu(torch.nn.functional.conv2d(x, w1, b1, padding=1))
        out = x + torch.nn.functional.conv2d(h, w2, b2, padding=1)
        grads = torch.autograd.grad(torch.mean((out - y) ** 2), params)
        adam_step(params, grads, moments, step)
    return [t.detach().cpu().numpy().astype(np.float64) for t in params]


def adam_step(params, grads, moments, step, lr=2e-3, beta1=0.9, beta2=0.999):
    """One Adam update, written out: torch.optim would load torch._dynamo, which imports
    subprocess, which the sandbox refuses."""
    with torch.no_grad():
        for p, g, (m, v) in zip(params, grads, moments, strict=True):
            m.mul_(beta1).add_(g, alpha=1 - beta1)
            v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            p.sub_(lr * (m / (1 - beta1 ** step)) / (torch.sqrt(v / (1 - beta2 ** step)) + 1e-8))


def quantise_net(w1, b1, w2, b2):
    """8-bit weights with power-of-two scales; biases at the accumulators' scales."""
    s1 = int(clip(math.floor(math.log2(127 / max(np.abs(w1).max(), 1e-9))), 0, 15))
    s2 = int(clip(math.floor(math.log2(127 / max(np.abs(w2).max(), 1e-9))), -8, 15))
    return (s1, s2, np.rint(w1 * 2 ** s1).astype(np.int8), np.rint(b1 * 2 ** s1).astype(np.int32),
            np.rint(w2 * 2 ** s2).astype(np.int8), np.rint(b2 * 2.0 ** (s1 + s2)).astype(np.int32))


def run_net(planes, net):
    """Apply a quantised net to (T, H, W) uint8 planes, exactly: every value is an integer
    below 2**53 held in float64, so any device and any summation order agree."""
    s1, s2, w1, b1, w2, b2 = net
    device = filter_device()
    f = torch.nn.functional
    k1 = torch.from_numpy(w1.astype(np.float64).reshape(len(w1), 9)).to(device)
    k2 = torch.from_numpy(w2.astype(np.float64).reshape(1, -1)).to(device)
    bias1 = torch.from_numpy(b1.astype(np.float64)).to(device)[:, None]
    bias2 = float(b2[0])
    shift = 2.0 ** (s1 + s2)
    out = np.empty_like(planes)
    for t in range(len(planes)):
        x = torch.from_numpy(planes[t].astype(np.float64)).to(device)
        h, w = x.shape
        cols = f.unfold(f.pad((x - 128)[None, None], (1, 1, 1, 1), mode="replicate"), 3)[0]
        hidden = torch.relu(k1 @ cols + bias1).reshape(1, -1, h, w)
        cols = f.unfold(f.pad(hidden, (1, 1, 1, 1), mode="replicate"), 3)[0]
        y = torch.floor((k2 @ cols + bias2 + shift / 2) / shift).reshape(h, w)
        out[t] = torch.clamp(x + y, 0, 255).to(torch.uint8).cpu().numpy()
    return out


def pack_net(net):
    if net is None:
        return FILTER_HEAD.pack(FILTER_CHANNELS, 0, 0, 0)
    s1, s2, w1, b1, w2, b2 = net
    return (FILTER_HEAD.pack(len(w1), 1, s1, s2) + w1.tobytes() + b1.astype("<i4").tobytes()
            + w2.tobytes() + b2.astype("<i4").tobytes())


def unpack_net(data, at):
    c, on, s1, s2 = FILTER_HEAD.unpack_from(data, at)
    at += FILTER_HEAD.size
    if not on:
        return None, at
    parts = []
    for dtype, count in ((np.int8, 9 * c), ("<i4", c), (np.int8, 9 * c), ("<i4", 1)):
        a = np.frombuffer(data, dtype, count, at)
        at += a.nbytes
        parts.append(a.astype(np.int32) if a.dtype != np.int8 else a)
    w1, b1, w2, b2 = parts
    return (s1, s2, w1.reshape(c, 1, 3, 3), b1, w2.reshape(1, c, 3, 3), b2), at


def learned_filter_fit(decoded, source, level):
    """Bytes of the post-filter: a net for luma, one shared by both chroma planes; each is
    sent only if, quantised, it lowers the MSE on the clip."""
    torch.manual_seed(level)
    out = b""
    for group, (dec, src) in enumerate(((decoded[0], source[0]),
                                        (np.concatenate(decoded[1:]), np.concatenate(source[1:])))):
        net = quantise_net(*fit_net(dec, src, seed=17 + group))
        sample = np.linspace(0, len(dec) - 1, min(len(dec), 6)).astype(int)
        before = np.mean((dec[sample].astype(np.float64) - src[sample]) ** 2)
        after = np.mean((run_net(dec[sample], net).astype(np.float64) - src[sample]) ** 2)
        out += pack_net(net if after < FILTER_GAIN * before else None)
    return out


def learned_filter_apply(data, planes):
    luma, at = unpack_net(data, 0)
    chroma, _ = unpack_net(data, at)
    y, u, v = planes
    if luma is not None:
        y = run_net(np.ascontiguousarray(y), luma)
    if chroma is not None:
        u, v = (run_net(np.ascontiguousarray(p), chroma) for p in (u, v))
    return y, u, v


# ---------------------------------------------------------------- encoder and decoder

def ref_times(frame):
    """(2, NUM_REFS) display index of each list entry, -1 where there is none."""
    out = np.full((2, NUM_REFS), -1, np.int64)
    for lst, times in enumerate((frame.l0, frame.l1)):
        out[lst, :len(times)] = times
    return out


def make_quantiser(costs):
    """The encoder's side of `Coefficients`: levels of a plane's blocks, zeroed by cost."""
    def quantiser(plane, src, pred, qp, intra):
        luma_qp = qp if plane == 0 else LUMA_OF_CHROMA[qp]
        lam = lagrangian(luma_qp) / (1.0 if plane == 0 else CHROMA_WEIGHT)
        return rd_quantise(int(plane > 0), src, pred, qp, lam, intra, costs, need_rate=False)[0]
    return quantiser


def finish_frame(geo, frame, part, syn, motion, qp_mb, refs, coefs, source=None, cache=None):
    """Reconstruction and loop filter: identical on both sides (the encoder's cache only
    saves recomputing what its decisions already computed)."""
    rec = Reconstruction(geo, frame.kind, part, syn, motion, qp_mb, refs, coefs, source, cache)
    planes = rec.run()
    return deblock(planes, part, rec.leaf_mode, rec.coded, motion, ref_times(frame), qp_mb)


class Store:
    """Decoded frames: the output clip and the references still needed."""

    def __init__(self, geo, order):
        self.geo, self.order = geo, order
        self.last = last_uses(order)
        self.refs = {}
        self.out = [np.empty((geo.frames, geo.ph // s, geo.pw // s), np.uint8) for s in (1, 2, 2)]

    def lists(self, frame):
        return [[self.refs[t] for t in frame.l0], [self.refs[t] for t in frame.l1]]

    def keep(self, i, frame, planes):
        for c, p in enumerate(planes):
            self.out[c][frame.t] = p
        if frame.is_ref and self.last.get(frame.t, -1) > i:
            self.refs[frame.t] = Reference(frame.t, planes)
        for t in [t for t in self.refs if self.last.get(t, -1) <= i]:
            del self.refs[t]

    def clip(self):
        g = self.geo
        return [p[:, :g.height // s, :g.width // s] for p, s in zip(self.out, (1, 2, 2), strict=True)]


def frame_qps(frame, level, offsets):
    return clip(frame_qp(frame, level) + offsets, 0, QP_MAX)


class SkipJudge:
    """Settles skip nodes once their neighbours' motion is known (encoder).

    Decisions assumed each neighbour's estimated motion; after resolving, a skip node whose
    merged motion differs from what was judged gets, in one batch, the better merge
    choice or becomes an inter node with its intended motion (Lagrangian cost on luma,
    zero residual). Changes move the neighbours of others, so this repeats a few rounds.
    """

    ROUNDS = 2

    def __init__(self, dec, part, syn):
        self.dec, self.part, self.syn = dec, part, syn

    def error(self, leaves, motion):
        part, dec = self.part, self.dec
        total = np.zeros(len(leaves))
        for n in (8, 16):
            sel = np.flatnonzero(part.leaf_size[leaves] == n)
            if len(sel) == 0:
                continue
            y, x = part.leaf_y[leaves[sel]], part.leaf_x[leaves[sel]]
            m = {k: v[sel] for k, v in motion.items()}
            pred = predict(dec.refs, m, y, x, n, 0)
            total[sel] += dec.sse(take_blocks(dec.target[0], y, x, n), pred)
        return total

    def settle(self, intended):
        """Final motion and vector differences: judging rounds, then skip nodes still not
        merging what was judged become inter nodes only where the motion they now merge
        predicts clearly worse (each such change can only move skips downstream, and
        skips only decrease, so this ends)."""
        part, syn, dec = self.part, self.syn, self.dec
        bidir = dec.frame.kind == "B"
        for attempt in range(self.ROUNDS + len(part.leaf_size)):
            final, mvd = resolve_encoder(part, syn["mode"], intended, syn["merge"], bidir)
            leaves = np.flatnonzero(syn["mode"][part.leaf_node] == SKIP)
            differs = ((final["mv"][leaves] != intended["mv"][leaves]).any(axis=(1, 2))
                       | (final["dir"][leaves] != intended["dir"][leaves])
                       | (final["ref"][leaves] != intended["ref"][leaves]).any(axis=1))
            leaves = leaves[differs]
            if len(leaves) == 0:
                break
            if attempt < self.ROUNDS:
                self.judge(leaves, final, intended)
                continue
            worse = self.worse(leaves, final, intended)
            if not worse.any():
                break
            syn["mode"][part.leaf_node[leaves[worse]]] = INTER
        return final, mvd

    def worse(self, leaves, final, intended):
        """Whether each skip leaf's merged motion predicts clearly worse than intended."""
        y, x = self.part.leaf_y[leaves], self.part.leaf_x[leaves]
        lam = lagrangian(self.dec.qp_mb[(y // MB) * self.dec.geo.mbw + x // MB])
        now = self.error(leaves, {k: v[leaves] for k, v in final.items()})
        meant = self.error(leaves, {k: v[leaves] for k, v in intended.items()})
        return now > meant + 8.0 * lam

    def judge(self, leaves, final, intended):
        part, dec, syn = self.part, self.dec, self.syn
        usable = np.append(syn["mode"][part.leaf_node] != INTRA, False)
        padded = {k: np.concatenate([v, v[:1] * 0]) for k, v in final.items()}
        default = zero_motion(1, dec.frame.kind == "B")
        nb = part.neighbours[:, leaves]
        options = [merged(padded, usable, nb, np.full(len(leaves), m), default) for m in (0, 1)]
        y, x = part.leaf_y[leaves], part.leaf_x[leaves]
        lam = lagrangian(dec.qp_mb[(y // MB) * dec.geo.mbw + x // MB])
        costs = [self.error(leaves, o) + lam * 2.0 for o in options]
        mine = {k: v[leaves] for k, v in intended.items()}
        costs.append(self.error(leaves, mine) + lam * (4.0 + 2 * mv_bits(mine["mv"][:, 0])))
        choice = np.argmin(np.stack(costs), axis=0)
        node = part.leaf_node[leaves]
        syn["merge"][node] = np.where(choice == 2, 0, choice)
        syn["mode"][node[choice == 2]] = INTER


def encode_frame(geo, frame, level, src, store, look, offsets, models, hist, ch):
    costs = {k: m.cost() for k, m in models.items()}
    qp_mb = frame_qps(frame, level, offsets)
    refs = store.lists(frame)
    dec = Decider(geo, frame, src, refs, qp_mb, look, costs, hist)
    best = InterSearch(dec).run() if frame.kind != "I" else {}
    syn, part, motion = ModeSearch(dec, best).decide()
    syn["dqp"] = offsets
    motion, mvd = SkipJudge(dec, part, syn).settle(motion) if frame.kind != "I" else \
        (motion, np.zeros((len(part.leaf_size), 2, 2), np.int64))
    syn["mvd"], syn["ref"], syn["dir"] = mvd, motion["ref"], motion["dir"]
    coefs = Coefficients(part, syn["mode"], syn, make_quantiser(costs))
    planes = finish_frame(geo, frame, part, syn, motion, qp_mb, refs, coefs, dec.target, dec.cache)
    code_frame(ch, models, geo, frame, syn, hist)
    return planes


def encode(video, level):
    y, u, v, fps = video
    geo = Geometry(*y.shape)
    src = [geo.pad(p, c) for c, p in enumerate((y, u, v))]
    order = schedule(geo.frames)
    look = Lookahead(src[0])
    offsets = macroblock_tree(order, look, geo)
    models, ch, hist, store = make_models(), Channel(), History(geo), Store(geo, order)
    for i, frame in enumerate(order):
        planes = encode_frame(geo, frame, level, [s[frame.t] for s in src], store, look,
                              offsets[frame.t], models, hist, ch)
        store.keep(i, frame, planes)
    extra = learned_filter_fit(store.clip(), (y, u, v), level) if LEARNED_FILTER else b""
    head = HEADER.pack(MAGIC, level, geo.frames, geo.height, geo.width, float(fps), len(extra))
    return head + extra + ch.coder.get_compressed().astype("<u4").tobytes()


def decode(bitstream):
    magic, level, frames, height, width, fps, extra = HEADER.unpack_from(bitstream)
    if magic != MAGIC:
        raise ValueError("not an inter-rdo bitstream")
    geo = Geometry(frames, height, width)
    start = HEADER.size + extra
    words = np.frombuffer(bitstream[start:], "<u4").astype(np.uint32)
    order = schedule(frames)
    models, ch, hist, store = make_models(), Channel(words), History(geo), Store(geo, order)
    for i, frame in enumerate(order):
        syn, part = code_frame(ch, models, geo, frame, None, hist)
        qp_mb = frame_qps(frame, level, syn["dqp"])
        refs = store.lists(frame)
        count = len(part.leaf_size)
        motion = {"dir": syn["dir"], "ref": syn["ref"], "mv": np.zeros((count, 2, 2), np.int64)}
        motion = resolve_motion(part, syn["mode"], motion, syn["merge"], syn["mvd"],
                                frame.kind == "B", False)
        coefs = Coefficients(part, syn["mode"], syn)
        store.keep(i, frame, finish_frame(geo, frame, part, syn, motion, qp_mb, refs, coefs))
    y, u, v = store.clip()
    if extra:
        y, u, v = learned_filter_apply(bitstream[HEADER.size:start], (y, u, v))
    return y, u, v, fps
