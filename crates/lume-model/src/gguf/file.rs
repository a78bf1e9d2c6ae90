//! The GGUF container (llama.cpp's format, version 2 and 3): metadata key/values, tensor
//! descriptions and the aligned data section, read from bytes in memory.

use std::collections::BTreeMap;

use super::quant::GgmlType;

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    /// Any unsigned integer type, widened.
    Uint(u64),
    /// Any signed integer type, widened.
    Int(i64),
    /// `f32` or `f64`, widened.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A UTF-8 string.
    Str(String),
    /// An array of values of one type.
    Array(Vec<MetaValue>),
}

impl MetaValue {
    /// The value as an unsigned integer, if it is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            MetaValue::Uint(v) => Some(v),
            MetaValue::Int(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a float, if it is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            MetaValue::Float(v) => Some(v),
            MetaValue::Uint(v) => Some(v as f64),
            MetaValue::Int(v) => Some(v as f64),
            _ => None,
        }
    }

    /// The value as a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            MetaValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value as an array.
    pub fn as_array(&self) -> Option<&[MetaValue]> {
        match self {
            MetaValue::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// One tensor's description: its name, ggml shape (innermost dimension first), element type
/// and where its bytes start in the data section.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    /// The llama.cpp name (`blk.0.attn_q.weight`).
    pub name: String,
    /// ggml dimensions, innermost first (the reverse of PyTorch's shape).
    pub dims: Vec<u64>,
    /// Element type.
    pub ggml_type: GgmlType,
    /// Offset from the start of the data section.
    pub offset: u64,
}

impl TensorInfo {
    /// The shape as PyTorch and safetensors write it (outermost first).
    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().rev().map(|&d| d as usize).collect()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        // Saturating: a file's dimensions may be anything, and a huge product is then refused
        // by the size check against the file.
        self.dims.iter().fold(1usize, |n, &d| {
            n.saturating_mul(usize::try_from(d).unwrap_or(usize::MAX))
        })
    }

    /// Whether the tensor has no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A parsed GGUF file.
#[derive(Debug)]
pub struct GgufFile {
    /// Format version (2 or 3).
    pub version: u32,
    /// Metadata in file order of keys' names.
    pub metadata: BTreeMap<String, MetaValue>,
    /// Tensors in file order.
    pub tensors: Vec<TensorInfo>,
    bytes: Vec<u8>,
    data_start: usize,
}

/// Where and why parsing failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("byte {offset}: {message}")]
pub struct ParseError {
    /// Byte offset in the file.
    pub offset: usize,
    /// What is wrong there.
    pub message: String,
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn fail<T>(&self, message: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError {
            offset: self.at,
            message: message.into(),
        })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ParseError> {
        match self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
        {
            Some(end) => {
                let out = &self.bytes[self.at..end];
                self.at = end;
                Ok(out)
            }
            None => self.fail(format!("the file ends inside a {n}-byte field")),
        }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ParseError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32, ParseError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, ParseError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A count or length, refused when it could not fit in what is left of the file.
    fn count(&mut self, min_item_bytes: usize) -> Result<usize, ParseError> {
        let n = self.u64()?;
        let left = (self.bytes.len() - self.at) as u64;
        if n.saturating_mul(min_item_bytes.max(1) as u64) > left {
            return self.fail(format!("a count of {n} is larger than the file"));
        }
        Ok(n as usize)
    }

    fn string(&mut self) -> Result<String, ParseError> {
        let n = self.count(1)?;
        let start = self.at;
        let raw = self.take(n)?;
        String::from_utf8(raw.to_vec()).map_err(|_| ParseError {
            offset: start,
            message: "a string is not UTF-8".into(),
        })
    }

    fn value(&mut self, ty: u32, depth: usize) -> Result<MetaValue, ParseError> {
        Ok(match ty {
            0 => MetaValue::Uint(u64::from(self.array::<1>()?[0])),
            1 => MetaValue::Int(i64::from(i8::from_le_bytes(self.array()?))),
            2 => MetaValue::Uint(u64::from(u16::from_le_bytes(self.array()?))),
            3 => MetaValue::Int(i64::from(i16::from_le_bytes(self.array()?))),
            4 => MetaValue::Uint(u64::from(self.u32()?)),
            5 => MetaValue::Int(i64::from(i32::from_le_bytes(self.array()?))),
            6 => MetaValue::Float(f64::from(f32::from_le_bytes(self.array()?))),
            7 => MetaValue::Bool(self.array::<1>()?[0] != 0),
            8 => MetaValue::Str(self.string()?),
            9 if depth == 0 => {
                let item = self.u32()?;
                let n = self.count(1)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(item, depth + 1)?);
                }
                MetaValue::Array(items)
            }
            9 => return self.fail("arrays of arrays are not supported"),
            10 => MetaValue::Uint(self.u64()?),
            11 => MetaValue::Int(i64::from_le_bytes(self.array()?)),
            12 => MetaValue::Float(f64::from_le_bytes(self.array()?)),
            other => return self.fail(format!("unknown metadata value type {other}")),
        })
    }
}

impl GgufFile {
    /// Parses a whole GGUF file held in memory.
    pub fn parse(bytes: Vec<u8>) -> Result<Self, ParseError> {
        let mut c = Cursor {
            bytes: &bytes,
            at: 0,
        };
        if c.take(4)? != b"GGUF" {
            return Err(ParseError {
                offset: 0,
                message: "not a GGUF file (the magic bytes are not \"GGUF\")".into(),
            });
        }
        let version = c.u32()?;
        if !(2..=3).contains(&version) {
            return c.fail(format!("GGUF version {version} (2 and 3 are supported)"));
        }
        let tensor_count = c.count(24)?;
        let kv_count = c.count(12)?;
        let mut metadata = BTreeMap::new();
        for _ in 0..kv_count {
            let key = c.string()?;
            let ty = c.u32()?;
            let value = c.value(ty, 0)?;
            metadata.insert(key, value);
        }
        let mut tensors = Vec::with_capacity(tensor_count);
        for _ in 0..tensor_count {
            let name = c.string()?;
            let n_dims = c.u32()? as usize;
            if n_dims > 4 {
                return c.fail(format!("tensor {name} has {n_dims} dimensions (at most 4)"));
            }
            let dims = (0..n_dims)
                .map(|_| c.u64())
                .collect::<Result<Vec<_>, _>>()?;
            let type_at = c.at;
            let raw_type = c.u32()?;
            let ggml_type = GgmlType::from_id(raw_type).ok_or_else(|| ParseError {
                offset: type_at,
                message: format!(
                    "tensor {name}: ggml type {raw_type} is not supported (supported: {})",
                    GgmlType::SUPPORTED
                ),
            })?;
            let offset = c.u64()?;
            tensors.push(TensorInfo {
                name,
                dims,
                ggml_type,
                offset,
            });
        }
        let alignment = match metadata.get("general.alignment") {
            None => 32,
            Some(v) => match v.as_u64() {
                Some(a) if a > 0 => a as usize,
                _ => return c.fail("general.alignment is not a positive integer"),
            },
        };
        let Some(data_start) = c.at.div_ceil(alignment).checked_mul(alignment) else {
            return c.fail(format!("general.alignment {alignment} is past any file"));
        };
        let file = GgufFile {
            version,
            metadata,
            tensors,
            data_start,
            bytes,
        };
        for t in &file.tensors {
            file.tensor_bytes(t)?;
        }
        Ok(file)
    }

    /// The bytes of one tensor, checked against its type's block size.
    pub fn tensor_bytes(&self, tensor: &TensorInfo) -> Result<&[u8], ParseError> {
        let n = tensor.len();
        let start = usize::try_from(tensor.offset)
            .ok()
            .and_then(|offset| self.data_start.checked_add(offset));
        let fail = |message: String| ParseError {
            offset: start.unwrap_or(usize::MAX),
            message: format!("tensor {}: {message}", tensor.name),
        };
        let start =
            start.ok_or_else(|| fail(format!("offset {} is past any file", tensor.offset)))?;
        let size = tensor.ggml_type.byte_len(n).ok_or_else(|| {
            fail(format!(
                "{n} elements are not whole {:?} blocks",
                tensor.ggml_type
            ))
        })?;
        start
            .checked_add(size)
            .and_then(|end| self.bytes.get(start..end))
            .ok_or_else(|| fail(format!("its {size} bytes run past the end of the file")))
    }

    /// A metadata entry.
    pub fn get(&self, key: &str) -> Option<&MetaValue> {
        self.metadata.get(key)
    }

    /// A tensor by its llama.cpp name.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// A tensor's values as f32.
    pub fn dequantize(&self, tensor: &TensorInfo) -> Result<Vec<f32>, ParseError> {
        Ok(tensor.ggml_type.dequantize(self.tensor_bytes(tensor)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny GGUF v3 file: one string and one u32 array key, one F32 tensor `[3, 2]`.
    pub(crate) fn tiny() -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(b"GGUF");
        b.extend(3u32.to_le_bytes());
        b.extend(1u64.to_le_bytes());
        b.extend(2u64.to_le_bytes());
        let string = |b: &mut Vec<u8>, s: &str| {
            b.extend((s.len() as u64).to_le_bytes());
            b.extend(s.as_bytes());
        };
        string(&mut b, "general.architecture");
        b.extend(8u32.to_le_bytes());
        string(&mut b, "llama");
        string(&mut b, "ids");
        b.extend(9u32.to_le_bytes());
        b.extend(4u32.to_le_bytes());
        b.extend(2u64.to_le_bytes());
        b.extend(7u32.to_le_bytes());
        b.extend(9u32.to_le_bytes());
        string(&mut b, "w");
        b.extend(2u32.to_le_bytes());
        b.extend(2u64.to_le_bytes());
        b.extend(3u64.to_le_bytes());
        b.extend(0u32.to_le_bytes());
        b.extend(0u64.to_le_bytes());
        while b.len() % 32 != 0 {
            b.push(0);
        }
        for v in [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0] {
            b.extend(v.to_le_bytes());
        }
        b
    }

    #[test]
    fn reads_metadata_and_tensors() {
        let f = GgufFile::parse(tiny()).unwrap();
        assert_eq!(
            f.get("general.architecture").and_then(MetaValue::as_str),
            Some("llama")
        );
        let ids: Vec<u64> = f
            .get("ids")
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .filter_map(MetaValue::as_u64)
            .collect();
        assert_eq!(ids, [7, 9]);
        let w = f.tensor("w").unwrap();
        assert_eq!(w.shape(), [3, 2]);
        assert_eq!(f.dequantize(w).unwrap(), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }

    #[test]
    fn truncated_or_foreign_files_say_where() {
        let bytes = tiny();
        let err = GgufFile::parse(bytes[..bytes.len() - 4].to_vec()).unwrap_err();
        assert!(
            err.message
                .contains("tensor w: its 24 bytes run past the end"),
            "{err}"
        );
        let err = GgufFile::parse(b"GGML\0\0\0\0".to_vec()).unwrap_err();
        assert_eq!(err.offset, 0);
        let err = GgufFile::parse(bytes[..60].to_vec()).unwrap_err();
        assert!(err.message.contains("ends inside"), "{err}");
        let mut huge = bytes.clone();
        huge[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        let err = GgufFile::parse(huge).unwrap_err();
        assert!(err.message.contains("larger than the file"), "{err}");
    }
}
