//! Per-instance resource limits, remembering which one stopped the guest so
//! the log can say why a request failed.

use wasmtime::ResourceLimiter;

pub struct InstanceLimiter {
    pub memory_bytes: usize,
    /// Set when the guest asked for more memory than allowed.
    pub memory_exceeded: bool,
}

/// Tables in our guests hold function references; this bounds a runaway one.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl ResourceLimiter for InstanceLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.memory_exceeded = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
