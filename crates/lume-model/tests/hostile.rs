//! The readers fed random and mutated files: never a panic, and never more memory than a
//! stated multiple of the file's size (measured by a counting allocator around each read).

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use lume_model::{GgufFile, ModelConfig, TextTokenizer, read_f32_safetensors};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

struct Counting;
static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call goes to the system allocator unchanged; only the byte counts are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            let now = CURRENT.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size
                - layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        } else {
            CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// What a reader may allocate for a file of `len` bytes, beyond what was live before.
fn budget(len: usize) -> usize {
    64 * len + (8 << 20)
}

/// Runs `read` on `bytes` and checks its peak allocation against [`budget`].
fn bounded(what: &str, bytes: &[u8], read: impl FnOnce()) {
    let before = CURRENT.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    read();
    let used = PEAK.load(Ordering::Relaxed).saturating_sub(before);
    assert!(
        used <= budget(bytes.len()),
        "{what}: {used} bytes allocated for a file of {}",
        bytes.len()
    );
}

/// A small valid GGUF v3 file: the architecture, the alignment and one F32 tensor `[2, 4]`.
fn gguf() -> Vec<u8> {
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
    string(&mut b, "general.alignment");
    b.extend(4u32.to_le_bytes());
    b.extend(32u32.to_le_bytes());
    string(&mut b, "token_embd.weight");
    b.extend(2u32.to_le_bytes());
    b.extend(4u64.to_le_bytes());
    b.extend(2u64.to_le_bytes());
    b.extend(0u32.to_le_bytes());
    b.extend(0u64.to_le_bytes());
    b.resize(b.len().div_ceil(32) * 32, 0);
    b.extend((0..8).flat_map(|i| (i as f32).to_le_bytes()));
    b
}

/// `base` with a few bytes overwritten, a run inserted, or its end cut.
fn mutated(base: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let len = base.len();
    (
        proptest::collection::vec((0..len.max(1), any::<u8>()), 0..8),
        proptest::option::of((0..=len, proptest::collection::vec(any::<u8>(), 1..16))),
        0..=len,
    )
        .prop_map(move |(flips, insert, cut)| {
            let mut bytes = base.clone();
            for (at, value) in flips {
                if at < bytes.len() {
                    bytes[at] = value;
                }
            }
            if let Some((at, run)) = insert {
                let at = at.min(bytes.len());
                bytes.splice(at..at, run);
            }
            if cut < bytes.len() && cut % 3 == 0 {
                bytes.truncate(cut);
            }
            bytes
        })
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .unwrap()
}

#[test]
fn readers_never_panic_and_stay_within_their_memory_budget() {
    let dir = tempfile::tempdir().unwrap();
    let mut runner = TestRunner::new(Config {
        cases: 96,
        failure_persistence: None,
        ..Config::default()
    });
    let file = dir.path().join("file");
    let write = |bytes: &[u8]| std::fs::write(&file, bytes).unwrap();

    runner
        .run(&mutated(gguf()), |bytes| {
            bounded("gguf", &bytes, || {
                let _ = GgufFile::parse(bytes.clone());
            });
            Ok(())
        })
        .unwrap();
    runner
        .run(&mutated(fixture("llama_gqa/config.json")), |bytes| {
            bounded("config.json", &bytes, || {
                let text = String::from_utf8_lossy(&bytes);
                let _ = ModelConfig::from_json(&text, Path::new("config.json"));
            });
            Ok(())
        })
        .unwrap();
    runner
        .run(&mutated(fixture("llama_gqa/model.safetensors")), |bytes| {
            write(&bytes);
            bounded("safetensors", &bytes, || {
                let _ = read_f32_safetensors(&file);
            });
            Ok(())
        })
        .unwrap();
    let tokenizer_dir = dir.path().join("tokenizer");
    std::fs::create_dir_all(&tokenizer_dir).unwrap();
    runner
        .run(&mutated(fixture("tokenizer/tokenizer.json")), |bytes| {
            std::fs::write(tokenizer_dir.join("tokenizer.json"), &bytes).unwrap();
            bounded("tokenizer.json", &bytes, || {
                let _ = TextTokenizer::from_dir(&tokenizer_dir);
            });
            Ok(())
        })
        .unwrap();
    let data = dir.path().join("forget.jsonl");
    let record = br#"{"id":"x_1sc1","task":"Task1","input":"The cat","output":"sat on the mat"}
{"id":"x_1qa1","task":"Task1","input":"Who sat?","output":"the cat"}
"#;
    runner
        .run(&mutated(record.to_vec()), |bytes| {
            std::fs::write(&data, &bytes).unwrap();
            bounded("jsonl", &bytes, || {
                let _ = lume_data::scan_jsonl(&data, lume_data::Split::Forget);
            });
            Ok(())
        })
        .unwrap();
}
