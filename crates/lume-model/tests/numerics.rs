//! The numerics version's guard: a tiny fixed model's logits, recorded per precision and
//! kernel path in `tests/fixtures/numerics.json`, must stay the same to the last bit while
//! `NUMERICS_VERSION` stays the same. A kernel change that moves them fails here until the
//! version is bumped (which makes every cache redo its work) and the outputs recorded again:
//! `LUME_BLESS_NUMERICS=1 cargo test -p lume-model --test numerics`, and again with
//! `LUME_KERNELS=portable` for the portable paths.

use std::collections::BTreeMap;
use std::path::PathBuf;

use burn::tensor::{Int, Tensor, TensorData};
use lume_model::{
    DeviceSpec, LlamaShape, Model, ModelConfig, NUMERICS_VERSION, Numerics, Precision,
};
use serde::{Deserialize, Serialize};

/// Blessing writes one file from two tests.
static BLESS: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[derive(Serialize, Deserialize)]
struct Golden {
    numerics_version: u32,
    /// By precision and kernel path (`f32/avx512`, `bf16/avx512/avx512_bf16`): every logit's
    /// f32 bits.
    outputs: BTreeMap<String, Vec<u32>>,
}

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/numerics.json")
}

/// Logits of a batch of two (the general product), of one row (the few-rows kernel), and the
/// last positions of one long row (sums over more keys than one piece of the blocked
/// attention).
fn logits(precision: Precision) -> Vec<f32> {
    let config = ModelConfig::llama(LlamaShape {
        vocab_size: 40,
        hidden_size: 32,
        layers: 2,
        heads: 4,
        kv_heads: 2,
        intermediate_size: 48,
        max_positions: 320,
    })
    .unwrap();
    let device = DeviceSpec::Cpu.device().unwrap();
    let model = Model::random(config, 7, &device)
        .with_weight_dtype(
            lume_model::WeightDtype::F32
                .for_precision(precision)
                .unwrap(),
        )
        .with_precision(precision)
        .unwrap();
    let ids: Vec<i64> = (0..300).map(|i| (i * 7 + 3) % 40).collect();
    let mut out = Vec::new();
    for (rows, cols, last) in [(2, 12, 12), (1, 9, 9), (1, 300, 4)] {
        let batch = Tensor::<2, Int>::from_data(
            TensorData::new(ids[..rows * cols].to_vec(), [rows, cols]),
            &device,
        );
        let logits = model.forward(batch, None, false).logits;
        let [_, _, vocab] = logits.dims();
        let logits = logits.slice([0..rows, cols - last..cols, 0..vocab]);
        out.extend(logits.into_data().try_to_vec::<f32>().unwrap());
    }
    out
}

#[test]
fn f32_outputs_move_only_with_the_numerics_version() {
    let numerics = Numerics::current();
    check(Precision::F32, format!("f32/{}", numerics.kernel_path));
}

#[test]
fn bf16_outputs_move_only_with_the_numerics_version() {
    let numerics = Numerics::current();
    check(
        Precision::Bf16,
        format!("bf16/{}/{}", numerics.kernel_path, numerics.bf16_path),
    );
}

/// The logits of `precision` against those recorded under `current`; a path not recorded is
/// compared with another of the same precision up to rounding.
fn check(precision: Precision, current: String) {
    let bits: Vec<u32> = logits(precision).iter().map(|v| v.to_bits()).collect();
    let text = std::fs::read_to_string(path()).unwrap_or_default();
    let mut golden: Golden = serde_json::from_str(&text).unwrap_or(Golden {
        numerics_version: NUMERICS_VERSION,
        outputs: BTreeMap::new(),
    });
    if std::env::var("LUME_BLESS_NUMERICS").is_ok_and(|v| v == "1") {
        if golden.numerics_version != NUMERICS_VERSION {
            golden.outputs.clear();
        }
        golden.numerics_version = NUMERICS_VERSION;
        golden.outputs.insert(current.clone(), bits);
        // Both tests bless: the file must not lose the other's record.
        let _guard = BLESS.lock().unwrap();
        let text = std::fs::read_to_string(path()).unwrap_or_default();
        if let Ok(latest) = serde_json::from_str::<Golden>(&text)
            && latest.numerics_version == NUMERICS_VERSION
        {
            for (key, value) in latest.outputs {
                golden.outputs.entry(key).or_insert(value);
            }
        }
        let json = serde_json::to_string(&golden).unwrap();
        std::fs::write(path(), json + "\n").unwrap();
        eprintln!("recorded the {current} outputs of numerics version {NUMERICS_VERSION}");
        return;
    }
    assert_eq!(
        golden.numerics_version, NUMERICS_VERSION,
        "NUMERICS_VERSION is {NUMERICS_VERSION}, the recorded outputs are of version {}: record \
         them with LUME_BLESS_NUMERICS=1 on each kernel path",
        golden.numerics_version
    );
    assert!(
        !golden.outputs.is_empty(),
        "no recorded outputs: run with LUME_BLESS_NUMERICS=1"
    );
    match golden.outputs.get(&current) {
        Some(recorded) => {
            let moved = recorded.iter().zip(&bits).filter(|(a, b)| a != b).count();
            assert!(
                recorded.len() == bits.len() && moved == 0,
                "{moved} of {} logits moved on the {current} path while NUMERICS_VERSION stayed \
                 {NUMERICS_VERSION}: bump it (caches must redo their work) and record the \
                 outputs again with LUME_BLESS_NUMERICS=1",
                bits.len()
            );
        }
        None => {
            // Not recorded on this path: at least the numbers must be those of another path
            // up to rounding; the bit-exact guard runs where they were recorded.
            let prefix = format!("{precision}/");
            let (other, recorded) = golden
                .outputs
                .iter()
                .find(|(key, _)| key.starts_with(&prefix))
                .unwrap_or_else(|| panic!("no {precision} outputs recorded: bless them"));
            for (a, b) in recorded.iter().zip(&bits) {
                let (a, b) = (f32::from_bits(*a), f32::from_bits(*b));
                assert!(
                    (a - b).abs() <= 1e-4 * a.abs().max(1.0),
                    "{current} gives {b}, {other} recorded {a}"
                );
            }
            eprintln!(
                "note: no outputs recorded for the {current} path ({} are): compared with \
                 {other} up to rounding only",
                golden
                    .outputs
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
}
