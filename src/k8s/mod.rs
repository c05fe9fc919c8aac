//! The Kubernetes adapter: custom resource types and loading GlobalReports from the API.
//!
//! [`crd`] is pure (types and the CRD YAML); [`diagnose`] holds the pure decisions about
//! API answers; [`source`] is the only part that talks to a server.

pub mod crd;
pub mod diagnose;
pub mod error;
pub mod source;

pub use error::KubeError;
pub use source::{KubeSettings, KubeSource};
