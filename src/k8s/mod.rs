//! The Kubernetes adapter: custom resource types and loading GlobalReports from the API.

pub mod crd;
