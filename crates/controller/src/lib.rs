//! The compliance controller: GlobalReport schedules become one-shot reporter Jobs, and
//! the Jobs' outcomes become the GlobalReport's status (docs/spec.md §8).
//!
//! Pure decisions, thin IO, as in the benchmarker:
//! - [`window`] which report windows are due; [`name`] a window's Job name (the lock);
//!   [`template`] the Job built from the report's PodTemplate; [`jobs`] a Job read back;
//!   [`plan`] what to do for one report and the status that results; [`lease`] the
//!   leader-election decision. None of these talk to a server or read the clock.
//! - [`reconcile`] carries a plan out against the API server; [`run`] wires the watches,
//!   leader election and shutdown together.

pub mod events;
pub mod jobs;
pub mod lease;
pub mod metrics;
pub mod name;
pub mod plan;
pub mod reconcile;
pub mod run;
pub mod settings;
pub mod template;
pub mod window;

pub use settings::Settings;
pub mod k8s_time;
