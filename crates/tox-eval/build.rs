//! With the `torch` feature, embed libtorch's library folder as an rpath so that tests run
//! without `LD_LIBRARY_PATH` (torch-sys exports it as `DEP_TCH_LIBTORCH_LIB`).
fn main() {
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
}
