//! Builds the components the end-to-end tests serve: two builds of the real
//! guest that differ only in their version label (for hot swap), its
//! `wasmtime-serve` build (for `wasmtime serve`), and the probe component
//! (for sandbox and capability tests).

#[path = "../host/build/component_build.rs"]
mod component_build;

use std::path::PathBuf;

use component_build::{ComponentBuild, component_target_dir, rerun_if_changed, workspace_root};

fn main() -> Result<(), String> {
    let root = workspace_root();
    rerun_if_changed(&[
        root.join("guest/src"),
        root.join("guest/Cargo.toml"),
        root.join("tests/components"),
        root.join("wit"),
        root.join("Cargo.lock"),
        root.join("host/build/component_build.rs"),
    ]);
    let out = PathBuf::from(std::env::var("OUT_DIR").map_err(|e| e.to_string())?);
    let manifest = root.join("Cargo.toml");
    let target_dir = component_target_dir("test-components");
    // Sequential builds in one target directory: only the guest crate is
    // rebuilt between the two labels.
    for label in ["swap-a", "swap-b"] {
        let built = ComponentBuild {
            manifest: &manifest,
            package: "calplanebot-guest",
            features: &[],
            env: &[("CALPLANEBOT_BUILD_LABEL", label)],
            target_dir: &target_dir,
        }
        .run()?;
        std::fs::copy(&built, out.join(format!("guest-{label}.wasm")))
            .map_err(|e| e.to_string())?;
    }
    // The host's build script builds the same in the same folder: cached.
    let wasmtime_serve = ComponentBuild {
        manifest: &manifest,
        package: "calplanebot-guest",
        features: &["wasmtime-serve"],
        env: &[],
        target_dir: &component_target_dir("guest-wasmtime-serve"),
    }
    .run()?;
    std::fs::copy(&wasmtime_serve, out.join("guest-wasmtime-serve.wasm"))
        .map_err(|e| e.to_string())?;
    let probe = ComponentBuild {
        manifest: &manifest,
        package: "calplanebot-probe",
        features: &[],
        env: &[],
        target_dir: &target_dir,
    }
    .run()?;
    std::fs::copy(&probe, out.join("probe.wasm")).map_err(|e| e.to_string())?;
    Ok(())
}
