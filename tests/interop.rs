//! Interop against real servers: Prosody and ejabberd from Debian's packages, each started
//! by `tests/servers` on 127.0.0.1 with its own ports, directory and self-signed
//! certificate, and stopped afterwards. Both adapters against both servers.
//!
//! These tests are `#[ignore]`d so that a plain `cargo test` passes on a machine without the
//! servers (the output lists them as ignored, with the reason). Run them with
//! `scripts/test.sh` (installs the servers as root if missing) or, once installed,
//! `cargo test --all-features --test interop -- --include-ignored`. When run, a server that is
//! missing is a failure, never a silent pass.

/// One `#[test]` a scenario and server, ignored unless asked for.
#[cfg(all(feature = "tokio", feature = "blocking"))]
macro_rules! interop {
    ($($name:ident => $f:ident($kind:expr);)*) => {$(
        #[test]
        #[ignore = "interop: needs Prosody and ejabberd; run scripts/test.sh, or `cargo test --all-features --test interop -- --include-ignored`"]
        fn $name() {
            $f($kind)
        }
    )*};
}

#[cfg(all(feature = "tokio", feature = "blocking"))]
#[path = "interop/caps.rs"]
mod caps;
#[cfg(all(feature = "tokio", feature = "blocking"))]
#[path = "interop/continuity.rs"]
mod continuity;
#[cfg(all(feature = "tokio", feature = "blocking"))]
#[path = "interop/im.rs"]
mod im;
#[cfg(all(feature = "tokio", feature = "blocking"))]
#[path = "interop/load.rs"]
mod load;
#[cfg(all(feature = "tokio", feature = "blocking"))]
#[path = "interop/proxy.rs"]
mod proxy;
#[cfg(all(feature = "tokio", feature = "blocking"))]
mod servers;
#[cfg(all(feature = "tokio", feature = "blocking"))]
#[path = "interop/suite.rs"]
mod suite;
#[cfg(all(feature = "tokio", feature = "blocking"))]
#[path = "interop/vcard.rs"]
mod vcard;

/// Without the adapters there is nothing to run; say so in `cargo test`'s output.
#[cfg(not(all(feature = "tokio", feature = "blocking")))]
#[test]
#[ignore = "interop suite not built: it needs the adapters; run scripts/test.sh, or `cargo test --all-features -- --include-ignored` with Prosody and ejabberd installed"]
fn interop_suite_needs_features_tokio_and_blocking() {}
