//! Turns component bytes into a [`LoadedGuest`], or says precisely why not.
//!
//! Compiled code is cached by the SHA-256 of the bytes, in memory and on
//! disk, so an unchanged file is never compiled twice (not even across
//! restarts).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use super::LoadedGuest;
use crate::runtime::GuestState;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("not a valid WebAssembly component: {0:#}")]
    Invalid(wasmtime::Error),
    #[error("imports this host cannot provide: {0:#}")]
    Unlinkable(wasmtime::Error),
    #[error("does not export wasi:http/incoming-handler: {0:#}")]
    NotAProxy(wasmtime::Error),
}

pub struct Loader {
    engine: Engine,
    linker: Arc<Linker<GuestState>>,
    compiled: Mutex<HashMap<String, Component>>,
    cache_dir: Option<PathBuf>,
}

impl Loader {
    pub fn new(
        engine: Engine,
        linker: Arc<Linker<GuestState>>,
        cache_dir: Option<PathBuf>,
    ) -> Self {
        Loader {
            engine,
            linker,
            compiled: Mutex::new(HashMap::new()),
            cache_dir,
        }
    }

    pub fn digest(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    /// Validates, compiles (or takes from the cache) and links `bytes`.
    /// Blocking: call it off the request path.
    pub fn load(&self, bytes: &[u8], origin: &str) -> Result<LoadedGuest, LoadError> {
        let digest = Self::digest(bytes);
        let component = self.component(bytes, &digest)?;
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(LoadError::Unlinkable)?;
        let pre = ProxyPre::new(instance_pre).map_err(LoadError::NotAProxy)?;
        Ok(LoadedGuest {
            pre,
            digest,
            origin: origin.to_string(),
        })
    }

    fn component(&self, bytes: &[u8], digest: &str) -> Result<Component, LoadError> {
        let memory = self.compiled.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(component) = memory.get(digest) {
            return Ok(component.clone());
        }
        drop(memory);
        let component = match self.read_cached(digest) {
            Some(component) => component,
            None => {
                let started = Instant::now();
                let component = Component::new(&self.engine, bytes).map_err(LoadError::Invalid)?;
                tracing::info!(
                    digest = &digest[..12],
                    millis = started.elapsed().as_millis() as u64,
                    "component compiled"
                );
                self.write_cached(digest, &component);
                component
            }
        };
        self.compiled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(digest.to_string(), component.clone());
        Ok(component)
    }

    fn cache_path(&self, digest: &str) -> Option<PathBuf> {
        self.cache_dir
            .as_ref()
            .map(|dir| dir.join(format!("{digest}.cwasm")))
    }

    fn read_cached(&self, digest: &str) -> Option<Component> {
        let path = self.cache_path(digest)?;
        if !path.exists() {
            return None;
        }
        // SAFETY: the file is one this host wrote with `Component::serialize`
        // under its own data directory, named by the digest of the source.
        // wasmtime checks that it was produced by a compatible engine and
        // configuration and errors otherwise, in which case we recompile.
        match unsafe { Component::deserialize_file(&self.engine, &path) } {
            Ok(component) => Some(component),
            Err(err) => {
                tracing::warn!(path = %path.display(), "compiled-code cache entry unusable, recompiling: {err:#}");
                None
            }
        }
    }

    fn write_cached(&self, digest: &str, component: &Component) {
        let Some(path) = self.cache_path(digest) else {
            return;
        };
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let bytes = component.serialize().map_err(std::io::Error::other)?;
            // Write then rename, so a crash never leaves a torn cache entry.
            let partial = path.with_extension("partial");
            std::fs::write(&partial, bytes)?;
            std::fs::rename(&partial, &path)
        };
        if let Err(err) = write() {
            tracing::warn!(path = %path.display(), "cannot cache compiled code: {err}");
        }
    }
}
