//! CIS Kubernetes benchmark compliance reports.
//!
//! The crate is split the way data flows: [`model`] holds the documents, [`report`] is
//! the pure computation (no IO, no clock), [`render`] writes the downloads, [`store`] and
//! [`import`] are the adapters around them, and [`config`] reads the environment.

pub mod benchmarker;
pub mod config;
pub mod health;
pub mod import;
pub mod k8s;
pub mod logging;
pub mod model;
pub mod render;
pub mod report;
pub mod reporter;
pub mod resources;
pub mod store;
pub mod synth;
