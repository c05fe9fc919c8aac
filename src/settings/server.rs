//! compliance-server's settings (docs/spec.md §9, docs/server.md).
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | LISTEN_ADDR | `:5443` | where HTTPS is served; `:PORT` is every interface |
//! | TLS_CERT, TLS_KEY | `/etc/compliance-server/tls/tls.crt`, `.../tls.key` | the PEM certificate (chain) and key; without both default files, a self-signed certificate is made at start |
//! | COMPLIANCE_SERVER_AUTH | `kubernetes` | `kubernetes`: bearer tokens checked with TokenReviews and SubjectAccessReviews; `none`: no authentication |
//! | COMPLIANCE_SERVER_ALLOW_UNAUTHENTICATED | `false` | lets `none` listen beyond loopback |
//! | COMPLIANCE_SERVER_CLUSTERS | none | extra cluster ids for the pages' selector (Elasticsearch only) |
//! | COMPLIANCE_SERVER_SHUTDOWN_TIMEOUT | `10s` | how long requests in flight may take after SIGTERM |
//! | COMPLIANCE_METRICS_PER_TEST | `false` | `/metrics` also exports a series per failing test of each node (`compliance_node_test_failed`, ~16 per node) |
//!
//! plus the store (ELASTIC_* or COMPLIANCE_DATASTORE, as the reporter), HEALTH_ENABLED /
//! HEALTH_PORT, and LOG_LEVEL / LOG_FORMAT.
//!
//! Unauthenticated serving is refused on anything but loopback unless said twice: a
//! server that shows every report to whoever reaches the port must be a decision, not a
//! typo in one variable.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use compliance_store::Datastore;

use super::{
    ConfigError, LogConfig, RawEnv, cluster, datastore, health_from_env, non_empty, parse_bool,
    parse_duration,
};

/// Every interface, port 5443: the port the Service targets (manifests/compliance-server.yaml).
pub const DEFAULT_LISTEN_ADDR: &str = ":5443";
/// Where the manifest mounts the Secret `tigera-compliance-server-tls` (keys of a
/// `kubernetes.io/tls` Secret).
pub const DEFAULT_TLS_CERT: &str = "/etc/compliance-server/tls/tls.crt";
pub const DEFAULT_TLS_KEY: &str = "/etc/compliance-server/tls/tls.key";
/// Requests in flight get this long after SIGTERM; the pod's grace period is longer.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// How requests are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Bearer tokens, TokenReviews and SubjectAccessReviews against the API server.
    Kubernetes,
    /// Everyone may read everything.
    None,
}

/// Where the server's certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// PEM files; `variables` are what named them (for errors while reading them).
    Files {
        cert: PathBuf,
        key: PathBuf,
        variables: (&'static str, &'static str),
    },
    /// None configured: a self-signed certificate made at start.
    SelfSigned,
}

/// Everything compliance-server needs from its environment.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub tls: TlsSource,
    pub auth: AuthMode,
    pub datastore: Datastore,
    /// The cluster a SQLite file holds (ELASTIC_INDEX_SUFFIX, default `cluster`).
    pub cluster: String,
    /// More clusters for the selector; Elasticsearch only.
    pub extra_clusters: Vec<String>,
    pub health: Option<SocketAddr>,
    pub shutdown_timeout: Duration,
    /// `/metrics` exports a series per failing test of each node
    /// (COMPLIANCE_METRICS_PER_TEST, default false: at 10,000 nodes that is ~160,000
    /// series per GlobalReport).
    pub metrics_per_test: bool,
    pub log: LogConfig,
}

impl ServerConfig {
    /// The settings of `env`; `exists` says whether a file is there (the default
    /// certificate files are optional, named ones are not).
    pub fn from_env(
        env: &RawEnv,
        exists: impl Fn(&Path) -> bool,
    ) -> Result<ServerConfig, ConfigError> {
        let listen_value = non_empty(&env.listen_addr).unwrap_or(DEFAULT_LISTEN_ADDR);
        let listen = parse_listen("LISTEN_ADDR", listen_value)?;
        let auth = match non_empty(&env.compliance_server_auth).map(str::to_ascii_lowercase) {
            None => AuthMode::Kubernetes,
            Some(v) if v == "kubernetes" || v == "kube" => AuthMode::Kubernetes,
            Some(v) if v == "none" => AuthMode::None,
            Some(_) => {
                return Err(ConfigError::new(
                    "COMPLIANCE_SERVER_AUTH",
                    env.compliance_server_auth.as_deref().unwrap_or_default(),
                    "expected kubernetes or none",
                ));
            }
        };
        let allow_unauthenticated = match non_empty(&env.compliance_server_allow_unauthenticated) {
            None => false,
            Some(v) => parse_bool("COMPLIANCE_SERVER_ALLOW_UNAUTHENTICATED", v)?,
        };
        if auth == AuthMode::None && exposed(listen) && !allow_unauthenticated {
            return Err(ConfigError::new(
                "LISTEN_ADDR",
                listen_value,
                "COMPLIANCE_SERVER_AUTH=none serves every report to whoever reaches the port: \
                 listen on loopback (127.0.0.1:PORT), or also set \
                 COMPLIANCE_SERVER_ALLOW_UNAUTHENTICATED=true",
            ));
        }
        let tls = tls_source(env, exists)?;
        let datastore = datastore(env)?;
        let extra_clusters = match non_empty(&env.compliance_server_clusters) {
            None => Vec::new(),
            Some(list) => {
                if !matches!(datastore, Datastore::Elastic(_)) {
                    return Err(ConfigError::new(
                        "COMPLIANCE_SERVER_CLUSTERS",
                        list,
                        "several clusters need Elasticsearch (ELASTIC_HOST or ELASTIC_URL): \
                         a SQLite file holds one cluster",
                    ));
                }
                parse_clusters(list)?
            }
        };
        let shutdown_timeout = match non_empty(&env.compliance_server_shutdown_timeout) {
            None => DEFAULT_SHUTDOWN_TIMEOUT,
            Some(v) => parse_duration("COMPLIANCE_SERVER_SHUTDOWN_TIMEOUT", v)?
                .to_std()
                .map_err(|_| {
                    ConfigError::new(
                        "COMPLIANCE_SERVER_SHUTDOWN_TIMEOUT",
                        v,
                        "must not be negative",
                    )
                })?,
        };
        let metrics_per_test = match non_empty(&env.compliance_metrics_per_test) {
            None => false,
            Some(v) => parse_bool("COMPLIANCE_METRICS_PER_TEST", v)?,
        };
        Ok(ServerConfig {
            listen,
            tls,
            auth,
            datastore,
            cluster: cluster(env),
            extra_clusters,
            health: health_from_env(env)?,
            shutdown_timeout,
            metrics_per_test,
            log: LogConfig::from_env(env)?,
        })
    }
}

/// Whether serving on `addr` reaches beyond this machine.
pub fn exposed(addr: SocketAddr) -> bool {
    !addr.ip().is_loopback()
}

/// `HOST:PORT` with an IP address or `localhost` as host, or Go's `:PORT` for every
/// interface. Port 0 picks a free port (the log says which).
pub fn parse_listen(variable: &str, value: &str) -> Result<SocketAddr, ConfigError> {
    let v = value.trim();
    let bad = |m: &str| ConfigError::new(variable, value, m);
    let (host, port) = v
        .rsplit_once(':')
        .ok_or_else(|| bad("expected HOST:PORT or :PORT, e.g. :5443 or 127.0.0.1:8080"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| bad("the port must be a number from 0 to 65535"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = match host {
        "" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        h => h.parse().map_err(|_| {
            bad("the host must be an IP address or localhost (e.g. 0.0.0.0:5443, 127.0.0.1:8080)")
        })?,
    };
    Ok(SocketAddr::new(ip, port))
}

/// TLS_CERT and TLS_KEY: both named (and there), or both at their defaults, where
/// neither file means a self-signed certificate and one alone is a mistake.
fn tls_source(env: &RawEnv, exists: impl Fn(&Path) -> bool) -> Result<TlsSource, ConfigError> {
    let files = |cert: &str, key: &str| TlsSource::Files {
        cert: PathBuf::from(cert),
        key: PathBuf::from(key),
        variables: ("TLS_CERT", "TLS_KEY"),
    };
    match (non_empty(&env.tls_cert), non_empty(&env.tls_key)) {
        (Some(cert), Some(key)) => {
            for (variable, path) in [("TLS_CERT", cert), ("TLS_KEY", key)] {
                if !exists(Path::new(path)) {
                    return Err(ConfigError::new(variable, path, "no such file"));
                }
            }
            Ok(files(cert, key))
        }
        (Some(cert), None) => Err(ConfigError::new(
            "TLS_CERT",
            cert,
            "TLS_KEY must be set too: the certificate and its key go together",
        )),
        (None, Some(key)) => Err(ConfigError::new(
            "TLS_KEY",
            key,
            "TLS_CERT must be set too: the certificate and its key go together",
        )),
        (None, None) => {
            let cert = exists(Path::new(DEFAULT_TLS_CERT));
            let key = exists(Path::new(DEFAULT_TLS_KEY));
            match (cert, key) {
                (true, true) => Ok(files(DEFAULT_TLS_CERT, DEFAULT_TLS_KEY)),
                (false, false) => Ok(TlsSource::SelfSigned),
                (true, false) => Err(ConfigError::new(
                    "TLS_KEY",
                    DEFAULT_TLS_KEY,
                    format!(
                        "no such file, but {DEFAULT_TLS_CERT} exists: a certificate needs its key"
                    ),
                )),
                (false, true) => Err(ConfigError::new(
                    "TLS_CERT",
                    DEFAULT_TLS_CERT,
                    format!(
                        "no such file, but {DEFAULT_TLS_KEY} exists: a key needs its certificate"
                    ),
                )),
            }
        }
    }
}

/// A comma list of cluster ids, each usable in an index name, without repeats.
fn parse_clusters(list: &str) -> Result<Vec<String>, ConfigError> {
    let mut out: Vec<String> = Vec::new();
    for id in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let starts_well = id
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let ok = id.len() <= 180
            && starts_well
            && id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
        if !ok {
            return Err(ConfigError::new(
                "COMPLIANCE_SERVER_CLUSTERS",
                list,
                format!(
                    "{id:?} is not a cluster id (lower-case letters, digits, '-', '_' and '.', \
                     starting with a letter or digit)"
                ),
            ));
        }
        if !out.iter().any(|o| o == id) {
            out.push(id.to_string());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> RawEnv {
        RawEnv::from_vars(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    fn nothing(_: &Path) -> bool {
        false
    }

    fn config(pairs: &[(&str, &str)]) -> Result<ServerConfig, ConfigError> {
        ServerConfig::from_env(&env(pairs), nothing)
    }

    #[test]
    fn defaults_are_calicos_port_kubernetes_auth_and_a_self_signed_certificate() {
        let c = config(&[]).unwrap();
        assert_eq!(c.listen, "0.0.0.0:5443".parse().unwrap());
        assert_eq!(c.auth, AuthMode::Kubernetes);
        assert_eq!(c.tls, TlsSource::SelfSigned);
        assert_eq!(c.datastore, Datastore::Sqlite("compliance.db".into()));
        assert_eq!(c.cluster, "cluster");
        assert!(c.extra_clusters.is_empty());
        assert_eq!(c.shutdown_timeout, DEFAULT_SHUTDOWN_TIMEOUT);
        assert_eq!(c.health, None);
        assert!(!c.metrics_per_test);
    }

    #[test]
    fn per_test_metrics_are_off_unless_set_and_a_bad_value_names_the_variable() {
        assert!(!config(&[]).unwrap().metrics_per_test);
        for on in ["true", "1", "YES"] {
            assert!(
                config(&[("COMPLIANCE_METRICS_PER_TEST", on)])
                    .unwrap()
                    .metrics_per_test
            );
        }
        assert!(
            !config(&[("COMPLIANCE_METRICS_PER_TEST", "false")])
                .unwrap()
                .metrics_per_test
        );
        let e = config(&[("COMPLIANCE_METRICS_PER_TEST", "sometimes")]).unwrap_err();
        assert_eq!(
            (e.variable.as_str(), e.value.as_str()),
            ("COMPLIANCE_METRICS_PER_TEST", "sometimes")
        );
    }

    #[test]
    fn listen_addresses_take_go_and_rust_forms() {
        for (value, expected) in [
            (":5443", "0.0.0.0:5443"),
            ("127.0.0.1:8080", "127.0.0.1:8080"),
            ("localhost:0", "127.0.0.1:0"),
            ("[::1]:9443", "[::1]:9443"),
            ("0.0.0.0:443", "0.0.0.0:443"),
        ] {
            assert_eq!(
                parse_listen("LISTEN_ADDR", value).unwrap(),
                expected.parse::<SocketAddr>().unwrap(),
                "{value}"
            );
        }
        for bad in ["nonsense", "5443", ":https", "example.com:443", ":70000"] {
            let e = config(&[("LISTEN_ADDR", bad)]).unwrap_err();
            assert_eq!(
                (e.variable.as_str(), e.value.as_str()),
                ("LISTEN_ADDR", bad)
            );
        }
    }

    #[test]
    fn no_authentication_stays_on_loopback_unless_allowed_twice() {
        let e = config(&[("COMPLIANCE_SERVER_AUTH", "none")]).unwrap_err();
        assert_eq!(
            (e.variable.as_str(), e.value.as_str()),
            ("LISTEN_ADDR", ":5443")
        );
        assert!(
            e.message
                .contains("COMPLIANCE_SERVER_ALLOW_UNAUTHENTICATED"),
            "{e}"
        );
        let local = config(&[
            ("COMPLIANCE_SERVER_AUTH", "none"),
            ("LISTEN_ADDR", "127.0.0.1:0"),
        ])
        .unwrap();
        assert_eq!(local.auth, AuthMode::None);
        let allowed = config(&[
            ("COMPLIANCE_SERVER_AUTH", "None"),
            ("LISTEN_ADDR", "0.0.0.0:5443"),
            ("COMPLIANCE_SERVER_ALLOW_UNAUTHENTICATED", "true"),
        ])
        .unwrap();
        assert_eq!(allowed.auth, AuthMode::None);
        // Kubernetes authentication may listen anywhere.
        config(&[("LISTEN_ADDR", "0.0.0.0:5443")]).unwrap();
    }

    #[test]
    fn tls_files_named_must_exist_and_go_together() {
        let here = |p: &Path| p == Path::new("/c.pem") || p == Path::new("/k.pem");
        let c =
            ServerConfig::from_env(&env(&[("TLS_CERT", "/c.pem"), ("TLS_KEY", "/k.pem")]), here)
                .unwrap();
        assert_eq!(
            c.tls,
            TlsSource::Files {
                cert: "/c.pem".into(),
                key: "/k.pem".into(),
                variables: ("TLS_CERT", "TLS_KEY")
            }
        );
        let e = ServerConfig::from_env(
            &env(&[("TLS_CERT", "/c.pem"), ("TLS_KEY", "/missing.pem")]),
            here,
        )
        .unwrap_err();
        assert_eq!(
            (e.variable.as_str(), e.value.as_str()),
            ("TLS_KEY", "/missing.pem")
        );
        assert_eq!(
            config(&[("TLS_CERT", "/c.pem")]).unwrap_err().variable,
            "TLS_CERT"
        );
        assert_eq!(
            config(&[("TLS_KEY", "/k.pem")]).unwrap_err().variable,
            "TLS_KEY"
        );
    }

    #[test]
    fn the_mounted_secret_is_used_when_both_files_are_there() {
        let both = |p: &Path| p == Path::new(DEFAULT_TLS_CERT) || p == Path::new(DEFAULT_TLS_KEY);
        let c = ServerConfig::from_env(&env(&[]), both).unwrap();
        assert!(matches!(c.tls, TlsSource::Files { .. }));
        let cert_only = |p: &Path| p == Path::new(DEFAULT_TLS_CERT);
        let e = ServerConfig::from_env(&env(&[]), cert_only).unwrap_err();
        assert_eq!(e.variable, "TLS_KEY");
    }

    #[test]
    fn several_clusters_need_elasticsearch() {
        let e = config(&[("COMPLIANCE_SERVER_CLUSTERS", "a,b")]).unwrap_err();
        assert_eq!(e.variable, "COMPLIANCE_SERVER_CLUSTERS");
        let c = config(&[
            ("ELASTIC_HOST", "es"),
            (
                "COMPLIANCE_SERVER_CLUSTERS",
                " managed-1, managed-2 ,managed-1,",
            ),
        ])
        .unwrap();
        assert_eq!(c.extra_clusters, ["managed-1", "managed-2"]);
        let e = config(&[
            ("ELASTIC_HOST", "es"),
            ("COMPLIANCE_SERVER_CLUSTERS", "ok,Not-OK"),
        ])
        .unwrap_err();
        assert_eq!(
            (e.variable.as_str(), e.value.as_str()),
            ("COMPLIANCE_SERVER_CLUSTERS", "ok,Not-OK")
        );
    }

    #[test]
    fn bad_values_name_the_variable_and_the_value() {
        for (var, value) in [
            ("COMPLIANCE_SERVER_AUTH", "oidc"),
            ("COMPLIANCE_SERVER_ALLOW_UNAUTHENTICATED", "perhaps"),
            ("COMPLIANCE_SERVER_SHUTDOWN_TIMEOUT", "soon"),
            ("LOG_LEVEL", "loud"),
            ("HEALTH_PORT", "x"),
            ("COMPLIANCE_DATASTORE", "mysql:x"),
        ] {
            let e = config(&[(var, value)]).unwrap_err();
            assert_eq!((e.variable.as_str(), e.value.as_str()), (var, value), "{e}");
        }
    }
}
