//! Reading GlobalReports (and waivers, and nodes) from an API server: a mock one for every answer it can give,
//! and the real kube-apiserver where it is built (with kube-controller-manager's Job
//! controller and garbage collector, for the tests that need them).

mod apiserver_smoke;
mod controller_manager_smoke;
mod nodes;
mod source;
mod waivers;
