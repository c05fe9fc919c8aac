//! The store through its public API: one contract every backend keeps (SQLite, the fake
//! Elasticsearch, a real cluster when ELASTICSEARCH_URL is set), then what each backend
//! does on its own.

mod calico;
mod contract;
mod elastic;
mod elastic_real;
mod faults;
mod findings;
mod lifecycle;
mod notifications;
mod sqlite;
mod sqlite_retention;
mod support;
