//! Bindings for the imports beyond `wasi:http/proxy` (which the `wasip2`
//! crate carries), in the versions the build targets: Spin's and
//! calplanebot's host by default, `wasmtime serve`'s and wasmCloud's with the
//! `wasmtime-serve` feature. Generated once, here, so each interface has one
//! set of bindings in the component.

#[cfg(not(feature = "wasmtime-serve"))]
mod generated {
    wit_bindgen::generate!({
        path: "../wit",
        world: "calplanebot:service/spin-imports",
        generate_all,
    });
    pub use self::wasi::config0_2_0_draft_2024_09_27::store as config;
    pub use self::wasi::keyvalue0_2_0_draft2::{atomics, store};
}

#[cfg(feature = "wasmtime-serve")]
mod generated {
    wit_bindgen::generate!({
        path: "../wit",
        world: "calplanebot:service/wasmtime-serve-imports",
        generate_all,
    });
    pub use self::wasi::config0_2_0_rc_1::store as config;
    pub use self::wasi::keyvalue0_2_0_draft::{atomics, store};
}

pub use generated::{atomics, config, store};
