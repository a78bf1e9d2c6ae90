//! The Hugging Face parquet files of the benchmark (`id, input, output, task, split` columns).

use std::path::Path;

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;

use crate::fields::{Located, RawField, record_from_fields};
use crate::problem::{DataError, Position, Problem, ProblemKind};
use crate::record::Record;
use crate::scan::Scan;

fn field_type(f: &Field) -> &'static str {
    match f {
        Field::Null => "null",
        Field::Bool(_) => "a boolean",
        Field::Bytes(_) => "bytes",
        Field::Group(_) => "a struct",
        Field::ListInternal(_) => "a list",
        Field::MapInternal(_) => "a map",
        Field::Float(_) | Field::Double(_) | Field::Float16(_) | Field::Decimal(_) => "a number",
        Field::Str(_) => "a string",
        _ => "an integer or date",
    }
}

/// How many times its own size a parquet file may declare in data (text compresses 3-10x).
const MAX_EXPANSION: u64 = 32;

/// Reads a parquet file row by row; row numbers are 0-based, as `datasets` and pandas show them.
pub fn scan_parquet(path: &Path) -> Result<Scan<Record>, DataError> {
    let file = crate::open_regular(path).map_err(|e| DataError::io(path, e))?;
    let unreadable = |e: parquet::errors::ParquetError| {
        DataError::Invalid(vec![Problem::new(
            path,
            Position::File,
            None,
            ProblemKind::Unreadable(format!("not a readable parquet file ({e})")),
        )])
    };
    let file_len = file.metadata().map_err(|e| DataError::io(path, e))?.len();
    let reader = SerializedFileReader::new(file).map_err(unreadable)?;
    // Pages are decompressed into buffers of their declared size: a small file declaring
    // gigabytes (a decompression bomb) is refused before any page is read.
    let declared: i64 = reader
        .metadata()
        .row_groups()
        .iter()
        .flat_map(|g| g.columns())
        .map(|c| c.uncompressed_size().max(0))
        .fold(0i64, i64::saturating_add);
    let limit = file_len
        .saturating_mul(MAX_EXPANSION)
        .saturating_add(64 << 20);
    if u64::try_from(declared).unwrap_or(u64::MAX) > limit {
        return Err(DataError::Invalid(vec![Problem::new(
            path,
            Position::File,
            None,
            ProblemKind::Unreadable(format!(
                "declares {declared} bytes of data in a file of {file_len}: more than lume \
                 decompresses ({MAX_EXPANSION}x the file + 64 MiB)"
            )),
        )]));
    }
    let rows = reader.get_row_iter(None).map_err(unreadable)?;
    let mut scan = Scan::default();
    for (i, row) in rows.enumerate() {
        let position = Position::Row(i);
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                scan.problems.push(Problem::new(
                    path,
                    position,
                    None,
                    ProblemKind::Unreadable(e.to_string()),
                ));
                continue;
            }
        };
        let get = |name: &'static str| match row
            .get_column_iter()
            .find(|(column, _)| column.as_str() == name)
        {
            None | Some((_, Field::Null)) => RawField::Missing,
            Some((_, Field::Str(s))) => RawField::Text(s.clone()),
            Some((_, other)) => RawField::NotString(field_type(other)),
        };
        if let Some(record) = record_from_fields(path, position, None, get, &mut scan.problems) {
            scan.items.push(Located {
                value: record,
                file: path.to_path_buf(),
                position,
            });
        }
    }
    Ok(scan)
}
