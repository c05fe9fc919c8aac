//! Loads a GlobalReport and its GlobalReportType from the Kubernetes API server.
//!
//! Two GETs and two lists: the reporter's RBAC is `get` on the two resources
//! ([`load_report`]), `list` on nodes ([`crate::nodes`]) and on globalreportwaivers
//! ([`crate::waivers`]), both of which a report can do without; `compliancectl reports
//! status` makes one GET, for the GlobalReport with its status ([`get_report_resource`]),
//! and explains failures the same way. The group
//! is configurable (COMPLIANCE_API_GROUP) because Calico's aggregated API server, where it
//! runs, owns `projectcalico.org`. Objects are read as raw JSON and decoded with the
//! model's own types, so a bad field is named exactly as in a YAML file.

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList;
use kube::{Client, Config};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::de::DeserializeOwned;

use compliance_core::error::chain as error_chain;
use compliance_core::model::global_report::CIS_BENCHMARK_TYPE;
use compliance_core::model::{GlobalReport, GlobalReportType};

use crate::crd::{DEFAULT_GROUP, GlobalReportResource, VERSION};
use crate::diagnose::{self, Served};
use crate::error::{Caller, KubeError};
use crate::nodes::{ClusterNodes, NODE_PAGE_SIZE, list_linux_nodes};
use crate::resources::{ReportSource, ResourceError, checked};
use crate::waivers::{ClusterWaivers, WAIVER_PAGE_SIZE, list_waivers};

/// How to reach the resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeSettings {
    /// Who is asking: named in advice about RBAC and credentials.
    pub caller: &'static Caller,
    /// API group of the CRDs (COMPLIANCE_API_GROUP, default `projectcalico.org`).
    pub group: String,
    /// Limit on each request, connecting included (COMPLIANCE_API_TIMEOUT, default 30 s).
    pub timeout: Duration,
    /// Attempts per request before giving up on an unreachable or failing server (3).
    pub attempts: usize,
    /// Wait before the second attempt, doubling after (1 s).
    pub retry_delay: Duration,
}

/// Default COMPLIANCE_API_TIMEOUT.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

impl KubeSettings {
    /// The defaults: group `projectcalico.org`, 30 s per request, 3 attempts from 1 s apart.
    pub fn new(caller: &'static Caller) -> Self {
        KubeSettings {
            caller,
            group: DEFAULT_GROUP.to_string(),
            timeout: DEFAULT_TIMEOUT,
            attempts: 3,
            retry_delay: Duration::from_secs(1),
        }
    }

    fn group_version(&self) -> String {
        format!("{}/{VERSION}", self.group)
    }

    /// `/apis/GROUP/v3`: the discovery document, and the prefix of every object path.
    fn group_path(&self) -> String {
        format!("/apis/{}", self.group_version())
    }
}

/// What is being fetched, for messages.
#[derive(Clone, Copy)]
struct Target<'a> {
    kind: &'static str,
    plural: &'static str,
    name: &'a str,
}

/// Fetches `name` and its type. Async and client-agnostic, so tests can hand it a mock.
pub async fn load_report(
    client: &Client,
    server: &str,
    settings: &KubeSettings,
    name: &str,
) -> Result<(GlobalReport, GlobalReportType), ResourceError> {
    let report_target = Target {
        kind: "GlobalReport",
        plural: "globalreports",
        name,
    };
    let report: GlobalReport = match get(client, server, settings, report_target).await? {
        Some(json) => decode(&json, report_target)?,
        None => {
            return Err(missing(client, settings, report_target, None).await.into());
        }
    };
    let type_name = report.spec.report_type.trim().to_string();
    if type_name.is_empty() {
        // The schema requires it; a server without our schema may not have checked.
        return Err(ResourceError::Invalid {
            kind: "GlobalReport".into(),
            name: name.to_string(),
            errors: report.validate(&|_| true),
        });
    }
    let type_target = Target {
        kind: "GlobalReportType",
        plural: "globalreporttypes",
        name: &type_name,
    };
    let report_type = match get(client, server, settings, type_target).await {
        Ok(Some(json)) => decode(&json, type_target)?,
        Ok(None) if type_name == CIS_BENCHMARK_TYPE => {
            tracing::debug!(
                "no GlobalReportType {CIS_BENCHMARK_TYPE:?} object: using the built-in type"
            );
            GlobalReportType::builtin_cis_benchmark()
        }
        // Only the built-in type may be absent. When the type's CRD is what is missing,
        // the explanation says so rather than "not found".
        Ok(None) => {
            return Err(missing(client, settings, type_target, Some(name))
                .await
                .into());
        }
        Err(e) => return Err(e.into()),
    };
    checked(report, report_type)
}

/// Fetches GlobalReport `name` as the API server stores it, status included. A 404 is
/// explained as for [`load_report`]: a missing object, CRD or group, or a shadowed group.
pub async fn get_report_resource(
    client: &Client,
    server: &str,
    settings: &KubeSettings,
    name: &str,
) -> Result<GlobalReportResource, KubeError> {
    let target = Target {
        kind: "GlobalReport",
        plural: "globalreports",
        name,
    };
    match get(client, server, settings, target).await? {
        Some(json) => decode(&json, target),
        None => Err(missing(client, settings, target, None).await),
    }
}

/// Everything but RFC 3986's unreserved characters, which Kubernetes names are made of.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// GET one object as raw JSON, retrying what may pass; `None` for a 404.
async fn get(
    client: &Client,
    server: &str,
    settings: &KubeSettings,
    target: Target<'_>,
) -> Result<Option<String>, KubeError> {
    // Names come from the environment: encode them so `a/b` cannot address another path.
    let name = utf8_percent_encode(target.name, PATH_SEGMENT);
    let path = format!("{}/{}/{name}", settings.group_path(), target.plural);
    match get_text(client, settings, &path).await {
        Ok(text) => Ok(Some(text)),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
        Err(e) => Err(failure(e, server, settings, target)),
    }
}

/// One GET with the timeout and retries: the body as text, or the error kube reports
/// (non-2xx answers become `kube::Error::Api` with the server's Status).
async fn get_text(
    client: &Client,
    settings: &KubeSettings,
    path: &str,
) -> Result<String, kube::Error> {
    let request = http::Request::get(path)
        .body(Vec::new())
        .map_err(kube::Error::HttpError)?;
    with_retries(settings, || client.request_text(request.clone())).await
}

/// [`get_text`] with an `Accept` header (the node list asks for metadata only).
pub(crate) async fn get_text_accepting(
    client: &Client,
    settings: &KubeSettings,
    path: &str,
    accept: &str,
) -> Result<String, kube::Error> {
    let request = http::Request::get(path)
        .header(http::header::ACCEPT, accept)
        .body(Vec::new())
        .map_err(kube::Error::HttpError)?;
    with_retries(settings, || client.request_text(request.clone())).await
}

/// Runs `op` with the per-request timeout, retrying retryable failures with backoff.
async fn with_retries<T, F, Fut>(settings: &KubeSettings, op: F) -> Result<T, kube::Error>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let timeout = settings.timeout;
    let attempt = || async {
        match tokio::time::timeout(timeout, op()).await {
            Ok(result) => result,
            Err(_) => Err(kube::Error::Service(Box::new(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {}", humantime::format_duration(timeout)),
            )))),
        }
    };
    attempt
        .retry(
            ExponentialBuilder::default()
                .with_min_delay(settings.retry_delay)
                .with_max_times(settings.attempts.saturating_sub(1))
                .with_jitter(),
        )
        .sleep(tokio::time::sleep)
        .when(diagnose::retryable)
        .notify(|err, wait| {
            tracing::warn!(error = %error_chain(err), retry_in = ?wait, "Kubernetes API request failed; retrying")
        })
        .await
}

/// Maps a failed request (after retries) to what the operator must do.
fn failure(
    err: kube::Error,
    server: &str,
    settings: &KubeSettings,
    target: Target<'_>,
) -> KubeError {
    let name = target.name.to_string();
    match err {
        kube::Error::Api(status) => match status.code {
            403 => KubeError::Forbidden {
                caller: settings.caller,
                kind: target.kind,
                name,
                group: settings.group.clone(),
                group_version: settings.group_version(),
                message: status.message,
            },
            401 => KubeError::Unauthorized {
                caller: settings.caller,
                kind: target.kind,
                name,
                message: status.message,
            },
            code if diagnose::retryable_status(code) => KubeError::Unavailable {
                server: server.to_string(),
                kind: target.kind,
                name,
                attempts: settings.attempts,
                timeout: settings.timeout,
                reason: format!("{code} {}", status.message),
            },
            code => KubeError::Refused {
                kind: target.kind,
                name,
                code,
                message: status.message,
            },
        },
        other => KubeError::Unavailable {
            server: server.to_string(),
            kind: target.kind,
            name,
            attempts: settings.attempts,
            timeout: settings.timeout,
            reason: error_chain(&other),
        },
    }
}

/// Explains a 404: missing object, missing CRD, unserved group, or a shadowed group.
async fn missing(
    client: &Client,
    settings: &KubeSettings,
    target: Target<'_>,
    referenced_by: Option<&str>,
) -> KubeError {
    let group_version = settings.group_version();
    let discovery = get_text(client, settings, &settings.group_path())
        .await
        .and_then(|text| {
            serde_json::from_str::<APIResourceList>(&text).map_err(kube::Error::SerdeError)
        });
    let served = match discovery {
        Ok(list) => diagnose::served(Some(&list), target.plural),
        Err(kube::Error::Api(status)) if status.code == 404 => {
            diagnose::served(None, target.plural)
        }
        Err(e) => {
            // Discovery is only for the explanation; without it, report the plain miss.
            tracing::debug!(error = %e, "discovery of {group_version} failed");
            Served::Yes { others: Vec::new() }
        }
    };
    let resource = target.plural;
    match served {
        Served::GroupMissing => KubeError::GroupNotServed {
            report: referenced_by.unwrap_or(target.name).to_string(),
            group_version,
        },
        Served::Shadowed { others } => KubeError::Shadowed {
            group_version,
            resource,
            others: diagnose::name_others(&others),
        },
        Served::No => KubeError::ResourceNotServed {
            group_version,
            resource,
        },
        Served::Yes { others } => KubeError::NotFound {
            kind: target.kind,
            name: target.name.to_string(),
            referenced_by: referenced_by.map(str::to_string),
            group_version,
            shadowed_by: diagnose::name_others(&others),
        },
    }
}

/// Decodes an object's JSON with the model's types, naming the field that fails.
fn decode<T: DeserializeOwned>(json: &str, target: Target<'_>) -> Result<T, KubeError> {
    let mut de = serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        KubeError::Decode {
            kind: target.kind,
            name: target.name.to_string(),
            field: if path.is_empty() || path == "." {
                "(object)".to_string()
            } else {
                path
            },
            message: e.into_inner().to_string(),
        }
    })
}

/// A [`ReportSource`] backed by the API server, for the synchronous reporter (and
/// compliancectl, which reads one GlobalReport's status through it).
pub struct KubeSource {
    runtime: tokio::runtime::Runtime,
    client: Client,
    server: String,
    settings: KubeSettings,
}

impl KubeSource {
    /// Builds a client from the environment: KUBECONFIG (or ~/.kube/config) when present,
    /// else the pod's service account, to read GlobalReport `report`. Makes no request.
    pub fn connect(settings: KubeSettings, report: &str) -> Result<KubeSource, KubeError> {
        Self::connect_for(settings, &format!("GlobalReport {report:?}"))
    }

    /// [`KubeSource::connect`] to read `what` (named when no API can be found:
    /// `GlobalReportWaivers`).
    pub fn connect_for(settings: KubeSettings, what: &str) -> Result<KubeSource, KubeError> {
        let no_config = |reason: String| KubeError::NoConfig {
            caller: settings.caller,
            what: what.to_string(),
            reason,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| no_config(format!("cannot start the async runtime: {e}")))?;
        let (client, server) = runtime.block_on(async {
            let mut config = Config::infer()
                .await
                .map_err(|e| no_config(error_chain(&e)))?;
            config.connect_timeout = Some(settings.timeout);
            config.read_timeout = Some(settings.timeout);
            config.write_timeout = Some(settings.timeout);
            let server = config.cluster_url.to_string();
            let client = Client::try_from(config).map_err(|e| no_config(error_chain(&e)))?;
            Ok::<_, KubeError>((client, server))
        })?;
        tracing::debug!(%server, group = %settings.group, "reading GlobalReports from the Kubernetes API");
        Ok(KubeSource {
            runtime,
            client,
            server,
            settings,
        })
    }
}

impl KubeSource {
    /// GlobalReport `name` with its status (see [`get_report_resource`]).
    pub fn report_resource(&self, name: &str) -> Result<GlobalReportResource, KubeError> {
        self.runtime.block_on(get_report_resource(
            &self.client,
            &self.server,
            &self.settings,
            name,
        ))
    }
}

impl ReportSource for KubeSource {
    fn load_report(&self, name: &str) -> Result<(GlobalReport, GlobalReportType), ResourceError> {
        self.runtime.block_on(load_report(
            &self.client,
            &self.server,
            &self.settings,
            name,
        ))
    }

    /// The Linux nodes ([`list_linux_nodes`]), or why they could not be listed.
    fn cluster_nodes(&self) -> Result<ClusterNodes, ResourceError> {
        Ok(self.runtime.block_on(list_linux_nodes(
            &self.client,
            &self.server,
            &self.settings,
            NODE_PAGE_SIZE,
        ))?)
    }

    /// Every GlobalReportWaiver of the group ([`list_waivers`]), or why they could not be
    /// listed.
    fn waivers(&self) -> Result<ClusterWaivers, ResourceError> {
        Ok(self.runtime.block_on(list_waivers(
            &self.client,
            &self.server,
            &self.settings,
            WAIVER_PAGE_SIZE,
        ))?)
    }
}
