//! The pages for people: server-rendered HTML over the same store and authorization as
//! the JSON API.

pub mod view;

use std::sync::Arc;

use crate::Server;

/// The pages and their assets.
pub fn routes() -> axum::Router<Arc<Server>> {
    axum::Router::new()
}
