//! Suite `resume` (being written).

use crate::suites::Ctx;

/// Runs the suite.
///
/// # Errors
/// Any failure of the suite.
pub fn run(ctx: &Ctx) -> anyhow::Result<()> {
    ctx.note("resume", "not yet written")
}
