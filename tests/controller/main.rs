//! compliance-controller against a real kube-apiserver and kube-controller-manager (1.20,
//! built from Debian's sources by `scripts/kube-apiserver.sh build`): the real Job
//! controller turns Jobs into Pods and Pod phases into Job conditions. There is no
//! kubelet, so a test ends a Pod by setting its phase through the status subresource.
//!
//! A test binary of its own: the controller manager acts on every object of the process,
//! which the other end-to-end tests do not expect. Each test has its own API group (its
//! own copy of the CRDs) and namespace, so the controllers of tests running at once never
//! see each other's reports. No test waits for a clock: a report's status is set to say its
//! last window ended days ago, and the controller catches up at once.

mod support;

mod failures;
mod metrics;
mod rbac;
mod replicas;
mod restarts;
mod scheduling;
