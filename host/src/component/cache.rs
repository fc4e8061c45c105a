//! Compiled code on disk, so an unchanged component is not compiled again
//! at the next start. Deserialising compiled code runs it as native code, so
//! an entry is used only when this host wrote it:
//! - the folder is created owner-only and refused if anyone else could
//!   write to it (or if it is a symlink or someone else's);
//! - each entry is named by the component's digest and the engine's
//!   configuration, and carries an HMAC-SHA256 of its name and bytes under a
//!   key kept (owner-only) in the folder; it is checked before the bytes are
//!   deserialised, and deserialised from the very bytes checked;
//! - temporary files are created exclusively and never through a symlink;
//! - an entry that fails any check is discarded, logged and recompiled.

use std::fs::OpenOptions;
use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

type HmacSha256 = Hmac<Sha256>;

const KEY_FILE: &str = "key";
const KEY_BYTES: usize = 32;
const MAC_BYTES: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("compiled-code cache {dir} refused: {reason}")]
    Unsafe { dir: PathBuf, reason: String },
    #[error("compiled-code cache {dir}: {source}")]
    Io {
        dir: PathBuf,
        source: std::io::Error,
    },
}

pub struct CompiledCache {
    dir: PathBuf,
    key: [u8; KEY_BYTES],
    /// The engine configuration's fingerprint, part of every entry's name.
    engine: String,
}

/// Feeds `Hash` output into SHA-256, for a fingerprint stable across runs.
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        0
    }
}

fn engine_fingerprint(engine: &Engine) -> String {
    let mut hasher = Sha256Hasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hex::encode(hasher.0.finalize())
}

fn no_follow() -> i32 {
    rustix::fs::OFlags::NOFOLLOW.bits() as i32
}

/// Owned by this user and writable by no one else.
fn check_private(path: &Path, meta: &std::fs::Metadata, what: &str) -> Result<(), String> {
    if meta.file_type().is_symlink() {
        return Err(format!("{} is a symbolic link", path.display()));
    }
    let uid = rustix::process::geteuid().as_raw();
    if meta.uid() != uid {
        return Err(format!(
            "{what} {} belongs to user {}, not to this service's user {uid}",
            path.display(),
            meta.uid()
        ));
    }
    if meta.permissions().mode() & 0o022 != 0 {
        return Err(format!(
            "{what} {} is writable by other users (chmod go-w it, or remove it to let the service create it owner-only)",
            path.display()
        ));
    }
    Ok(())
}

impl CompiledCache {
    pub fn open(dir: &Path, engine: &Engine) -> Result<Self, CacheError> {
        let unsafe_dir = |reason: String| CacheError::Unsafe {
            dir: dir.to_path_buf(),
            reason,
        };
        let io = |source| CacheError::Io {
            dir: dir.to_path_buf(),
            source,
        };
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        match std::fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err(io(err)),
        }
        let meta = std::fs::symlink_metadata(dir).map_err(io)?;
        if !meta.is_dir() && !meta.file_type().is_symlink() {
            return Err(unsafe_dir("not a folder".into()));
        }
        check_private(dir, &meta, "the folder").map_err(unsafe_dir)?;
        let key = Self::key(dir).map_err(unsafe_dir)?;
        Ok(CompiledCache {
            dir: dir.to_path_buf(),
            key,
            engine: engine_fingerprint(engine),
        })
    }

    /// The folder's key, created on first use.
    fn key(dir: &Path) -> Result<[u8; KEY_BYTES], String> {
        let path = dir.join(KEY_FILE);
        let mut key = [0u8; KEY_BYTES];
        match OpenOptions::new()
            .read(true)
            .custom_flags(no_follow())
            .open(&path)
        {
            Ok(mut file) => {
                let meta = file.metadata().map_err(|e| e.to_string())?;
                check_private(&path, &meta, "the key file")?;
                if meta.permissions().mode() & 0o077 != 0 || !meta.is_file() {
                    return Err(format!(
                        "the key file {} must be a file readable by its owner only",
                        path.display()
                    ));
                }
                file.read_exact(&mut key)
                    .map_err(|e| format!("the key file {} is unreadable: {e}", path.display()))?;
                Ok(key)
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                getrandom::fill(&mut key).map_err(|e| format!("no randomness: {e}"))?;
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(no_follow())
                    .open(&path)
                    .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
                file.write_all(&key)
                    .and_then(|()| file.sync_all())
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                Ok(key)
            }
            Err(err) => Err(format!("cannot open {}: {err}", path.display())),
        }
    }

    fn name(&self, digest: &str) -> String {
        hex::encode(Sha256::digest(format!("{digest}\n{}", self.engine)))
    }

    fn mac(&self, name: &str, code: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(name.as_bytes());
        mac.update(&[0]);
        mac.update(code);
        mac
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.cwasm"))
    }

    /// The compiled component for `digest`, if a sound entry holds it.
    pub fn read(&self, engine: &Engine, digest: &str) -> Option<Component> {
        let name = self.name(digest);
        let path = self.path(&name);
        let mut bytes = Vec::new();
        match OpenOptions::new()
            .read(true)
            .custom_flags(no_follow())
            .open(&path)
        {
            Ok(mut file) => {
                if let Err(err) = file.read_to_end(&mut bytes) {
                    self.discard(&path, &format!("unreadable: {err}"));
                    return None;
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return None,
            Err(err) => {
                self.discard(&path, &format!("cannot be opened: {err}"));
                return None;
            }
        }
        if bytes.len() < MAC_BYTES {
            self.discard(&path, "too short to be an entry");
            return None;
        }
        let (tag, code) = bytes.split_at(MAC_BYTES);
        if self.mac(&name, code).verify_slice(tag).is_err() {
            self.discard(
                &path,
                "its authentication code does not match (not written by this host, or damaged)",
            );
            return None;
        }
        // SAFETY: `code` is exactly the bytes this host serialised for this
        // component digest and engine configuration: the HMAC under the
        // owner-only key proves it, and they are not read again from disk.
        match unsafe { Component::deserialize(engine, code) } {
            Ok(component) => Some(component),
            Err(err) => {
                self.discard(&path, &format!("unusable: {err:#}"));
                None
            }
        }
    }

    fn discard(&self, path: &Path, why: &str) {
        tracing::warn!(path = %path.display(), "compiled-code cache entry discarded, recompiling: {why}");
        let _ = std::fs::remove_file(path);
    }

    pub fn write(&self, digest: &str, component: &Component) {
        let name = self.name(digest);
        let path = self.path(&name);
        let write = || -> std::io::Result<()> {
            let code = component.serialize().map_err(std::io::Error::other)?;
            let tag = self.mac(&name, &code).finalize().into_bytes();
            let mut suffix = [0u8; 8];
            getrandom::fill(&mut suffix).map_err(|e| std::io::Error::other(e.to_string()))?;
            // Created exclusively under a fresh name, then renamed over the
            // entry: a crash never leaves a torn entry, and a planted
            // symlink is never written through.
            let partial = self
                .dir
                .join(format!("{name}.{}.partial", hex::encode(suffix)));
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(no_follow())
                .open(&partial)?;
            let written = file
                .write_all(&tag)
                .and_then(|()| file.write_all(&code))
                .and_then(|()| file.sync_all());
            if let Err(err) = written.and_then(|()| std::fs::rename(&partial, &path)) {
                let _ = std::fs::remove_file(&partial);
                return Err(err);
            }
            Ok(())
        };
        if let Err(err) = write() {
            tracing::warn!(path = %path.display(), "cannot cache compiled code: {err}");
        }
    }
}
