//! The ELASTIC_* variables (docs/spec.md §7) into the store's [`ElasticConfig`], checked up front.
//!
//! Every rule is a pure function of the variables (plus reading the ELASTIC_CA file), so
//! a bad value is an exit-2 error naming the variable before any request is sent.
//! Passwords and API keys are read straight into [`Secret`], which never prints its content.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use compliance_core::model::benchmark::DEFAULT_CLUSTER;
use compliance_store::elastic::config::{
    CaBundle, DEFAULT_MAX_REQUEST_BYTES, DEFAULT_PAGE_SIZE, DEFAULT_PORT, DEFAULT_RETRIES,
    DEFAULT_RETRY_DELAY, DEFAULT_SCHEME, DEFAULT_TIMEOUT, ElasticAuth, ElasticConfig,
    MIN_MAX_REQUEST_BYTES, ONE_SHOT_RETRY_BUDGET, Secret,
};

use super::{ConfigError, non_empty, parse_bool, parse_port};

/// The ELASTIC_* variables as strings (see [`super::RawEnv`]).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawElasticEnv {
    pub elastic_scheme: Option<String>,
    pub elastic_host: Option<String>,
    pub elastic_port: Option<String>,
    pub elastic_url: Option<String>,
    pub elastic_user: Option<String>,
    pub elastic_password: Option<Secret>,
    pub elastic_api_key: Option<Secret>,
    pub elastic_ca: Option<String>,
    pub elastic_ssl_verify: Option<String>,
    pub elastic_index_suffix: Option<String>,
    pub elastic_timeout: Option<String>,
    pub elastic_retries: Option<String>,
    pub elastic_retry_delay: Option<String>,
    pub elastic_retry_budget: Option<String>,
    pub elastic_max_request_bytes: Option<String>,
    pub elastic_page_size: Option<String>,
}

impl RawElasticEnv {
    /// True when ELASTIC_HOST or ELASTIC_URL is set: the reporter then uses Elasticsearch.
    pub fn configured(&self) -> bool {
        non_empty(&self.elastic_host).is_some() || non_empty(&self.elastic_url).is_some()
    }
}

/// Reads the configuration; `None` when neither ELASTIC_HOST nor ELASTIC_URL is set.
pub fn from_env(env: &RawElasticEnv) -> Result<Option<ElasticConfig>, ConfigError> {
    if !env.configured() {
        return Ok(None);
    }
    let (url, url_auth) = resolve_url(env)?;
    let auth = resolve_auth(env, url_auth)?;
    let ca = match non_empty(&env.elastic_ca) {
        Some(path) => Some(read_ca(path)?),
        None => None,
    };
    let verify_tls = match non_empty(&env.elastic_ssl_verify) {
        Some(v) => parse_bool("ELASTIC_SSL_VERIFY", v)?,
        None => true,
    };
    let index_suffix = match non_empty(&env.elastic_index_suffix) {
        Some(s) => validate_suffix(s)?,
        None => DEFAULT_CLUSTER.to_string(),
    };
    let timeout = positive_duration("ELASTIC_TIMEOUT", &env.elastic_timeout, DEFAULT_TIMEOUT)?;
    let retry_delay = positive_duration(
        "ELASTIC_RETRY_DELAY",
        &env.elastic_retry_delay,
        DEFAULT_RETRY_DELAY,
    )?;
    let retries = match non_empty(&env.elastic_retries) {
        Some(v) => v.parse::<u32>().ok().filter(|n| *n <= 100).ok_or_else(|| {
            ConfigError::new(
                "ELASTIC_RETRIES",
                v,
                "expected a whole number from 0 to 100",
            )
        })?,
        None => DEFAULT_RETRIES,
    };
    let retry_budget = match non_empty(&env.elastic_retry_budget) {
        Some(v) => parse_retry_budget("ELASTIC_RETRY_BUDGET", v)?,
        None => None,
    };
    let max_request_bytes = match non_empty(&env.elastic_max_request_bytes) {
        Some(v) => parse_bytes("ELASTIC_MAX_REQUEST_BYTES", v)?,
        None => DEFAULT_MAX_REQUEST_BYTES,
    };
    let page_size = match non_empty(&env.elastic_page_size) {
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| {
                ConfigError::new(
                    "ELASTIC_PAGE_SIZE",
                    v,
                    "expected a whole number from 1 to 10000 (nodes per search page)",
                )
            })?,
        None => DEFAULT_PAGE_SIZE,
    };
    Ok(Some(ElasticConfig {
        url,
        auth,
        ca,
        verify_tls,
        index_suffix,
        timeout,
        retries,
        retry_delay,
        retry_budget,
        max_request_bytes,
        page_size,
        // `settings::datastore` sets it from COMPLIANCE_*_RETENTION.
        retention: compliance_store::Retention::default(),
    }))
}

/// Gives a one-shot program (`compliance-reporter`, `compliancectl` but its `serve`) its
/// retry budget: ELASTIC_RETRY_BUDGET when set (`unlimited` included), else
/// [`ONE_SHOT_RETRY_BUDGET`] (60s). The daemons do not call this: unset, they have no
/// budget.
pub fn one_shot(config: &mut ElasticConfig, env: &RawElasticEnv) {
    if non_empty(&env.elastic_retry_budget).is_none() {
        config.retry_budget = Some(ONE_SHOT_RETRY_BUDGET);
    }
}

/// ELASTIC_RETRY_BUDGET: a positive duration, or `unlimited` (`None`).
fn parse_retry_budget(variable: &str, value: &str) -> Result<Option<Duration>, ConfigError> {
    if value.eq_ignore_ascii_case("unlimited") {
        return Ok(None);
    }
    humantime::parse_duration(value)
        .ok()
        .filter(|d| !d.is_zero())
        .map(Some)
        .ok_or_else(|| {
            ConfigError::new(
                variable,
                value,
                "expected a positive duration such as 60s or 5m, or unlimited",
            )
        })
}

/// ELASTIC_URL with any password replaced, for error messages.
fn redact_url(value: &str) -> String {
    match Url::parse(value) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => value.to_string(),
    }
}

/// The base URL from ELASTIC_URL or ELASTIC_SCHEME/HOST/PORT, and any credentials the URL
/// carried. Both forms may be given when they agree (a manifest that sets both).
fn resolve_url(env: &RawElasticEnv) -> Result<(Url, Option<ElasticAuth>), ConfigError> {
    let scheme = non_empty(&env.elastic_scheme);
    if let Some(s) = scheme
        && !matches!(s.to_ascii_lowercase().as_str(), "http" | "https")
    {
        return Err(ConfigError::new(
            "ELASTIC_SCHEME",
            s,
            "expected http or https",
        ));
    }
    let port = match non_empty(&env.elastic_port) {
        Some(p) => Some(parse_port("ELASTIC_PORT", p)?),
        None => None,
    };
    let from_host = match non_empty(&env.elastic_host) {
        Some(host) => Some(url_from_host(host, scheme, port)?),
        None => None,
    };
    let Some(raw_url) = non_empty(&env.elastic_url) else {
        // `configured()` guarantees one of the two.
        let url = from_host.expect("ELASTIC_HOST is set");
        return Ok((url, None));
    };
    let shown = redact_url(raw_url);
    let mut url = Url::parse(raw_url).map_err(|e| {
        ConfigError::new(
            "ELASTIC_URL",
            &shown,
            format!("not a URL ({e}); expected e.g. https://elasticsearch:9200"),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ConfigError::new(
            "ELASTIC_URL",
            &shown,
            "the scheme must be http or https",
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::new("ELASTIC_URL", &shown, "has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::new(
            "ELASTIC_URL",
            &shown,
            "must not have a query or fragment",
        ));
    }
    let url_auth = if url.username().is_empty() {
        None
    } else {
        let user = percent_decode(url.username());
        let password = url.password().map(percent_decode).unwrap_or_default();
        if password.is_empty() {
            return Err(ConfigError::new(
                "ELASTIC_URL",
                &shown,
                "names a user but no password; use ELASTIC_USER and ELASTIC_PASSWORD",
            ));
        }
        Some(ElasticAuth::Basic {
            user,
            password: Secret::new(password),
        })
    };
    let _ = url.set_username("");
    let _ = url.set_password(None);
    if let Some(host_url) = from_host {
        // Only what was set explicitly is compared: ELASTIC_HOST=es with ELASTIC_URL=
        // http://es:9200 agree even though the ELASTIC_SCHEME default is https.
        let same_host = host_url.host_str().map(str::to_ascii_lowercase)
            == url.host_str().map(str::to_ascii_lowercase);
        let same_scheme = scheme.is_none_or(|s| s.eq_ignore_ascii_case(url.scheme()));
        let same_port = port.is_none_or(|p| Some(p) == url.port_or_known_default());
        if !(same_host && same_scheme && same_port) {
            return Err(ConfigError::new(
                "ELASTIC_URL",
                &shown,
                format!(
                    "disagrees with ELASTIC_HOST/ELASTIC_SCHEME/ELASTIC_PORT ({}); set one or the other",
                    host_url.as_str().trim_end_matches('/')
                ),
            ));
        }
    }
    Ok((url, url_auth))
}

/// Decodes `%XX` in URL userinfo; unlike form decoding, `+` stays a plus.
fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn url_from_host(host: &str, scheme: Option<&str>, port: Option<u16>) -> Result<Url, ConfigError> {
    if host.contains("://") || host.contains('/') || host.contains('@') {
        return Err(ConfigError::new(
            "ELASTIC_HOST",
            host,
            "expected a host name or address only; put a full URL in ELASTIC_URL instead",
        ));
    }
    // A bare IPv6 address needs brackets in a URL.
    let host_part = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let scheme = scheme
        .map(str::to_ascii_lowercase)
        .unwrap_or_else(|| DEFAULT_SCHEME.to_string());
    let port = port.unwrap_or(DEFAULT_PORT);
    Url::parse(&format!("{scheme}://{host_part}:{port}/"))
        .map_err(|e| ConfigError::new("ELASTIC_HOST", host, format!("not a usable host name: {e}")))
}

fn resolve_auth(
    env: &RawElasticEnv,
    url_auth: Option<ElasticAuth>,
) -> Result<Option<ElasticAuth>, ConfigError> {
    let user = non_empty(&env.elastic_user);
    let password = env.elastic_password.as_ref().filter(|p| !p.is_blank());
    let api_key = env.elastic_api_key.as_ref().filter(|k| !k.is_blank());
    let explicit = match (user, password) {
        (Some(user), Some(password)) => Some(ElasticAuth::Basic {
            user: user.to_string(),
            password: password.clone(),
        }),
        (Some(user), None) => {
            return Err(ConfigError::new(
                "ELASTIC_PASSWORD",
                "",
                format!("is required when ELASTIC_USER is set (ELASTIC_USER={user:?})"),
            ));
        }
        (None, Some(_)) => {
            return Err(ConfigError::new(
                "ELASTIC_USER",
                "",
                "is required when ELASTIC_PASSWORD is set",
            ));
        }
        (None, None) => None,
    };
    if let Some(key) = api_key {
        if explicit.is_some() || url_auth.is_some() {
            return Err(ConfigError::new(
                "ELASTIC_API_KEY",
                "<redacted>",
                "set either an API key or a user and password, not both",
            ));
        }
        return Ok(Some(ElasticAuth::ApiKey(Secret::new(key.expose().trim()))));
    }
    match (explicit, url_auth) {
        (Some(_), Some(_)) => Err(ConfigError::new(
            "ELASTIC_URL",
            "<redacted>",
            "carries a user and password while ELASTIC_USER is also set; set them in one place",
        )),
        (Some(a), None) | (None, Some(a)) => Ok(Some(a)),
        (None, None) => Ok(None),
    }
}

fn read_ca(path: &str) -> Result<CaBundle, ConfigError> {
    let pem = std::fs::read(path).map_err(|e| {
        ConfigError::new("ELASTIC_CA", path, format!("cannot read the CA file: {e}"))
    })?;
    CaBundle::from_pem(PathBuf::from(path), pem)
        .map_err(|m| ConfigError::new("ELASTIC_CA", path, m))
}

/// Characters Elasticsearch forbids in index names, plus upper case.
fn validate_suffix(suffix: &str) -> Result<String, ConfigError> {
    let bad = suffix.chars().find(|c| {
        c.is_ascii_uppercase()
            || c.is_whitespace()
            || matches!(
                c,
                '\\' | '/' | '*' | '?' | '"' | '<' | '>' | '|' | ',' | '#' | ':'
            )
    });
    if let Some(c) = bad {
        return Err(ConfigError::new(
            "ELASTIC_INDEX_SUFFIX",
            suffix,
            format!(
                "{c:?} cannot appear in an Elasticsearch index name (use lower case letters, digits, '-', '_', '.')"
            ),
        ));
    }
    if suffix.len() > 180 {
        return Err(ConfigError::new(
            "ELASTIC_INDEX_SUFFIX",
            suffix,
            "is too long for an index name (at most 180 characters)",
        ));
    }
    Ok(suffix.to_string())
}

fn positive_duration(
    variable: &str,
    value: &Option<String>,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match non_empty(value) {
        Some(v) => humantime::parse_duration(v)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                ConfigError::new(
                    variable,
                    v,
                    "expected a positive duration such as 30s, 500ms or 2m",
                )
            }),
        None => Ok(default),
    }
}

/// ELASTIC_MAX_REQUEST_BYTES: a size ([`super::parse_size`]) that fits in memory.
fn parse_bytes(variable: &str, value: &str) -> Result<usize, ConfigError> {
    let bytes = usize::try_from(super::parse_size(variable, value)?).map_err(|_| {
        ConfigError::new(variable, value, "expected a size such as 50MiB or 52428800")
    })?;
    if bytes < MIN_MAX_REQUEST_BYTES {
        return Err(ConfigError::new(
            variable,
            value,
            "must be at least 1MiB (one node's results must fit in a request)",
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> RawElasticEnv {
        envy::from_iter(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap()
    }

    fn config(pairs: &[(&str, &str)]) -> Result<ElasticConfig, ConfigError> {
        from_env(&env(pairs)).map(|c| c.expect("configured"))
    }

    fn error(pairs: &[(&str, &str)]) -> ConfigError {
        config(pairs).expect_err("should be refused")
    }

    #[test]
    fn nothing_set_means_no_elasticsearch() {
        assert_eq!(from_env(&env(&[("ELASTIC_USER", "x")])).unwrap(), None);
    }

    #[test]
    fn host_alone_uses_the_manifest_defaults() {
        let c = config(&[(
            "ELASTIC_HOST",
            "tigera-secure-es-http.tigera-elasticsearch.svc",
        )])
        .unwrap();
        assert_eq!(
            c.url.as_str(),
            "https://tigera-secure-es-http.tigera-elasticsearch.svc:9200/"
        );
        assert_eq!(c.index_suffix, "cluster");
        assert!(c.verify_tls);
        assert_eq!(c.auth, None);
        assert_eq!(c.timeout, DEFAULT_TIMEOUT);
        assert_eq!(c.page_size, DEFAULT_PAGE_SIZE);
        assert_eq!(c.max_request_bytes, DEFAULT_MAX_REQUEST_BYTES);
    }

    #[test]
    fn scheme_host_port_build_the_url() {
        let c = config(&[
            ("ELASTIC_SCHEME", "HTTP"),
            ("ELASTIC_HOST", "es"),
            ("ELASTIC_PORT", "9201"),
        ])
        .unwrap();
        assert_eq!(c.url.as_str(), "http://es:9201/");
        let c = config(&[("ELASTIC_HOST", "fd00::7")]).unwrap();
        assert_eq!(c.url.as_str(), "https://[fd00::7]:9200/");
    }

    #[test]
    fn port_must_be_a_number() {
        let e = error(&[("ELASTIC_HOST", "es"), ("ELASTIC_PORT", "92OO")]);
        assert_eq!(e.variable, "ELASTIC_PORT");
        assert_eq!(e.value, "92OO");
        assert!(
            error(&[("ELASTIC_HOST", "es"), ("ELASTIC_PORT", "70000")])
                .message
                .contains("1 to 65535")
        );
        assert_eq!(
            error(&[("ELASTIC_HOST", "es"), ("ELASTIC_PORT", "0")]).variable,
            "ELASTIC_PORT"
        );
    }

    #[test]
    fn scheme_must_be_http_or_https() {
        assert_eq!(
            error(&[("ELASTIC_HOST", "es"), ("ELASTIC_SCHEME", "ftp")]).variable,
            "ELASTIC_SCHEME"
        );
    }

    #[test]
    fn host_must_not_be_a_url() {
        let e = error(&[("ELASTIC_HOST", "https://es:9200")]);
        assert_eq!(e.variable, "ELASTIC_HOST");
        assert!(e.message.contains("ELASTIC_URL"));
    }

    #[test]
    fn url_and_host_may_agree() {
        let c = config(&[("ELASTIC_URL", "http://es:9200"), ("ELASTIC_HOST", "ES")]).unwrap();
        assert_eq!(c.url.as_str(), "http://es:9200/");
        config(&[
            ("ELASTIC_URL", "https://es"),
            ("ELASTIC_HOST", "es"),
            ("ELASTIC_PORT", "443"),
        ])
        .unwrap();
    }

    #[test]
    fn url_and_host_that_differ_are_refused() {
        let e = error(&[
            ("ELASTIC_URL", "https://es-a:9200"),
            ("ELASTIC_HOST", "es-b"),
        ]);
        assert_eq!(e.variable, "ELASTIC_URL");
        assert!(e.message.contains("https://es-b:9200"), "{e}");
        assert!(
            error(&[
                ("ELASTIC_URL", "https://es:9200"),
                ("ELASTIC_HOST", "es"),
                ("ELASTIC_PORT", "9300")
            ])
            .message
            .contains("disagrees")
        );
        assert!(
            error(&[
                ("ELASTIC_URL", "https://es:9200"),
                ("ELASTIC_HOST", "es"),
                ("ELASTIC_SCHEME", "http")
            ])
            .message
            .contains("disagrees")
        );
    }

    #[test]
    fn a_plus_in_a_url_password_stays_a_plus() {
        let c = config(&[("ELASTIC_URL", "https://elastic:a+b%2Bc@es")]).unwrap();
        assert_eq!(
            c.auth,
            Some(ElasticAuth::Basic {
                user: "elastic".into(),
                password: Secret::new("a+b+c")
            })
        );
    }

    #[test]
    fn url_credentials_are_taken_out_of_the_url_and_never_shown() {
        let c = config(&[("ELASTIC_URL", "https://elastic:s%40cret@es:9200/prefix")]).unwrap();
        assert_eq!(c.url.as_str(), "https://es:9200/prefix");
        assert_eq!(
            c.auth,
            Some(ElasticAuth::Basic {
                user: "elastic".into(),
                password: Secret::new("s@cret")
            })
        );
        assert!(!format!("{c:?}").contains("cret"));
        let e = error(&[("ELASTIC_URL", "ftp://elastic:hunter2@es")]);
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = error(&[
            ("ELASTIC_URL", "https://elastic:hunter2@es"),
            ("ELASTIC_USER", "x"),
            ("ELASTIC_PASSWORD", "y"),
        ]);
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn bad_urls_name_the_variable() {
        for bad in ["es:9200", "not a url", "https://", "https://es:9200/?x=1"] {
            assert_eq!(
                error(&[("ELASTIC_URL", bad)]).variable,
                "ELASTIC_URL",
                "{bad}"
            );
        }
    }

    #[test]
    fn user_and_password_go_together() {
        let c = config(&[
            ("ELASTIC_HOST", "es"),
            ("ELASTIC_USER", "elastic"),
            ("ELASTIC_PASSWORD", "pw"),
        ])
        .unwrap();
        assert_eq!(
            c.auth,
            Some(ElasticAuth::Basic {
                user: "elastic".into(),
                password: Secret::new("pw")
            })
        );
        assert_eq!(
            error(&[("ELASTIC_HOST", "es"), ("ELASTIC_USER", "elastic")]).variable,
            "ELASTIC_PASSWORD"
        );
        assert_eq!(
            error(&[("ELASTIC_HOST", "es"), ("ELASTIC_PASSWORD", "pw")]).variable,
            "ELASTIC_USER"
        );
    }

    #[test]
    fn api_key_excludes_a_password() {
        let c = config(&[("ELASTIC_HOST", "es"), ("ELASTIC_API_KEY", "aWQ6a2V5")]).unwrap();
        assert_eq!(c.auth, Some(ElasticAuth::ApiKey(Secret::new("aWQ6a2V5"))));
        let e = error(&[
            ("ELASTIC_HOST", "es"),
            ("ELASTIC_API_KEY", "aWQ6a2V5"),
            ("ELASTIC_USER", "u"),
            ("ELASTIC_PASSWORD", "p"),
        ]);
        assert_eq!(e.variable, "ELASTIC_API_KEY");
        assert!(!e.to_string().contains("aWQ6a2V5"));
    }

    #[test]
    fn ca_file_must_exist_and_be_a_pem_certificate() {
        let e = error(&[
            ("ELASTIC_HOST", "es"),
            ("ELASTIC_CA", "/nonexistent/ca.pem"),
        ]);
        assert_eq!(
            (e.variable.as_str(), e.value.as_str()),
            ("ELASTIC_CA", "/nonexistent/ca.pem")
        );
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("ca.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let e = error(&[
            ("ELASTIC_HOST", "es"),
            ("ELASTIC_CA", junk.to_str().unwrap()),
        ]);
        assert!(e.message.contains("not a PEM certificate"), "{e}");
        let broken = dir.path().join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let e = error(&[
            ("ELASTIC_HOST", "es"),
            ("ELASTIC_CA", broken.to_str().unwrap()),
        ]);
        assert_eq!(e.variable, "ELASTIC_CA");
        assert!(e.message.contains("truncated or corrupted"), "{e}");
    }

    #[test]
    fn a_real_ca_certificate_is_accepted() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/elastic/test-ca.pem"
        );
        let c = config(&[("ELASTIC_HOST", "es"), ("ELASTIC_CA", path)]).unwrap();
        assert_eq!(c.ca.unwrap().path, PathBuf::from(path));
    }

    #[test]
    fn ssl_verify_is_a_boolean() {
        assert!(
            !config(&[("ELASTIC_HOST", "es"), ("ELASTIC_SSL_VERIFY", "false")])
                .unwrap()
                .verify_tls
        );
        assert_eq!(
            error(&[("ELASTIC_HOST", "es"), ("ELASTIC_SSL_VERIFY", "maybe")]).variable,
            "ELASTIC_SSL_VERIFY"
        );
    }

    #[test]
    fn index_suffix_must_be_usable_in_an_index_name() {
        assert_eq!(
            config(&[("ELASTIC_HOST", "es"), ("ELASTIC_INDEX_SUFFIX", "prod-eu")])
                .unwrap()
                .index_suffix,
            "prod-eu"
        );
        for bad in ["Prod", "a,b", "a*", "a b", "x:y"] {
            assert_eq!(
                error(&[("ELASTIC_HOST", "es"), ("ELASTIC_INDEX_SUFFIX", bad)]).variable,
                "ELASTIC_INDEX_SUFFIX"
            );
        }
    }

    #[test]
    fn tuning_values_are_checked() {
        let c = config(&[
            ("ELASTIC_HOST", "es"),
            ("ELASTIC_TIMEOUT", "5s"),
            ("ELASTIC_RETRIES", "3"),
            ("ELASTIC_RETRY_DELAY", "10ms"),
            ("ELASTIC_MAX_REQUEST_BYTES", "2MiB"),
            ("ELASTIC_PAGE_SIZE", "3"),
        ])
        .unwrap();
        assert_eq!(c.timeout, Duration::from_secs(5));
        assert_eq!(c.retries, 3);
        assert_eq!(c.retry_delay, Duration::from_millis(10));
        assert_eq!(c.max_request_bytes, 2 << 20);
        assert_eq!(c.page_size, 3);
        for (var, bad) in [
            ("ELASTIC_TIMEOUT", "0s"),
            ("ELASTIC_TIMEOUT", "soon"),
            ("ELASTIC_RETRIES", "-1"),
            ("ELASTIC_RETRIES", "1000"),
            ("ELASTIC_RETRY_DELAY", "x"),
            ("ELASTIC_MAX_REQUEST_BYTES", "10KB"),
            ("ELASTIC_MAX_REQUEST_BYTES", "lots"),
            ("ELASTIC_PAGE_SIZE", "0"),
            ("ELASTIC_PAGE_SIZE", "20000"),
            ("ELASTIC_RETRY_BUDGET", "0s"),
            ("ELASTIC_RETRY_BUDGET", "forever"),
            ("ELASTIC_RETRY_BUDGET", "-5s"),
        ] {
            let e = error(&[("ELASTIC_HOST", "es"), (var, bad)]);
            assert_eq!((e.variable.as_str(), e.value.as_str()), (var, bad));
        }
    }

    #[test]
    fn retry_budget_is_unlimited_for_daemons_and_60s_for_one_shot_programs_unless_set() {
        let raw = env(&[("ELASTIC_HOST", "es")]);
        let mut c = from_env(&raw).unwrap().unwrap();
        assert_eq!(c.retry_budget, None, "a daemon keeps its patience");
        one_shot(&mut c, &raw);
        assert_eq!(c.retry_budget, Some(Duration::from_secs(60)));

        let raw = env(&[("ELASTIC_HOST", "es"), ("ELASTIC_RETRY_BUDGET", "2m 30s")]);
        let mut c = from_env(&raw).unwrap().unwrap();
        assert_eq!(c.retry_budget, Some(Duration::from_secs(150)));
        one_shot(&mut c, &raw);
        assert_eq!(c.retry_budget, Some(Duration::from_secs(150)));

        let raw = env(&[
            ("ELASTIC_HOST", "es"),
            ("ELASTIC_RETRY_BUDGET", "Unlimited"),
        ]);
        let mut c = from_env(&raw).unwrap().unwrap();
        one_shot(&mut c, &raw);
        assert_eq!(
            c.retry_budget, None,
            "a one-shot program may be told to wait"
        );
    }

    #[test]
    fn secrets_do_not_print() {
        let raw = env(&[
            ("ELASTIC_HOST", "es"),
            ("ELASTIC_USER", "u"),
            ("ELASTIC_PASSWORD", "hunter2"),
            ("ELASTIC_API_KEY", "k3y"),
        ]);
        let shown = format!("{raw:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("k3y"),
            "{shown}"
        );
    }
}
