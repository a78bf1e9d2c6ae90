//! Reading input files safely: only regular files (a FIFO would hang a read, a link to
//! `/dev/zero` would read until memory runs out), and never more than a stated size.

use std::fs::File;
use std::io::{Error, ErrorKind, Read};
use std::path::Path;

/// The most lume reads of any one text input file (JSONL, CSV, JSON, TOML): 4 GiB.
pub const MAX_TEXT_FILE: u64 = 4 << 30;

/// Opens `path` for reading if it is a regular file (after symbolic links).
///
/// ```
/// assert!(lume_data::open_regular("/dev/zero".as_ref()).is_err());
/// ```
pub fn open_regular(path: &Path) -> std::io::Result<File> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "not a regular file (FIFOs, devices and sockets are not read)",
        ));
    }
    File::open(path)
}

/// The bytes of the regular file `path`, refused when it holds more than `max` bytes.
pub fn read_regular(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let file = open_regular(path)?;
    let len = file.metadata()?.len();
    if len > max {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!("{len} bytes, more than the {max} lume reads from such a file"),
        ));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    // `take` also bounds a file that grows while it is read.
    file.take(max).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The text of the regular file `path` (UTF-8), at most [`MAX_TEXT_FILE`] bytes.
pub fn read_regular_string(path: &Path) -> std::io::Result<String> {
    let bytes = read_regular(path, MAX_TEXT_FILE)?;
    String::from_utf8(bytes).map_err(|e| Error::new(ErrorKind::InvalidData, e))
}
