//! ggml element types and their de-quantization, computed as gguf-py (which transformers'
//! GGUF loader uses) computes it: the block scale and minimum widened from f16 to f32, then
//! `d · q` or `d · q + m` in f32, so the values are bit-identical to transformers'.

use half::{bf16, f16};

/// The ggml element types lume reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgmlType {
    /// 32-bit float.
    F32,
    /// IEEE half.
    F16,
    /// bfloat16.
    Bf16,
    /// Blocks of 32: an f16 scale and 32 signed 8-bit integers.
    Q8_0,
    /// Blocks of 32: an f16 scale and 32 4-bit integers offset by 8.
    Q4_0,
    /// Blocks of 32: an f16 scale, an f16 minimum and 32 4-bit integers.
    Q4_1,
}

/// Elements per quantized block.
const BLOCK: usize = 32;

impl GgmlType {
    /// The names of the supported types, for error messages.
    pub const SUPPORTED: &'static str = "F32, F16, BF16, Q8_0, Q4_0, Q4_1";

    /// The type of a ggml type id, if lume reads it.
    pub fn from_id(id: u32) -> Option<Self> {
        Some(match id {
            0 => GgmlType::F32,
            1 => GgmlType::F16,
            2 => GgmlType::Q4_0,
            3 => GgmlType::Q4_1,
            8 => GgmlType::Q8_0,
            30 => GgmlType::Bf16,
            _ => return None,
        })
    }

    /// Bytes of `n` elements; `None` when `n` is not a whole number of blocks.
    pub fn byte_len(self, n: usize) -> Option<usize> {
        let blocks = |bytes_per_block: usize| {
            n.is_multiple_of(BLOCK)
                .then(|| (n / BLOCK).checked_mul(bytes_per_block))
                .flatten()
        };
        match self {
            GgmlType::F32 => n.checked_mul(4),
            GgmlType::F16 | GgmlType::Bf16 => n.checked_mul(2),
            GgmlType::Q8_0 => blocks(2 + BLOCK),
            GgmlType::Q4_0 => blocks(2 + BLOCK / 2),
            GgmlType::Q4_1 => blocks(4 + BLOCK / 2),
        }
    }

    /// The f32 values of `bytes` (whose length [`byte_len`](Self::byte_len) checked).
    pub fn dequantize(self, bytes: &[u8]) -> Vec<f32> {
        let half = |b: &[u8]| f16::from_le_bytes([b[0], b[1]]).to_f32();
        match self {
            GgmlType::F32 => bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            GgmlType::F16 => bytes.chunks_exact(2).map(half).collect(),
            GgmlType::Bf16 => bytes
                .chunks_exact(2)
                .map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32())
                .collect(),
            GgmlType::Q8_0 => bytes
                .chunks_exact(2 + BLOCK)
                .flat_map(|b| {
                    let d = half(b);
                    b[2..].iter().map(move |&q| d * f32::from(q as i8))
                })
                .collect(),
            GgmlType::Q4_0 => bytes
                .chunks_exact(2 + BLOCK / 2)
                .flat_map(|b| {
                    let d = half(b);
                    nibbles(&b[2..]).map(move |q| d * f32::from(q as i8 - 8))
                })
                .collect(),
            GgmlType::Q4_1 => bytes
                .chunks_exact(4 + BLOCK / 2)
                .flat_map(|b| {
                    let (d, m) = (half(b), half(&b[2..]));
                    nibbles(&b[4..]).map(move |q| d * f32::from(q) + m)
                })
                .collect(),
        }
    }
}

/// A block's 32 4-bit values in ggml's order: the low nibbles of its 16 bytes, then the high.
fn nibbles(qs: &[u8]) -> impl Iterator<Item = u8> + '_ {
    qs.iter().map(|q| q & 0x0F).chain(qs.iter().map(|q| q >> 4))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(scale: f32, rest: &[u8]) -> Vec<u8> {
        let mut b = f16::from_f32(scale).to_le_bytes().to_vec();
        b.extend_from_slice(rest);
        b
    }

    #[test]
    fn q4_1_is_scale_times_nibble_plus_minimum_low_nibbles_first() {
        let mut qs = [0u8; 16];
        qs[0] = 0x51; // element 0 → 1, element 16 → 5
        qs[15] = 0xF0; // element 15 → 0, element 31 → 15
        let mut b = block(0.5, &f16::from_f32(-1.0).to_le_bytes());
        b.extend_from_slice(&qs);
        let v = GgmlType::Q4_1.dequantize(&b);
        assert_eq!(v.len(), 32);
        assert_eq!(
            (v[0], v[16], v[15], v[31], v[1]),
            (-0.5, 1.5, -1.0, 6.5, -1.0)
        );
    }

    #[test]
    fn q4_0_centres_on_eight_and_q8_0_is_signed() {
        let mut qs = [0x88u8; 16];
        qs[1] = 0x0F;
        let v = GgmlType::Q4_0.dequantize(&block(2.0, &qs));
        assert_eq!((v[0], v[1], v[17]), (0.0, 14.0, -16.0));
        let mut qs = [0u8; 32];
        qs[3] = (-7i8) as u8;
        let v = GgmlType::Q8_0.dequantize(&block(0.25, &qs));
        assert_eq!((v[3], v[4]), (-1.75, 0.0));
    }

    #[test]
    fn partial_blocks_have_no_byte_length() {
        assert_eq!(GgmlType::Q4_1.byte_len(64), Some(40));
        assert_eq!(GgmlType::Q8_0.byte_len(33), None);
        assert_eq!(GgmlType::F16.byte_len(3), Some(6));
    }
}
