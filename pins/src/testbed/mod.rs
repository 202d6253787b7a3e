//! Real servers on loopback for the pins tests and `cargo xtask bench pins` (feature
//! `testbed`): a Helm chart repository served over HTTP with fault injection and a request
//! count ([`http`]), real chart tarballs ([`chart`]), Debian's `docker-registry` with
//! filesystem storage, optionally behind the Docker token protocol ([`registry`]), and a
//! token issuer that signs registry tokens ([`token`]).

pub mod chart;
pub mod http;
pub mod registry;
pub mod token;
pub mod world;
