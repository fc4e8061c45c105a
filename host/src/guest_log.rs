//! The guest's stdout and stderr, as lines in the host's log tagged `guest`.
//!
//! A line may start with a level (`ERROR `, `WARN `, `INFO `, `DEBUG `) to be
//! logged at that level; otherwise stdout is INFO and stderr WARN.

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

#[derive(Clone, Copy)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// Longest line kept; the rest of an over-long line is cut.
const MAX_LINE: usize = 16 * 1024;

#[derive(Clone, Copy)]
pub struct GuestLog(pub Stream);

impl IsTerminal for GuestLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestLog {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineWriter {
            stream: self.0,
            buffer: Vec::new(),
        })
    }
}

struct LineWriter {
    stream: Stream,
    buffer: Vec<u8>,
}

impl LineWriter {
    fn emit(&mut self) {
        let line = String::from_utf8_lossy(&self.buffer).trim_end().to_string();
        self.buffer.clear();
        if !line.is_empty() {
            log_line(self.stream, &line);
        }
    }
}

/// The guest's context fields at the start of a line (`sync_id=… item_id=…`),
/// and the rest. A value that is not a plain id is left in the message.
fn context(rest: &str) -> (Option<&str>, Option<&str>, &str) {
    let plain = |v: &str| {
        !v.is_empty()
            && v.len() <= 64
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let mut fields = [None, None];
    let mut rest = rest;
    for (slot, name) in ["sync_id=", "item_id="].iter().enumerate() {
        if let Some(after) = rest.strip_prefix(name)
            && let Some((value, tail)) = after.split_once(' ')
            && plain(value)
        {
            fields[slot] = Some(value);
            rest = tail;
        }
    }
    (fields[0], fields[1], rest)
}

/// One level's record, with the context fields it has.
macro_rules! record {
    ($level:ident, $sync:expr, $item:expr, $message:expr) => {
        match ($sync, $item) {
            (Some(sync_id), Some(item_id)) => {
                tracing::$level!(target: "guest", sync_id, item_id, "{}", $message)
            }
            (Some(sync_id), None) => tracing::$level!(target: "guest", sync_id, "{}", $message),
            (None, Some(item_id)) => tracing::$level!(target: "guest", item_id, "{}", $message),
            (None, None) => tracing::$level!(target: "guest", "{}", $message),
        }
    };
}

fn log_line(stream: Stream, line: &str) {
    let (level, message) = match line.split_once(' ') {
        Some(("ERROR", rest)) => ("error", rest),
        Some(("WARN" | "WARNING", rest)) => ("warn", rest),
        Some(("INFO", rest)) => ("info", rest),
        Some(("DEBUG", rest)) => ("debug", rest),
        _ => match stream {
            Stream::Stdout => ("info", line),
            Stream::Stderr => ("warn", line),
        },
    };
    let (sync_id, item_id, message) = context(message);
    match level {
        "error" => record!(error, sync_id, item_id, message),
        "warn" => record!(warn, sync_id, item_id, message),
        "debug" => record!(debug, sync_id, item_id, message),
        _ => record!(info, sync_id, item_id, message),
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        for &byte in bytes {
            if byte == b'\n' {
                self.emit();
            } else if self.buffer.len() < MAX_LINE {
                self.buffer.push(byte);
            }
        }
        Poll::Ready(Ok(bytes.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.emit();
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        self.emit();
    }
}

#[cfg(test)]
mod tests {
    use super::context;

    #[test]
    fn context_fields_are_taken_only_when_plain() {
        assert_eq!(
            context("sync_id=ab-1 item_id=c2 Sync started"),
            (Some("ab-1"), Some("c2"), "Sync started")
        );
        assert_eq!(context("item_id=c2 x"), (None, Some("c2"), "x"));
        assert_eq!(
            context("sync_id=a\"b rest"),
            (None, None, "sync_id=a\"b rest")
        );
        assert_eq!(context("plain line"), (None, None, "plain line"));
    }
}
