//! The pages' stylesheet and script, inside the binary.
//!
//! Clusters are often air-gapped, so nothing is fetched from elsewhere: no CDN, no web
//! fonts. Each asset is linked with its content hash in the query (`/assets/app.css?v=…`)
//! and served with a year's cache and an ETag, so a new build is fetched at once and an
//! unchanged one never again.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// The stylesheet of every page.
pub const APP_CSS: &str = include_str!("../../assets/app.css");
/// The little script of the pages (they work without it).
pub const APP_JS: &str = include_str!("../../assets/app.js");
/// The stylesheet embedded in the printable report.
pub const PRINT_CSS: &str = include_str!("../../assets/print.css");

/// One embedded asset.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: [Asset; 2] = [
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: APP_CSS,
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: APP_JS,
    },
];

/// The first 16 hex digits of the SHA-256 of `body`: its version in links and its ETag.
pub fn version(body: &str) -> String {
    let digest = Sha256::digest(body.as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

fn versions() -> &'static [String; 2] {
    static V: OnceLock<[String; 2]> = OnceLock::new();
    V.get_or_init(|| [version(APP_CSS), version(APP_JS)])
}

/// The link of the stylesheet, with its version.
pub fn css_href() -> String {
    format!("/assets/app.css?v={}", versions()[0])
}

/// The link of the script, with its version.
pub fn js_href() -> String {
    format!("/assets/app.js?v={}", versions()[1])
}

/// `GET /assets/{name}`: an embedded asset, 304 when the client has it already.
pub async fn serve(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.name == name) else {
        return (StatusCode::NOT_FOUND, "no such asset\n").into_response();
    };
    let asset = &ASSETS[i];
    let etag = format!("\"{}\"", versions()[i]);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        asset.body.into_response()
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_follow_the_content() {
        assert_eq!(version("a"), version("a"));
        assert_ne!(version("a"), version("b"));
        assert_eq!(version("a").len(), 16);
        assert!(css_href().starts_with("/assets/app.css?v="));
    }
}
