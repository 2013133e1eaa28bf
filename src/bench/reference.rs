//! PostgreSQL's own ingest, the reference `converge bench` holds the end-to-end copy
//! against (docs/architecture.md): the loaded tables written to binary COPY files by
//! PostgreSQL, then read back by it.

use std::path::Path;
use std::time::Instant;

use futures::{SinkExt, StreamExt};

use super::activity::{Activity, Watch};
use super::measure::Measured;
use crate::error::{Error, Result};
use crate::ident;

/// Writes each loaded table to a binary COPY file (PostgreSQL's own encoding), empties
/// the tables, and times PostgreSQL loading the files back — in one transaction, foreign
/// keys not checked row by row (as `converge` loads), indexes maintained.
///
/// The target is settled before the timed part and watched during it, as `converge`'s
/// loads are ([`Watch`]).
pub(super) async fn pg_copy_reference(
    pg_url: &str,
    source_tables: &[String],
    dir: &Path,
) -> Result<(Measured, Activity)> {
    let client = crate::pg::connect::connect(pg_url).await?;
    let pe = |what: &'static str| move |e: tokio_postgres::Error| Error::postgres(what, &e);
    let targets = crate::pg::introspect::introspect(&client, "public").await?;
    let tables: Vec<String> = targets.iter().map(|t| t.name.clone()).filter(|t| source_tables.contains(t)).collect();
    for t in &tables {
        let path = dir.join(format!("{t}.pgcopy"));
        let mut f = tokio::fs::File::create(&path).await.map_err(|e| Error::io(&path, e))?;
        let stream = client
            .copy_out(&format!("COPY {} TO STDOUT (FORMAT binary)", ident::pg(t)))
            .await
            .map_err(pe("writing the COPY reference file"))?;
        futures::pin_mut!(stream);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(pe("writing the COPY reference file"))?;
            tokio::io::AsyncWriteExt::write_all(&mut f, &chunk).await.map_err(|e| Error::io(&path, e))?;
        }
    }
    let list: Vec<String> = tables.iter().map(|t| ident::pg(t)).collect();
    client.batch_execute(&format!("TRUNCATE {}", list.join(", "))).await.map_err(pe("emptying the target"))?;
    let watch = Watch::settle_and_start(pg_url).await?;
    let started = Instant::now();
    client.batch_execute("BEGIN; SET LOCAL session_replication_role = replica").await.map_err(pe("starting"))?;
    for t in &tables {
        let path = dir.join(format!("{t}.pgcopy"));
        let sink = client
            .copy_in::<_, bytes::Bytes>(&format!("COPY {} FROM STDIN (FORMAT binary)", ident::pg(t)))
            .await
            .map_err(pe("COPY FROM"))?;
        futures::pin_mut!(sink);
        let mut f = tokio::fs::File::open(&path).await.map_err(|e| Error::io(&path, e))?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = tokio::io::AsyncReadExt::read(&mut f, &mut buf).await.map_err(|e| Error::io(&path, e))?;
            if n == 0 {
                break;
            }
            sink.send(bytes::Bytes::copy_from_slice(&buf[..n])).await.map_err(pe("COPY FROM"))?;
        }
        sink.finish().await.map_err(pe("COPY FROM"))?;
        let _ = std::fs::remove_file(&path);
    }
    client.batch_execute("COMMIT").await.map_err(pe("committing"))?;
    let seconds = started.elapsed().as_secs_f64();
    Ok((Measured { seconds, ..Default::default() }, watch.finish().await))
}
