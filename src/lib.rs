//! What the binaries share: settings from the environment, the failure policy, logging,
//! the health endpoint, the reporter's run, the server's run and its certificate, and what `compliancectl reports status` prints.
//!
//! This is the top of the crate graph: it uses every library crate, and only the binaries
//! in `src/bin` use it. Each binary's `main` is `failure::exit` over one `run`; its
//! settings come from [`settings`], the only module that reads the environment.

pub mod changes;
pub mod failure;
pub mod files;
pub mod health;
pub mod logging;
pub mod node;
pub mod notify;
pub mod output;
pub mod reporter;
pub mod server;
pub mod settings;
pub mod show;
pub mod signals;
pub mod status;
pub mod tls;
pub mod waivers;
