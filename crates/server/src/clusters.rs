//! Which cluster's reports a request reads.
//!
//! Calico's managed clusters write to one Elasticsearch under their own index suffix, and
//! its server chose the cluster per request with the `x-cluster-id` header; the pages
//! carry the same choice as a `cluster` query parameter (a selector). A SQLite file holds
//! one cluster's data: asking it for another is a 404, not an empty list that looks like
//! "no reports yet".

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::HeaderMap;

use compliance_store::{ElasticConfig, ElasticStore, Store};

use crate::ApiError;

/// The request header naming the cluster (Calico's).
pub const CLUSTER_HEADER: &str = "x-cluster-id";

/// Where each cluster's reports are.
pub enum Clusters {
    /// One store holding one cluster's reports.
    Single { name: String, store: Store },
    /// One Elasticsearch, each cluster under its own index suffix; stores are opened on
    /// first use and shared afterwards.
    Elastic {
        config: Box<ElasticConfig>,
        /// Offered in the pages' selector, the default first.
        known: Vec<String>,
        stores: Mutex<HashMap<String, Store>>,
    },
}

impl std::fmt::Debug for Clusters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Clusters {
    /// One store, its reports those of cluster `name`.
    pub fn single(name: impl Into<String>, store: Store) -> Clusters {
        Clusters::Single {
            name: name.into(),
            store,
        }
    }

    /// Elasticsearch: `config.index_suffix` is the default cluster; `others` are offered
    /// beside it in the selector (any valid cluster id can still be asked for).
    pub fn elastic(config: ElasticConfig, others: Vec<String>) -> Clusters {
        let mut known = vec![config.index_suffix.clone()];
        for c in others {
            if !known.contains(&c) {
                known.push(c);
            }
        }
        Clusters::Elastic {
            config: Box::new(config),
            known,
            stores: Mutex::new(HashMap::new()),
        }
    }

    /// The cluster of requests that name none.
    pub fn default_name(&self) -> &str {
        match self {
            Clusters::Single { name, .. } => name,
            Clusters::Elastic { known, .. } => &known[0],
        }
    }

    /// The clusters a selector offers, the default first.
    pub fn names(&self) -> Vec<String> {
        match self {
            Clusters::Single { name, .. } => vec![name.clone()],
            Clusters::Elastic { known, .. } => known.clone(),
        }
    }

    /// The store of `cluster` (`None`: the default), with the cluster's name.
    pub fn store(&self, cluster: Option<&str>) -> Result<(String, Store), ApiError> {
        let wanted = cluster.unwrap_or(self.default_name());
        match self {
            Clusters::Single { name, store } => {
                if wanted == name {
                    Ok((name.clone(), store.clone()))
                } else {
                    Err(ApiError::NotFound(format!(
                        "no cluster {wanted:?} here: this server reads cluster {name:?} only"
                    )))
                }
            }
            Clusters::Elastic { config, stores, .. } => {
                let mut stores = stores.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(s) = stores.get(wanted) {
                    return Ok((wanted.to_string(), s.clone()));
                }
                let mut config = (**config).clone();
                config.index_suffix = wanted.to_string();
                let store: Store = ElasticStore::connect(&config)
                    .map_err(compliance_store::StoreError::from)?
                    .into();
                stores.insert(wanted.to_string(), store.clone());
                Ok((wanted.to_string(), store))
            }
        }
    }
}

/// The cluster a request asks for: the `x-cluster-id` header, else the `cluster` query
/// parameter of the pages, else `None` (the default). A value that cannot be part of an
/// index name is a 400 naming where it came from.
pub fn requested(headers: &HeaderMap, query: Option<&str>) -> Result<Option<String>, ApiError> {
    if let Some(v) = headers.get(CLUSTER_HEADER) {
        let text = v
            .to_str()
            .map_err(|_| ApiError::bad(CLUSTER_HEADER, "(not text)", "must be a cluster name"))?;
        if text.is_empty() {
            return Ok(None);
        }
        return check(CLUSTER_HEADER, text).map(Some);
    }
    match query {
        None | Some("") => Ok(None),
        Some(q) => check("cluster", q).map(Some),
    }
}

/// A cluster id must be usable inside an Elasticsearch index name: lowercase letters,
/// digits, `-`, `_` and `.`, starting with a letter or digit, at most 200 bytes.
fn check(name: &str, value: &str) -> Result<String, ApiError> {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c);
    let starts_well = value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if value.len() > 200 || !starts_well || !value.chars().all(ok_char) {
        return Err(ApiError::bad(
            name,
            value,
            "a cluster id is lowercase letters, digits, '-', '_' and '.', starting with a letter or digit",
        ));
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CLUSTER_HEADER, v.parse().unwrap());
        h
    }

    #[test]
    fn the_header_wins_over_the_query_parameter() {
        assert_eq!(
            requested(&headers("managed-1"), Some("other")).unwrap(),
            Some("managed-1".into())
        );
        assert_eq!(
            requested(&HeaderMap::new(), Some("other")).unwrap(),
            Some("other".into())
        );
        assert_eq!(requested(&HeaderMap::new(), None).unwrap(), None);
        assert_eq!(requested(&headers(""), None).unwrap(), None);
    }

    #[test]
    fn a_cluster_id_that_cannot_be_an_index_name_is_refused_by_name() {
        for bad in ["Upper", "a*b", "../x", "-lead", "a,b", "sp ace"] {
            let e = requested(&headers(bad), None).unwrap_err();
            assert_eq!(e.status(), 400, "{bad}");
            assert!(e.to_string().contains("x-cluster-id"), "{e}");
        }
        let e = requested(&HeaderMap::new(), Some("A")).unwrap_err();
        assert!(e.to_string().starts_with("invalid cluster \"A\""), "{e}");
    }

    #[test]
    fn a_single_store_serves_only_its_own_cluster() {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = compliance_store::SqliteStore::open(
            dir.path().join("c.db"),
            compliance_store::OpenMode::Create,
        )
        .unwrap();
        let c = Clusters::single("cluster", sqlite.into());
        assert_eq!(c.store(None).unwrap().0, "cluster");
        assert_eq!(c.store(Some("cluster")).unwrap().0, "cluster");
        assert_eq!(c.store(Some("other")).unwrap_err().status(), 404);
    }

    #[test]
    fn elasticsearch_opens_one_store_per_cluster_and_keeps_it() {
        let url = url::Url::parse("http://127.0.0.1:9").unwrap();
        let c = Clusters::elastic(
            ElasticConfig::new(url),
            vec!["managed-1".into(), "cluster".into()],
        );
        assert_eq!(c.names(), ["cluster", "managed-1"]);
        assert_eq!(c.store(Some("managed-2")).unwrap().0, "managed-2");
        let Clusters::Elastic { stores, .. } = &c else {
            unreachable!()
        };
        assert_eq!(stores.lock().unwrap().len(), 1);
        c.store(Some("managed-2")).unwrap();
        assert_eq!(stores.lock().unwrap().len(), 1);
    }
}
