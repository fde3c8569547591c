//! The configuration, read in `fsa-app` so commands that never serve HTTP
//! need not link this crate; kept under this path for the code that
//! already names it here.

pub use fsa_app::config::*;
