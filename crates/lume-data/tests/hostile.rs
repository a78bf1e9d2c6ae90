//! Input files that would cost far more than their size: refused before they are expanded.

use std::sync::Arc;

use parquet::basic::{Compression, ZstdLevel};
use parquet::data_type::{ByteArray, ByteArrayType};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

/// A parquet file of one row whose `output` holds `len` bytes of one letter (zstd).
fn parquet_of(path: &std::path::Path, len: usize) {
    let schema = parse_message_type(
        "message schema { REQUIRED BYTE_ARRAY id (UTF8); REQUIRED BYTE_ARRAY task (UTF8);
         REQUIRED BYTE_ARRAY input (UTF8); REQUIRED BYTE_ARRAY output (UTF8);
         REQUIRED BYTE_ARRAY split (UTF8); }",
    )
    .unwrap();
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(19).unwrap()))
        .build();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = SerializedFileWriter::new(file, Arc::new(schema), Arc::new(props)).unwrap();
    let mut group = writer.next_row_group().unwrap();
    let values = [
        "x_1sc1".to_owned(),
        "Task1".into(),
        "a".into(),
        "a".repeat(len),
        "forget".into(),
    ];
    let mut values = values.into_iter();
    while let Some(mut column) = group.next_column().unwrap() {
        let value = ByteArray::from(values.next().unwrap().into_bytes());
        column
            .typed::<ByteArrayType>()
            .write_batch(&[value], None, None)
            .unwrap();
        column.close().unwrap();
    }
    group.close().unwrap();
    writer.close().unwrap();
}

#[test]
fn a_parquet_decompression_bomb_is_refused_and_a_plain_file_read() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("forget_bomb.parquet");
    parquet_of(&bomb, 256 << 20);
    let size = std::fs::metadata(&bomb).unwrap().len();
    assert!(size < 1 << 20, "the bomb is small: {size} bytes");
    let err = lume_data::scan_parquet(&bomb).unwrap_err().to_string();
    assert!(err.contains("more than lume decompresses"), "{err}");

    let plain = dir.path().join("forget_plain.parquet");
    parquet_of(&plain, 64);
    let scan = lume_data::scan_parquet(&plain).unwrap();
    assert_eq!(scan.items.len(), 1, "{:?}", scan.problems);
}
