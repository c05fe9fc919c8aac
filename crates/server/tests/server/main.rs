//! HTTP-level tests of compliance-server: requests through `compliance_server::router`
//! against SQLite stores in temporary directories.

mod support;

mod pages;
