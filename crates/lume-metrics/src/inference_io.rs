//! Writing the reference layout's CSV files (header and columns as the SemEval evaluator
//! writes them with pandas), each through a temporary file renamed into place.

use std::path::Path;

use crate::score::InferenceRow;

fn atomically(
    path: &Path,
    write: impl FnOnce(&mut csv::Writer<std::fs::File>) -> csv::Result<()>,
) -> std::io::Result<()> {
    let tmp = path.with_extension("csv.tmp");
    let mut writer = csv::Writer::from_path(&tmp).map_err(std::io::Error::other)?;
    write(&mut writer).map_err(std::io::Error::other)?;
    writer.flush()?;
    drop(writer);
    std::fs::rename(&tmp, path)
}

fn number(v: Option<f64>) -> String {
    v.map_or_else(String::new, |v| format!("{v}"))
}

/// `id,task,input,expected_output,model_output,nll`.
pub fn write_inference_csv(path: &Path, rows: &[InferenceRow]) -> std::io::Result<()> {
    atomically(path, |w| {
        w.write_record([
            "id",
            "task",
            "input",
            "expected_output",
            "model_output",
            "nll",
        ])?;
        for r in rows {
            w.write_record([
                r.id.as_str(),
                r.task.as_str(),
                &r.input,
                &r.expected_output,
                &r.model_output,
                &number(r.nll),
            ])?;
        }
        Ok(())
    })
}

/// `id,nll`.
pub fn write_mia_csv(path: &Path, rows: &[(String, f64)]) -> std::io::Result<()> {
    atomically(path, |w| {
        w.write_record(["id", "nll"])?;
        for (id, nll) in rows {
            w.write_record([id.as_str(), &number(Some(*nll))])?;
        }
        Ok(())
    })
}
