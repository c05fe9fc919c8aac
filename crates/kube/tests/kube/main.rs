//! Reading GlobalReports from an API server: a mock one for every answer it can give,
//! and the real kube-apiserver where it is built.

mod apiserver_smoke;
mod source;
