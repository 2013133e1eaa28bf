//! STUB (not committed): replaced by the stream branch.
use crate::change::Change;
use crate::error::{Error, Result};
use crate::feed::ReadSpec;
use crate::manifest::BinlogPosition;
use futures::future::BoxFuture;
pub struct FollowRequest {
    pub url: String,
    pub database: String,
    pub specs: Vec<ReadSpec>,
    pub from: BinlogPosition,
    pub server_id: u32,
    pub heartbeat_secs: f64,
    pub batch_rows: usize,
}
pub struct BinlogChanges;
impl crate::source::ChangeStream for BinlogChanges {
    fn next(&mut self) -> BoxFuture<'_, Result<Change>> {
        Box::pin(async { Err(Error::other("stub")) })
    }
    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async {})
    }
}
pub async fn open(_req: FollowRequest) -> Result<BinlogChanges> {
    Ok(BinlogChanges)
}
pub async fn server_position(_url: &str) -> Result<BinlogPosition> {
    Err(Error::other("stub"))
}
