//! compliance-server: the stored reports over HTTP, for scripts and for people.
//!
//! The JSON API keeps Calico Enterprise's paths and semantics (docs/spec.md §9), so
//! existing scripts and dashboards keep working; the pages are server-rendered HTML that
//! works without JavaScript, with every asset inside the binary (clusters are often
//! air-gapped). Who may read what is Kubernetes RBAC on GlobalReports and
//! GlobalReportTypes, asked with TokenReviews and SubjectAccessReviews ([`auth`]).
//!
//! The house style holds here too: parsing a request ([`params`]), deciding who sees what
//! ([`auth::visible_reports`]), naming downloads ([`download`]) and shaping a page's data
//! ([`pages::view`]) are pure functions; handlers only read the store and write out what
//! those functions return. [`error::ApiError`] is the one policy from failures to status
//! codes.

pub mod api;
pub mod auth;
pub mod clusters;
pub mod download;
pub mod error;
pub mod findings;
pub mod index;
pub mod metrics;
pub mod pages;
pub mod params;
pub mod recent;
pub mod state;

pub use error::ApiError;
pub use state::{BuildInfo, Server};

/// Every route of the server: the JSON API of docs/spec.md §9, the pages and their assets.
pub fn router(server: std::sync::Arc<Server>) -> axum::Router {
    api::routes().merge(pages::routes()).with_state(server)
}
