//! compliance-server: the stored reports over HTTPS, Calico's JSON API and pages for
//! people, with Kubernetes RBAC deciding who reads what (docs/spec.md §9, docs/server.md).
//!
//! Configured by the environment (`compliance::settings::server`). Runs until SIGTERM or
//! SIGINT, letting requests in flight finish. Exit codes: 0 stopped, 1 runtime failure,
//! 2 configuration error.

use std::process::ExitCode;

use compliance::failure::{self, Failure};
use compliance::settings::server::ServerConfig;
use compliance::settings::{LogConfig, RawEnv};
use compliance::{logging, server};

fn main() -> ExitCode {
    failure::exit("compliance-server", "server failed", run())
}

fn run() -> Result<u8, Failure> {
    let env = RawEnv::from_os_vars(std::env::vars_os())?;
    logging::init(LogConfig::from_env(&env)?);
    let cfg = ServerConfig::from_env(&env, |path| path.exists())?;
    server::run(cfg)
}
