//! The source's binary log (docs/architecture.md, "Change capture"): today the
//! preflight a followed copy runs before moving data; the change stream will live here.

pub mod preflight;
