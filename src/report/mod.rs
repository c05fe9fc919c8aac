//! The pure report core: (spec, window, documents) in, report data out.

pub mod schedule;
