//! compliance-server through its router, as a client sees it: requests in, statuses,
//! headers and bodies out, over SQLite stores in temporary directories. Tests that need
//! Kubernetes to decide use a real kube-apiserver (`compliance_testkit::apiserver`) and
//! are skipped, visibly, without one.

mod support;

mod auth;
mod browser;
mod hostile;
mod pages;
mod uris;
