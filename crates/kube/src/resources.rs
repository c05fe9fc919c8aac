//! What every source of GlobalReports shares: the [`ReportSource`] seam, its errors,
//! and the validation a report and its type pass whichever source they came from.
//!
//! Two sources implement it: YAML manifests ([`crate::manifests`]) for local runs and CI,
//! and the Kubernetes API ([`crate::source`]) in a cluster.

// Errors here are built once per run on the way out; their size is irrelevant, and
// keeping the fields inline keeps the messages' construction simple.
#![allow(clippy::result_large_err)]

use std::fmt;
use std::path::PathBuf;

use compliance_core::error::{Classify, ErrorKind};
use compliance_core::model::global_report::API_VERSION;
use compliance_core::model::{GlobalReport, GlobalReportType, ValidationError};

use crate::error::KubeError;
use crate::nodes::ClusterNodes;
use crate::waivers::ClusterWaivers;

/// Where a resource was read from: file and 1-based document index within it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub path: PathBuf,
    pub document: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (document {})", self.path.display(), self.document)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}: not valid YAML: {message}")]
    Yaml { origin: Origin, message: String },
    #[error("{origin}: {kind} {name:?}: {field}: {message}")]
    Field {
        origin: Origin,
        kind: String,
        name: String,
        field: String,
        message: String,
    },
    #[error("{origin}: {kind} has apiVersion {found:?}; expected {API_VERSION}")]
    ApiVersion {
        origin: Origin,
        kind: String,
        found: String,
    },
    #[error("{kind} {name:?} is defined twice: {first} and {second}")]
    Duplicate {
        kind: String,
        name: String,
        first: Origin,
        second: Origin,
    },
    #[error("no GlobalReport named {name:?} in {where_}{}", known_list(.known))]
    UnknownReport {
        name: String,
        where_: String,
        known: Vec<String>,
    },
    #[error("GlobalReport {report:?}: spec.reportType: unknown report type {report_type:?}{}", known_list(.known))]
    UnknownReportType {
        report: String,
        report_type: String,
        known: Vec<String>,
    },
    #[error("{kind} {name:?} is invalid: {}", join(.errors))]
    Invalid {
        kind: String,
        name: String,
        errors: Vec<ValidationError>,
    },
    /// Reading from the Kubernetes API failed.
    #[error(transparent)]
    Kubernetes(Box<KubeError>),
}

impl From<KubeError> for ResourceError {
    fn from(e: KubeError) -> Self {
        ResourceError::Kubernetes(Box::new(e))
    }
}

impl Classify for ResourceError {
    /// A file that cannot be read is unavailable; a report or type that does not exist
    /// is not found; a bad file or object is invalid; the API server's failures keep
    /// their own kind.
    fn kind(&self) -> ErrorKind {
        match self {
            ResourceError::Kubernetes(e) => e.kind(),
            ResourceError::UnknownReport { .. } | ResourceError::UnknownReportType { .. } => {
                ErrorKind::NotFound
            }
            ResourceError::Read { .. }
            | ResourceError::Yaml { .. }
            | ResourceError::Field { .. }
            | ResourceError::ApiVersion { .. }
            | ResourceError::Duplicate { .. }
            | ResourceError::Invalid { .. } => ErrorKind::Invalid,
        }
    }
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        " (none defined)".to_string()
    } else {
        format!(" (defined: {})", known.join(", "))
    }
}

fn join(errors: &[ValidationError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Loads a report and its type by report name: from files now, from the API server later.
pub trait ReportSource {
    /// The named GlobalReport, validated for a run ([`checked`]), with its
    /// GlobalReportType (the built-in `cis-benchmark` type when no object of that name
    /// exists).
    fn load_report(&self, name: &str) -> Result<(GlobalReport, GlobalReportType), ResourceError>;

    /// The cluster's Linux nodes, which a report must account for (docs/spec.md §4.2):
    /// [`ClusterNodes::Unknown`] for a source without a cluster, and
    /// [`ClusterNodes::NotPermitted`] when RBAC refuses the list, which a report survives.
    fn cluster_nodes(&self) -> Result<ClusterNodes, ResourceError>;

    /// Every GlobalReportWaiver the source holds, each checked: the invalid ones are
    /// listed apart, never an error (docs/waivers.md). [`ClusterWaivers::NotServed`] when
    /// the API refuses the list, which a report survives.
    fn waivers(&self) -> Result<ClusterWaivers, ResourceError>;
}

/// Validates a report and its (already resolved) type, whichever source they came from,
/// for a reporter run: every rule but the schedule's frequency limit
/// ([`GlobalReport::validate_for_run`]).
pub fn checked(
    report: GlobalReport,
    report_type: GlobalReportType,
) -> Result<(GlobalReport, GlobalReportType), ResourceError> {
    let type_errors = report_type.validate();
    if !type_errors.is_empty() {
        return Err(ResourceError::Invalid {
            kind: "GlobalReportType".into(),
            name: report_type.metadata.name.clone(),
            errors: type_errors,
        });
    }
    // How often the schedule fires limits scheduling, not a run (docs/spec.md §2): the
    // reporter checks it against its window.
    let errors = report.validate_for_run(&|_| true);
    if !errors.is_empty() {
        return Err(ResourceError::Invalid {
            kind: "GlobalReport".into(),
            name: report.metadata.name.clone(),
            errors,
        });
    }
    Ok((report, report_type))
}
