//! The guest's own memory use, for reports.

/// Bytes of linear memory the instance holds now. A wasm memory never
/// shrinks, so at the end of a run this is the run's peak. `None` natively.
pub fn linear_memory_bytes() -> Option<u64> {
    #[cfg(target_arch = "wasm32")]
    {
        Some(core::arch::wasm32::memory_size(0) as u64 * 65536)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        None
    }
}
