//! Watches the component file and swaps in each valid new version.
//!
//! Polling (rather than inotify) sees every way a file is replaced — written
//! in place, renamed over, copied by an editor — the same way on every
//! platform. SIGHUP forces a reload.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::{GuestSlot, Loader};

const POLL: Duration = Duration::from_millis(200);

type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &std::path::Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

pub async fn watch(path: PathBuf, loader: Arc<Loader>, slot: Arc<GuestSlot>) {
    let mut hangup = hangup_signal();
    let mut seen = stamp(&path);
    let mut ticker = tokio::time::interval(POLL);
    loop {
        let forced = tokio::select! {
            _ = ticker.tick() => false,
            _ = hangup.recv() => true,
        };
        let now = stamp(&path);
        if !forced && now == seen {
            continue;
        }
        seen = now;
        reload(&path, &loader, &slot, forced).await;
    }
}

async fn reload(path: &std::path::Path, loader: &Arc<Loader>, slot: &GuestSlot, forced: bool) {
    let bytes = match tokio::fs::read(path).await {
        Ok(bytes) => bytes,
        Err(err) => {
            tracing::error!(path = %path.display(), "component unreadable, still serving the previous version: {err}");
            return;
        }
    };
    let current = slot.current();
    if Loader::digest(&bytes) == current.digest {
        if forced {
            tracing::info!(
                digest = current.short_digest(),
                "reload requested; component unchanged"
            );
        }
        return;
    }
    let started = Instant::now();
    let origin = path.display().to_string();
    let loader = loader.clone();
    let loaded = tokio::task::spawn_blocking(move || loader.load(&bytes, &origin)).await;
    match loaded {
        Ok(Ok(guest)) => {
            tracing::info!(
                from = current.short_digest(),
                to = guest.short_digest(),
                millis = started.elapsed().as_millis() as u64,
                "component swapped"
            );
            slot.swap(guest);
            crate::metrics::get().swap(true);
        }
        Ok(Err(err)) => {
            crate::metrics::get().swap(false);
            tracing::error!(
                path = %path.display(),
                still_serving = current.short_digest(),
                "component rejected: {err}"
            )
        }
        Err(err) => tracing::error!("component load task failed: {err}"),
    }
}

/// SIGHUP as a stream; on platforms without it, a stream that never fires.
fn hangup_signal() -> tokio::sync::mpsc::Receiver<()> {
    let (sender, receiver) = tokio::sync::mpsc::channel(1);
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::hangup()) {
            Ok(mut hangups) => {
                tokio::spawn(async move {
                    while hangups.recv().await.is_some() {
                        if sender.send(()).await.is_err() {
                            break;
                        }
                    }
                });
            }
            Err(err) => tracing::warn!("SIGHUP reload unavailable: {err}"),
        }
    }
    #[cfg(not(unix))]
    std::mem::forget(sender);
    receiver
}
