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
    match level {
        "error" => tracing::error!(target: "guest", "{message}"),
        "warn" => tracing::warn!(target: "guest", "{message}"),
        "debug" => tracing::debug!(target: "guest", "{message}"),
        _ => tracing::info!(target: "guest", "{message}"),
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
