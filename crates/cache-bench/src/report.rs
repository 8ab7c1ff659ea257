//! Tables, CSV, plots and `docs/PERFORMANCE.md` from a results file (being written).

use std::path::Path;

/// Writes the report of `input` into `out` (and `docs`).
///
/// # Errors
/// Unreadable input, unwritable output.
pub fn write(input: &Path, out: &Path, docs: Option<&Path>) -> anyhow::Result<()> {
    let _ = (input, out, docs);
    anyhow::bail!("the report is not written yet")
}
