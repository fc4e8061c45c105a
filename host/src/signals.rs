//! Signals: SIGTERM and SIGINT start a graceful shutdown and a second one
//! ends the process at once; SIGHUP re-reads the env file (and, with
//! `--component`, the component) and never kills the process.

use std::sync::Arc;

use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::config::ConfigSource;

pub struct Signals {
    terminate: Signal,
    interrupt: Signal,
    hangup: Option<Signal>,
}

impl Signals {
    /// Installs the handlers; from here on SIGHUP's default action (exit)
    /// no longer applies.
    pub fn install() -> std::io::Result<Self> {
        Ok(Signals {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
            hangup: Some(signal(SignalKind::hangup())?),
        })
    }

    pub fn take_hangups(&mut self) -> Option<Signal> {
        self.hangup.take()
    }

    /// Resolves at the first SIGTERM or SIGINT; a second one exits.
    pub async fn first_stop(mut self) {
        let which = self.next().await;
        tracing::info!("{which} received: shutting down (send it again to stop at once)");
        tokio::spawn(async move {
            let which = self.next().await;
            tracing::warn!("{which} received again: stopping now");
            std::process::exit(1);
        });
    }

    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }
}

pub async fn reread_on_hangup(hangups: Option<Signal>, config: Arc<ConfigSource>) {
    let Some(mut hangups) = hangups else { return };
    while hangups.recv().await.is_some() {
        tracing::info!("SIGHUP received: reading the configuration again");
        config.reread();
    }
}
