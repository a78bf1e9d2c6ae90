//! Matrix products with bf16 operands and f32 accumulation (`Precision::Bf16`): PyTorch's CPU
//! autocast, on the machine's bf16 dot products where it has them.
//!
//! Both operands are rounded to bf16 (to nearest, ties to even) and packed in pairs along the
//! inner dimension, the layout of AVX512-BF16's `vdpbf16ps`: one instruction adds
//! `a₂ᵢ·b₂ᵢ + a₂ᵢ₊₁·b₂ᵢ₊₁` to each of 16 f32 lanes, twice the multiply-adds of an f32 FMA. A
//! tile of [`MR`] rows × [`NR`] columns keeps its 24 accumulators in registers while it walks
//! the inner dimension. Where that instruction is slower than two FMAs (Intel's cores, see
//! `simd::bf16_path`), an FMA tile widens the same packed operands in registers; where the CPU
//! has neither (or `LUME_KERNELS=portable` asks for the portable path), a portable tile does.
//! Both add the two products in the instruction's order (odd element first, then even, each
//! an f32 sum of an exact bf16 product), so every path gives the same numbers up to how the
//! hardware flushes subnormals.

use std::mem::MaybeUninit;

use super::product::{Destination, Operand};
use super::simd::{Bf16Path, bf16_path, simd_dispatch};
use super::spinning_pool::{SPLIT_FROM, for_parts};
use rayon::prelude::*;

/// Rows of a tile.
const MR: usize = 12;
/// Columns of a tile: two 16-lane vectors.
const NR: usize = 32;
/// Pairs of the inner dimension per pass over a block, at most: a row panel's slice is up to
/// 18 KiB (36 KiB widened for the FMA tile, in the 48 KiB L1 of the Intel cores that run it).
/// The depth is split evenly: SmolLM2's 576 runs as one slice of 288 pairs rather than 256
/// and 32, whose sums would go through the output twice (+5 % on its products).
const DEPTH: usize = 384;
/// What one core's block of packed columns may take of its L2 (1 MiB on Zen 4, 2 MiB on
/// Sapphire Rapids).
const L2_BYTES: usize = 512 * 1024;

/// `x` rounded to bf16 (to nearest, ties to even); a NaN stays a NaN.
#[inline(always)]
pub(crate) fn round_to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    let rounded = bits.wrapping_add(0x7fff + ((bits >> 16) & 1));
    let nan = bits & 0x7fff_ffff > 0x7f80_0000;
    if nan {
        ((bits >> 16) | 0x40) as u16
    } else {
        (rounded >> 16) as u16
    }
}

simd_dispatch! {
    /// `x` with every element rounded to bf16 (as f32 values).
    pub(crate) fn rounded(x: &[f32]) -> Vec<f32> {
        x.iter().map(|&v| widen(round_to_bf16(v))).collect()
    }
}

/// The f32 value of bf16 bits.
#[inline(always)]
fn widen(bits: u16) -> f32 {
    f32::from_bits(u32::from(bits) << 16)
}

/// Packs `lines × depth` elements (element `(l, d)` of the view) into panels of `width` lines:
/// panel `P` holds, for each pair `p` of the depth, `width` words whose low half is element
/// `(P·width + l, 2p)` and high half element `(…, 2p + 1)`, in bf16; zeros past the edges.
fn pack(view: Operand<'_>, lines: usize, depth: usize, width: usize, threads: Threads) -> Vec<u32> {
    let pairs = depth.div_ceil(2);
    let panels = lines.div_ceil(width);
    let len = panels * pairs * width;
    if lines < width {
        // One panel, mostly edge (a decoding slot's row): its lines alone are written, into
        // zeros (the edge's words go only into sums that are not kept, but must be initialized);
        // word by word, the edge cost as much as streaming the product's weight.
        let mut packed = vec![0u32; len];
        let out = packed.as_mut_slice();
        // SAFETY: `u32` and `MaybeUninit<u32>` have the same layout; every word is initialized.
        let out = unsafe { &mut *(std::ptr::from_mut(out) as *mut [MaybeUninit<u32>]) };
        let shape = Packing {
            first: 0,
            lines,
            depth,
            width,
        };
        pack_group(out, view, shape, true);
        return packed;
    }
    let mut packed: Vec<u32> = Vec::with_capacity(len);
    // Groups of several panels, so that a view whose lines are contiguous (a row of `b` or a
    // column of `a`) is read in long runs rather than one strided word group per panel.
    let group = (panels / 8).clamp(1, 16);
    let groups = panels.div_ceil(group);
    let words = Destination(packed.as_mut_ptr().cast::<MaybeUninit<u32>>());
    in_parts(threads, groups, len, |g0, g1| {
        for g in g0..g1 {
            let (from, to) = (
                g * group * pairs * width,
                ((g + 1) * group * pairs * width).min(len),
            );
            // SAFETY: the groups are disjoint ranges of the allocation of `len` words.
            let out = unsafe { std::slice::from_raw_parts_mut(words.at(from), to - from) };
            let shape = Packing {
                first: g * group * width,
                lines,
                depth,
                width,
            };
            pack_group(out, view, shape, false);
        }
    });
    // SAFETY: `pack_group` wrote every word of every group (zeros past the edges).
    unsafe { packed.set_len(len) };
    packed
}

/// Which threads run a product's parts.
#[derive(Clone, Copy)]
enum Threads {
    /// Decoding's spinning helpers (`spinning_pool.rs`): a product of a few rows comes between
    /// attention steps they run, and rayon's threads would compete with them for the cores
    /// while they spin (16-slot decoding: 255 → 405 tokens/s).
    Spinning,
    /// rayon's pool: training's and scoring's products, between Burn's own parallel operations.
    Rayon,
}

impl Threads {
    /// Rows up to which a product is decoding's.
    const SPINNING_ROWS: usize = 64;

    fn for_rows(rows: usize) -> Self {
        if rows <= Self::SPINNING_ROWS {
            Threads::Spinning
        } else {
            Threads::Rayon
        }
    }
}

/// Runs `part(start, end)` over `len` items split between the cores of `threads` (the caller
/// alone when `work` is small). Decoding's parts are cut into chunks that a core done with its
/// own takes from another's; rayon's stay halves (four chunks a thread, left to rayon's
/// stealing, trained ~4 % slower in alternating runs at SmolLM2's shape).
fn in_parts(threads: Threads, len: usize, work: usize, part: impl Fn(usize, usize) + Sync) {
    match threads {
        Threads::Spinning => for_parts(len, work, part),
        Threads::Rayon => {
            let parts = if work < SPLIT_FROM {
                1
            } else {
                rayon::current_num_threads().clamp(1, len.max(1))
            };
            (0..parts)
                .into_par_iter()
                .for_each(|p| part(len * p / parts, len * (p + 1) / parts));
        }
    }
}

/// Where a group of panels lies in the operand.
#[derive(Clone, Copy)]
struct Packing {
    first: usize,
    lines: usize,
    depth: usize,
    width: usize,
}

/// Two elements as one word: `low` in the low half, in bf16.
#[inline(always)]
fn pair(low: f32, high: f32) -> u32 {
    u32::from(round_to_bf16(low)) | u32::from(round_to_bf16(high)) << 16
}

simd_dispatch! {
    /// `zeroed`: `out` holds zeros already, so the lines past the edge are left as they are.
    fn pack_group(out: &mut [MaybeUninit<u32>], view: Operand<'_>, shape: Packing, zeroed: bool) {
        let Packing { first, lines, depth, width } = shape;
        let pairs = depth.div_ceil(2);
        let element = |l: usize, d: usize| {
            if l < lines && d < depth {
                view.data[l * view.row_stride + d * view.col_stride]
            } else {
                0.0
            }
        };
        let panels = out.len() / (pairs * width);
        let (rs, cs) = (view.row_stride, view.col_stride);
        if rs == 1 && cs != 1 {
            // Lines contiguous: each pair of depth rows read across the group's lines.
            for p in 0..pairs {
                for panel in 0..panels {
                    let base = first + panel * width;
                    let words = &mut out[(panel * pairs + p) * width..][..width];
                    if 2 * p + 1 < depth && base + width <= lines {
                        let low = &view.data[base + 2 * p * cs..][..width];
                        let high = &view.data[base + (2 * p + 1) * cs..][..width];
                        for ((w, &x0), &x1) in words.iter_mut().zip(low).zip(high) {
                            w.write(pair(x0, x1));
                        }
                    } else {
                        for (l, w) in words.iter_mut().enumerate() {
                            w.write(pair(element(base + l, 2 * p), element(base + l, 2 * p + 1)));
                        }
                    }
                }
            }
        } else if cs == 1 {
            // Depth contiguous: each line read along the depth, its words spread `width` apart.
            // The words are rounded into a contiguous run first (a loop the compiler
            // vectorizes; rounding in the strided loop was scalar), then spread.
            let mut run = vec![0u32; pairs];
            for (panel, panel_out) in out.chunks_exact_mut(pairs * width).enumerate() {
                let base = first + panel * width;
                for l in 0..width {
                    let words = panel_out[l..].iter_mut().step_by(width);
                    if base + l >= lines {
                        if zeroed {
                            break;
                        }
                        words.for_each(|w| {
                            w.write(0);
                        });
                        continue;
                    }
                    let row = &view.data[(base + l) * rs..][..depth];
                    let halves = row.chunks_exact(2);
                    if let [last] = halves.remainder() {
                        run[pairs - 1] = pair(*last, 0.0);
                    }
                    for (two, word) in halves.zip(run.iter_mut()) {
                        *word = pair(two[0], two[1]);
                    }
                    for (w, &word) in words.zip(&run) {
                        w.write(word);
                    }
                }
            }
        } else {
            for (panel, panel_out) in out.chunks_exact_mut(pairs * width).enumerate() {
                for (p, words) in panel_out.chunks_exact_mut(width).enumerate() {
                    for (l, w) in words.iter_mut().enumerate() {
                        let line = first + panel * width + l;
                        w.write(pair(element(line, 2 * p), element(line, 2 * p + 1)));
                    }
                }
            }
        }
    }
}

/// The right operand `[k, n]` of products, packed once: a weight that inference multiplies again
/// and again (see `packed.rs`).
pub(crate) struct PackedB {
    words: Vec<u32>,
    k: usize,
    n: usize,
}

impl PackedB {
    /// Packs `b` `[k, n]`.
    ///
    /// # Panics
    /// If the view reaches outside its slice (a programming error of the caller).
    pub(crate) fn new(b: Operand<'_>, k: usize, n: usize) -> Self {
        assert!(b.fits(k, n), "PackedB: [{k}, {n}] does not fit its operand");
        PackedB {
            words: pack(b.transposed_view(), n, k, NR, Threads::Rayon),
            k,
            n,
        }
    }

    /// Bytes held.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.words.len() * size_of::<u32>()
    }
}

/// `a · b` for `a` `[m, k]` and `b` `[k, n]` with bf16 operands and f32 sums: `[m, n]`,
/// row-major.
///
/// # Panics
/// If a view reaches outside its slice (a programming error of the caller).
pub(crate) fn product_bf16(
    a: Operand<'_>,
    b: Operand<'_>,
    m: usize,
    k: usize,
    n: usize,
) -> Vec<f32> {
    product_packed(a, &PackedB::new(b, k, n), m)
}

thread_local! {
    /// The FMA tile's widened slices of `a` (see [`product_packed`]).
    static WIDE_A: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `a · b` for `a` `[m, k]` and a packed `b`, as [`product_bf16`].
///
/// # Panics
/// If `a`'s view reaches outside its slice (a programming error of the caller).
pub(crate) fn product_packed(a: Operand<'_>, b: &PackedB, m: usize) -> Vec<f32> {
    let mut outputs = products_packed(a, &[b], m);
    outputs.pop().unwrap_or_default()
}

/// `a · b` for each packed `b` of `bs` (all `[k, _]`), as [`product_packed`] gives each, in
/// one pass: `a` is packed once and the column panels of every `b` are split between the
/// threads together (a layer's query, key and value projections: one product to wait for
/// instead of three). Each output's sums are those [`product_packed`] computes.
///
/// # Panics
/// If `a`'s view reaches outside its slice, or the `bs` differ in depth (a programming error
/// of the caller).
pub(crate) fn products_packed(a: Operand<'_>, bs: &[&PackedB], m: usize) -> Vec<Vec<f32>> {
    let Some(k) = bs.first().map(|b| b.k) else {
        return Vec::new();
    };
    let total: usize = bs.iter().map(|b| b.n).sum();
    assert!(
        a.fits(m, k) && bs.iter().all(|b| b.k == k),
        "product_bf16: [{m}, {k}] · [{k}, {total}] does not fit its operands"
    );
    let mut outputs: Vec<Vec<f32>> = bs.iter().map(|b| Vec::with_capacity(m * b.n)).collect();
    if m == 0 || k == 0 || total == 0 {
        outputs
            .iter_mut()
            .zip(bs)
            .for_each(|(out, b)| out.resize(m * b.n, 0.0));
        return outputs;
    }
    let pairs = k.div_ceil(2);
    let packed_a = pack(a, m, k, MR, Threads::for_rows(m));
    let path = bf16_path();
    // Blocked as GotoBLAS blocks: each part owns a range of column panels, walked in blocks
    // whose slice of `DEPTH` pairs stays in its core's L2 while every row panel's slice (in
    // L1) passes by it; the sums of a tile carry over from one slice of the depth to the next
    // in `out`.
    // One row panel (decoding) reuses no slice of `b`: each column panel is then read whole,
    // in one sequential run, with its sums kept in registers (the same sums in the same order).
    let depth = if m <= MR {
        pairs
    } else {
        pairs.div_ceil(pairs.div_ceil(DEPTH))
    };
    // Column panel `c` of the whole is panel `c - first[i]` of `bs[i]`.
    let first: Vec<usize> = bs
        .iter()
        .scan(0, |next, b| {
            let at = *next;
            *next += b.n.div_ceil(NR);
            Some(at)
        })
        .collect();
    let column_panels = bs.iter().map(|b| b.n.div_ceil(NR)).sum();
    let fit = (L2_BYTES / (depth * NR * 4)).max(1);
    let dsts: Vec<Destination<f32>> = outputs
        .iter_mut()
        .map(|out| Destination(out.as_mut_ptr()))
        .collect();
    in_parts(
        Threads::for_rows(m),
        column_panels,
        m * k * total,
        |c0, c1| {
            // The FMA tile's row panel slice, widened once for the column panels of a block, in
            // this thread's buffer: allocating and zeroing it per product cost decoding a slot's
            // row as much as widening it.
            WIDE_A.with_borrow_mut(|wide_a| {
                if path == Bf16Path::Fma && wide_a.len() < depth * MR * 2 {
                    wide_a.resize(depth * MR * 2, 0.0);
                }
                for block in (c0..c1).step_by(fit) {
                    let panels = block..(block + fit).min(c1);
                    for p0 in (0..pairs).step_by(depth) {
                        let p1 = (p0 + depth).min(pairs);
                        for (row_panel, panel_a) in packed_a.chunks_exact(pairs * MR).enumerate() {
                            let slice_a = &panel_a[p0 * MR..p1 * MR];
                            let wide_a = &mut wide_a[..if path == Bf16Path::Fma {
                                slice_a.len() * 2
                            } else {
                                0
                            }];
                            let (row0, rows) = (row_panel * MR, MR.min(m - row_panel * MR));
                            widen_pairs(slice_a, wide_a, rows);
                            for panel in panels.clone() {
                                let i = first.partition_point(|&f| f <= panel) - 1;
                                let (b, column_panel) = (bs[i], panel - first[i]);
                                let n = b.n;
                                let panel_b = &b.words[column_panel * pairs * NR..][..pairs * NR];
                                let slice_b = &panel_b[p0 * NR..p1 * NR];
                                let (col0, cols) =
                                    (column_panel * NR, NR.min(n - column_panel * NR));
                                // SAFETY: `path` is this CPU's (`bf16_path`); this part alone touches
                                // these columns of output `i`, whose `m × n` elements the tile's rows
                                // and columns lie inside; the first slice of the depth wrote what the
                                // later ones read back.
                                unsafe {
                                    let sums = Sums {
                                        at: dsts[i].at(row0 * n + col0),
                                        stride: n,
                                        rows,
                                        cols,
                                        fresh: p0 == 0,
                                    };
                                    run_tile(path, slice_a, wide_a, slice_b, sums);
                                }
                            }
                        }
                    }
                }
            });
        },
    );
    for (out, b) in outputs.iter_mut().zip(bs) {
        // SAFETY: the tiles covered every row and column of each `m × n` output.
        unsafe { out.set_len(m * b.n) };
    }
    outputs
}

mod tile;
use tile::{Sums, run_tile, widen_pairs};
#[cfg(test)]
mod tests;
