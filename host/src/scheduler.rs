//! The periodic full sync: while `ENABLE_SYNC` is true, an in-process
//! `POST /webhooks/sync` to the guest every `SYNC_INTERVAL_SECONDS`.

use std::sync::Arc;
use std::time::Duration;

use crate::runtime::Runtime;

pub const SYNC_PATH: &str = "/webhooks/sync";
/// How often a disabled scheduler looks whether it was enabled.
const RECHECK: Duration = Duration::from_secs(5);

pub async fn run(runtime: Arc<Runtime>) {
    loop {
        let settings = runtime.config.current();
        if !settings.enable_sync {
            tokio::time::sleep(RECHECK).await;
            continue;
        }
        match crate::local::call(&runtime, "POST", SYNC_PATH).await {
            Ok(answer) if (200..300).contains(&answer.status) => {
                tracing::debug!(status = answer.status, "scheduled sync triggered");
            }
            Ok(answer) => {
                tracing::warn!(
                    status = answer.status,
                    "scheduled sync trigger not accepted"
                );
            }
            Err(err) => tracing::error!("scheduled sync not triggered: {err:#}"),
        }
        tokio::time::sleep(runtime.config.current().sync_interval).await;
    }
}
