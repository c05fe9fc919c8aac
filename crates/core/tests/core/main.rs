//! The core against real inputs and reviewed outputs: every real kube-bench fixture
//! imported, and every download compared with its golden file.

mod exports;
mod findings_golden;
mod findings_story;
mod hostile;
mod import_kube_bench;
mod layering;
mod render_golden;
