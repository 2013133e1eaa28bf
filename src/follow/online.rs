//! The follower's part in an online verify (docs/architecture.md, "Proving while
//! live"): the follower is held, the verify's source snapshot is taken at a known
//! position, the follower applies exactly up to it and exports the target's snapshot
//! there, and the two are compared while writes go on. A verify that passed is the
//! proof a cut-over starts from.

use crate::error::Result;
use crate::manifest::BinlogPosition;
use crate::pg::connect::connect;
use crate::pipeline::spec::Pipeline;
use crate::verify::report::Report;
use crate::verify::{verify_at_position, Depth};

use super::request::Held;

/// `converge verify --online`: compares the pipeline's source and target at one source
/// position while the source is live. Without a running follower, one runs here
/// meanwhile. A full verify that passed is recorded as the proof at its position.
pub async fn verify_online(p: &Pipeline, depth: Depth) -> Result<Report> {
    let mut held = Held::ask(p, "verify", false).await?;
    let asked = &mut held;
    let until: crate::verify::Until<'_> =
        Box::new(move |at: BinlogPosition| Box::pin(async move { asked.until(&at).await.map(|r| r.snapshot) }));
    let report = verify_at_position(p, depth, until).await;
    // The proof is recorded before the request is withdrawn: a follower that starts in
    // between sees one of the two, and records the keys it changes after the proof.
    let proof = match &report {
        Ok(r) if r.passed() && depth == Depth::Full => match &r.position {
            Some(at) => record_proof(p, at).await,
            None => Ok(()),
        },
        _ => Ok(()),
    };
    held.finish().await;
    proof?;
    report
}

/// Every row equalled the source at `at`: the cut-over need only verify the keys changed
/// after it (those at or before it are forgotten).
async fn record_proof(p: &Pipeline, at: &BinlogPosition) -> Result<()> {
    let Some(sink) = p.postgres() else { return Ok(()) };
    let client = connect(&sink.url).await?;
    crate::pg::state::record_proof(&client, &p.name, sink.schema(), at).await?;
    crate::pg::changed::forget_through(&client, &p.name, sink.schema(), at).await?;
    Ok(())
}
