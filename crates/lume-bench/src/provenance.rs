//! What a result was made from, by content: digests of the checkpoints and files a stage reads
//! (cached by path, size, modification and change time and inode, so a 14 GB checkpoint is
//! hashed once, and a copy over it, even with `cp -p`, is seen), and the lock that keeps one
//! writer per output folder.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{BenchError, write_json};

/// The files of a checkpoint folder that make the model: what `Model::load` and the tokenizer
/// read, and nothing lume writes beside them (evaluations, stage markers).
fn is_model_file(name: &str) -> bool {
    matches!(
        name,
        "config.json"
            | "generation_config.json"
            | "tokenizer.json"
            | "tokenizer_config.json"
            | "special_tokens_map.json"
            | "model.safetensors.index.json"
    ) || name.ends_with(".safetensors")
        || name.ends_with(".gguf")
}

/// A file's identity as the file system tells it without reading it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    size: u64,
    modified_ns: i128,
    changed_ns: i128,
    inode: u64,
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
            Stamp {
                size: meta.len(),
                modified_ns: ns(meta.mtime(), meta.mtime_nsec()),
                changed_ns: ns(meta.ctime(), meta.ctime_nsec()),
                inode: meta.ino(),
            }
        }
        #[cfg(not(unix))]
        {
            let modified_ns = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos() as i128);
            Stamp {
                size: meta.len(),
                modified_ns,
                changed_ns: modified_ns,
                inode: 0,
            }
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Remembered {
    stamp: Stamp,
    sha256: String,
}

/// Digests of files already read, kept in `<dir>/digests.json`.
pub(crate) struct DigestCache {
    path: PathBuf,
    known: BTreeMap<PathBuf, Remembered>,
    changed: bool,
}

impl DigestCache {
    /// The cache kept in `dir` (read when it is there; a damaged one is started afresh).
    pub(crate) fn open(dir: &Path) -> Self {
        let path = dir.join("digests.json");
        let known = std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        DigestCache {
            path,
            known,
            changed: false,
        }
    }

    /// The SHA-256 of a regular file, from the cache when its stamp is unchanged.
    fn file(&mut self, path: &Path) -> Result<String, BenchError> {
        let meta = regular_file(path)?;
        let key = std::path::absolute(path).map_err(BenchError::io(path))?;
        let stamp = Stamp::of(&meta);
        if let Some(r) = self.known.get(&key).filter(|r| r.stamp == stamp) {
            return Ok(r.sha256.clone());
        }
        let mut file = File::open(path).map_err(BenchError::io(path))?;
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buffer).map_err(BenchError::io(path))?;
            if n == 0 {
                break;
            }
            hasher.update(&buffer[..n]);
        }
        let sha256 = hex(&hasher.finalize());
        // The stamp after reading: a file rewritten while it was read is hashed again next time.
        let after = Stamp::of(&regular_file(path)?);
        if after == stamp {
            self.known.insert(
                key,
                Remembered {
                    stamp,
                    sha256: sha256.clone(),
                },
            );
            self.changed = true;
        }
        Ok(sha256)
    }

    /// The digest of a checkpoint: a `.gguf` file, or the model files of a folder (names and
    /// contents).
    pub(crate) fn checkpoint(&mut self, path: &Path) -> Result<String, BenchError> {
        let meta = std::fs::metadata(path).map_err(BenchError::io(path))?;
        if !meta.is_dir() {
            return self.file(path);
        }
        let mut names: Vec<String> = std::fs::read_dir(path)
            .map_err(BenchError::io(path))?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| is_model_file(name))
            .collect();
        names.sort();
        if names.is_empty() {
            return Err(BenchError::Config(format!(
                "{}: no checkpoint there (config.json, *.safetensors)",
                path.display()
            )));
        }
        let mut parts = Vec::with_capacity(names.len());
        for name in names {
            let digest = self.file(&path.join(&name))?;
            parts.push((name, digest));
        }
        Ok(crate::stage::fingerprint(&parts))
    }

    /// The digest of every file under a folder (names relative to it, and contents), or of a
    /// file's contents.
    pub(crate) fn tree(&mut self, root: &Path) -> Result<String, BenchError> {
        if root.is_file() {
            return self.file(root);
        }
        let mut parts = Vec::new();
        let mut pending = vec![root.to_path_buf()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).map_err(BenchError::io(&dir))? {
                let entry = entry.map_err(BenchError::io(&dir))?;
                let path = entry.path();
                // Not through links to folders: a link back up the tree would never end.
                let file_type = entry.file_type().map_err(BenchError::io(&path))?;
                if file_type.is_dir() {
                    pending.push(path);
                } else {
                    let name = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
                    parts.push((name, self.file(&path)?));
                }
            }
        }
        parts.sort();
        Ok(crate::stage::fingerprint(&parts))
    }

    /// Writes the cache back when it learned something.
    pub(crate) fn save(&self) -> Result<(), BenchError> {
        if !self.changed {
            return Ok(());
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(BenchError::io(dir))?;
        }
        let value = serde_json::to_value(&self.known)
            .map_err(|e| BenchError::Config(format!("{}: {e}", self.path.display())))?;
        write_json(&self.path, &value)
    }
}

/// The digest of what a data set is: every record's id, prompt and answer, every MIA
/// document.
pub(crate) fn data_digest(bench: &lume_data::Benchmark, mia: Option<&lume_data::MiaSet>) -> String {
    crate::stage::fingerprint(&(
        bench
            .records
            .iter()
            .map(|r| (r.id.to_string(), &r.input, &r.output))
            .collect::<Vec<_>>(),
        mia.map(|m| {
            m.members
                .iter()
                .chain(&m.nonmembers)
                .map(|d| (&d.id, &d.document))
                .collect::<Vec<_>>()
        }),
    ))
}

/// The digest of one checkpoint (folder or `.gguf`), with the cache kept in `cache_dir`.
pub fn checkpoint_digest(path: &Path, cache_dir: &Path) -> Result<String, BenchError> {
    let mut cache = DigestCache::open(cache_dir);
    let digest = cache.checkpoint(path)?;
    cache.save()?;
    Ok(digest)
}

/// The metadata of `path` when it is a regular file (after links); anything else (a FIFO, a
/// device, a socket) is refused, so that a read can neither hang nor run without end.
pub fn regular_file(path: &Path) -> Result<std::fs::Metadata, BenchError> {
    let meta = std::fs::metadata(path).map_err(BenchError::io(path))?;
    if !meta.is_file() {
        return Err(BenchError::Io {
            path: path.to_path_buf(),
            error: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a regular file (a FIFO, device or socket is never read)",
            ),
        });
    }
    Ok(meta)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The lock file of an output folder written by one process at a time.
pub(crate) const LOCK_FILE: &str = ".lume.lock";

/// An advisory lock that makes one process the only writer of an output: taken with
/// [`OutputLock::acquire`], released when dropped or when the process dies (Ctrl-C, `kill -9`),
/// so a stale lock never blocks a rerun.
#[derive(Debug)]
pub struct OutputLock {
    _file: File,
}

impl OutputLock {
    /// Locks `dir/<name>` (creating `dir`); a second writer gets "`dir`: in use by process N".
    pub fn acquire(dir: &Path, name: &str) -> Result<Self, BenchError> {
        std::fs::create_dir_all(dir).map_err(BenchError::io(dir))?;
        let path = dir.join(name);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(BenchError::io(&path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = (&file).take(32).read_to_string(&mut text);
                return Err(BenchError::Busy {
                    path: dir.to_path_buf(),
                    pid: text.trim().parse().ok(),
                });
            }
            Err(std::fs::TryLockError::Error(error)) => return Err(BenchError::Io { path, error }),
        }
        file.set_len(0).map_err(BenchError::io(&path))?;
        write!(file, "{}", std::process::id()).map_err(BenchError::io(&path))?;
        Ok(OutputLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_is_known_by_its_content_even_under_the_old_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let (model, cache) = (dir.path().join("model"), dir.path().join("cache"));
        std::fs::create_dir_all(&model).unwrap();
        let weights = model.join("model.safetensors");
        std::fs::write(&weights, b"old weights").unwrap();
        std::fs::write(model.join("config.json"), b"{}").unwrap();
        let first = checkpoint_digest(&model, &cache).unwrap();
        assert_eq!(first, checkpoint_digest(&model, &cache).unwrap());
        // lume's own outputs beside the model are not the model.
        std::fs::write(model.join("evaluation_results.json"), b"{}").unwrap();
        assert_eq!(first, checkpoint_digest(&model, &cache).unwrap());
        // New bytes of the same length, the old modification time put back (`cp -p`): the
        // change time still moves, so the file is read again.
        let modified = std::fs::metadata(&weights).unwrap().modified().unwrap();
        std::fs::write(&weights, b"new weights").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&weights)
            .unwrap()
            .set_modified(modified)
            .unwrap();
        assert_ne!(first, checkpoint_digest(&model, &cache).unwrap());
    }

    #[test]
    fn a_second_writer_is_told_who_holds_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let first = OutputLock::acquire(dir.path(), LOCK_FILE).unwrap();
        let err = OutputLock::acquire(dir.path(), LOCK_FILE).unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("in use by process {}", std::process::id())),
            "{err}"
        );
        drop(first);
        OutputLock::acquire(dir.path(), LOCK_FILE).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_folder_linking_back_up_its_tree_is_refused_not_walked_forever() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("questions.csv"), b"a,b").unwrap();
        std::os::unix::fs::symlink(dir.path(), dir.path().join("again")).unwrap();
        let mut cache = DigestCache::open(&dir.path().join(".cache"));
        let err = cache.tree(dir.path()).unwrap_err();
        assert!(err.to_string().contains("again"), "{err}");
    }

    #[test]
    fn special_files_are_refused_before_they_are_read() {
        let err = regular_file(Path::new("/dev/zero")).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }
}
