//! `wasi:config/store` for the guest, in both versions a build may import
//! (Spin's `0.2.0-draft-2024-09-27`, `wasmtime serve`'s `0.2.0-rc.1`): the
//! documented settings in force when the instance started, the same values
//! its environment holds.

use std::sync::Arc;

use wasmtime::component::HasData;

use super::Settings;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "calplanebot:service/config-stores",
    });
}

use bindings::wasi::config0_2_0_draft_2024_09_27::store as spin;
use bindings::wasi::config0_2_0_rc_1::store as rc1;

/// The settings one instance sees.
pub struct GuestConfig<'a> {
    pub settings: &'a Arc<Settings>,
}

impl GuestConfig<'_> {
    fn get(&self, key: &str) -> Option<String> {
        self.settings
            .vars
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, value)| value.clone())
    }

    fn all(&self) -> Vec<(String, String)> {
        self.settings
            .vars
            .iter()
            .map(|(name, value)| (name.to_string(), value.clone()))
            .collect()
    }
}

struct HasGuestConfig;

impl HasData for HasGuestConfig {
    type Data<'a> = GuestConfig<'a>;
}

/// Links both versions.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
    view: fn(&mut T) -> GuestConfig<'_>,
) -> wasmtime::Result<()> {
    add_spin_to_linker(linker, view)?;
    add_rc1_to_linker(linker, view)
}

/// `wasi:config@0.2.0-draft-2024-09-27` (Spin 3's) alone.
pub fn add_spin_to_linker<T: Send + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
    view: fn(&mut T) -> GuestConfig<'_>,
) -> wasmtime::Result<()> {
    spin::add_to_linker::<_, HasGuestConfig>(linker, view)
}

/// `wasi:config@0.2.0-rc.1` (`wasmtime serve`'s) alone.
pub fn add_rc1_to_linker<T: Send + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
    view: fn(&mut T) -> GuestConfig<'_>,
) -> wasmtime::Result<()> {
    rc1::add_to_linker::<_, HasGuestConfig>(linker, view)
}

impl spin::Host for GuestConfig<'_> {
    fn get(&mut self, key: String) -> Result<Option<String>, spin::Error> {
        Ok(GuestConfig::get(self, &key))
    }

    fn get_all(&mut self) -> Result<Vec<(String, String)>, spin::Error> {
        Ok(self.all())
    }
}

impl rc1::Host for GuestConfig<'_> {
    fn get(&mut self, key: String) -> Result<Option<String>, rc1::Error> {
        Ok(GuestConfig::get(self, &key))
    }

    fn get_all(&mut self) -> Result<Vec<(String, String)>, rc1::Error> {
        Ok(self.all())
    }
}
