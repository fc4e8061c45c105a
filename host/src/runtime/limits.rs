//! Per-instance resource limits, remembering which one stopped the guest so
//! the log can say why a request failed.

use wasmtime::ResourceLimiter;

pub struct InstanceLimiter {
    pub memory_bytes: usize,
    /// Set when the guest asked for more memory than allowed.
    pub memory_exceeded: bool,
    /// Linear memory the instance holds now, all its memories together
    /// (it never shrinks), and the most it held: the run's peak.
    pub memory_in_use: usize,
    pub memory_peak: usize,
}

impl InstanceLimiter {
    pub fn new(memory_bytes: usize) -> Self {
        InstanceLimiter {
            memory_bytes,
            memory_exceeded: false,
            memory_in_use: 0,
            memory_peak: 0,
        }
    }
}

/// Tables in our guests hold function references; this bounds a runaway one.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl ResourceLimiter for InstanceLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.memory_exceeded = true;
            return Ok(false);
        }
        self.memory_in_use = self.memory_in_use.saturating_sub(current) + desired;
        self.memory_peak = self.memory_peak.max(self.memory_in_use);
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
