//! What every request shares: the clusters' stores, the authorizer, the build and the
//! caches of report indexes and of GlobalReports' lifecycles.

use crate::auth::Auth;
use crate::clusters::Clusters;
use crate::findings::LifecycleCache;
use crate::index::IndexCache;
use crate::metrics::MetricsCache;

/// The server's answer to `GET /compliance/version`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BuildInfo {
    pub version: String,
    #[serde(rename = "buildDate")]
    pub build_date: String,
    #[serde(rename = "gitTagRef")]
    pub git_tag_ref: String,
    #[serde(rename = "gitCommit")]
    pub git_commit: String,
}

impl BuildInfo {
    /// This build: the crate version, and what the build environment said of the date,
    /// tag and commit (`COMPLIANCE_BUILD_DATE`, `COMPLIANCE_GIT_TAG`,
    /// `COMPLIANCE_GIT_COMMIT` at compile time; `unknown` when it said nothing).
    pub fn this_build() -> BuildInfo {
        BuildInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            build_date: option_env!("COMPLIANCE_BUILD_DATE")
                .unwrap_or("unknown")
                .to_string(),
            git_tag_ref: option_env!("COMPLIANCE_GIT_TAG")
                .unwrap_or("unknown")
                .to_string(),
            git_commit: option_env!("COMPLIANCE_GIT_COMMIT")
                .unwrap_or("unknown")
                .to_string(),
        }
    }
}

/// The server: shared by every request through an `Arc`.
#[derive(Debug)]
pub struct Server {
    pub clusters: Clusters,
    pub auth: Auth,
    pub build: BuildInfo,
    pub indexes: IndexCache,
    /// The lifecycles of the most recently read GlobalReports.
    pub lifecycles: LifecycleCache,
    /// The series of `/metrics`, kept between scrapes.
    pub metrics: MetricsCache,
}

impl Server {
    pub fn new(clusters: Clusters, auth: Auth) -> Server {
        Server {
            clusters,
            auth,
            build: BuildInfo::this_build(),
            indexes: IndexCache::default(),
            lifecycles: LifecycleCache::default(),
            metrics: MetricsCache::default(),
        }
    }

    /// The same server exporting (or not) a series per failing test of each node on
    /// `/metrics` (`COMPLIANCE_METRICS_PER_TEST`; off by default).
    pub fn with_metrics_per_test(mut self, on: bool) -> Server {
        self.metrics = MetricsCache::new(on);
        self
    }
}
