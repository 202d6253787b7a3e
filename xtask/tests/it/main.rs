//! End-to-end tests of `cargo xtask`: the built binary run as a maintainer runs it.
//!
//! Tests marked `#[ignore = "needs the hollow cluster …"]` talk to a real hollow cluster; `cargo
//! xtask test` brings one up and runs them with `SEATRIAL_KUBECONFIG` set. The others need
//! nothing but the binary.

mod bad_input;
mod charts;
mod discovery;
mod end_to_end;
mod hollow;
mod images;
mod ledger;
mod local;
mod outage;
mod pins;
mod providers;
mod repository;
mod scenarios;
mod signals;
mod support;
mod sweep;
mod upgrade;
mod workflows;
