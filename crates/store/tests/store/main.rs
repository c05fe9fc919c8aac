//! Both stores through their public API: SQLite on real files, Elasticsearch against the
//! fake (and a real cluster when ELASTICSEARCH_URL is set).

mod elastic;
mod elastic_real;
mod scenarios;
mod sqlite;
