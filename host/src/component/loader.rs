//! Turns component bytes into a [`LoadedGuest`], or says precisely why not.
//!
//! Compiled code is cached by the SHA-256 of the bytes, in memory and on
//! disk ([`CompiledCache`]), so an unchanged file is never compiled twice
//! (not even across restarts).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use super::LoadedGuest;
use super::cache::CompiledCache;
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
    cache: Option<CompiledCache>,
}

impl Loader {
    pub fn new(
        engine: Engine,
        linker: Arc<Linker<GuestState>>,
        cache: Option<CompiledCache>,
    ) -> Self {
        Loader {
            engine,
            linker,
            compiled: Mutex::new(HashMap::new()),
            cache,
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
        let cached = self
            .cache
            .as_ref()
            .and_then(|cache| cache.read(&self.engine, digest));
        let component = match cached {
            Some(component) => component,
            None => {
                let started = Instant::now();
                let component = Component::new(&self.engine, bytes).map_err(LoadError::Invalid)?;
                tracing::info!(
                    digest = &digest[..12],
                    millis = started.elapsed().as_millis() as u64,
                    "component compiled"
                );
                if let Some(cache) = &self.cache {
                    cache.write(digest, &component);
                }
                component
            }
        };
        self.compiled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(digest.to_string(), component.clone());
        Ok(component)
    }
}
