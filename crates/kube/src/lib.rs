//! GlobalReport, GlobalReportType and GlobalReportWaiver as Kubernetes resources, wherever
//! they come from.
//!
//! [`crd`] is pure (types and the CRD YAML); [`diagnose`] holds the pure decisions about
//! API answers; [`resources`] is the seam every source of GlobalReports implements, with
//! two sources: YAML files ([`manifests`]) and the API server ([`source`] and [`nodes`],
//! the only parts that talk to a server). Errors name the caller's own RBAC ([`error::Caller`]).

pub mod crd;
pub mod diagnose;
pub mod error;
pub mod manifests;
pub mod nodes;
pub mod resources;
pub mod source;
pub mod waivers;

pub use error::{COMPLIANCECTL, Caller, KubeError, REPORTER};
pub use manifests::Resources;
pub use nodes::{ClusterNode, ClusterNodes};
pub use resources::{ReportSource, ResourceError};
pub use source::{KubeSettings, KubeSource};
pub use waivers::{ClusterWaivers, InvalidWaiver};
