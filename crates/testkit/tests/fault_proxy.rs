//! The fault proxy of `compliance_testkit::fault_proxy`: its rules pick the right request,
//! and each fault reaches the client as the network fault it stands for (a reset is an
//! ECONNRESET, a truncation a short body then end of stream), so fault tests built on it
//! test what they say.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use compliance_testkit::fake_es::FakeEs;
use compliance_testkit::fault_proxy::{Fault, FaultPlan, FaultProxy, FaultRule, When};

/// A request the fake answers with a JSON body of some hundred bytes.
const RESOLVE: &str =
    "GET /_resolve/index/tigera_secure_ee_benchmark_results.cluster* HTTP/1.1\r\nhost: es\r\n\r\n";

/// Sends one request on a new connection and reads until the proxy closes or resets;
/// returns what arrived and the error that ended the read, if any.
fn exchange(url: &str, request: &str) -> (String, Option<ErrorKind>) {
    let addr = url.strip_prefix("http://").unwrap();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&got).into_owned(), None),
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got);
                // A whole answer that keeps the connection open: done.
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head.lines().find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().unwrap())
                    });
                    if len == Some(body.len()) {
                        return (text.into_owned(), None);
                    }
                }
            }
            Err(e) => return (String::from_utf8_lossy(&got).into_owned(), Some(e.kind())),
        }
    }
}

#[test]
fn the_nth_matching_request_gets_the_fault_and_only_it() {
    let mut plan = FaultPlan::default();
    plan.add(FaultRule::new(
        "POST",
        "/_search",
        When::Nth(3),
        Fault::ResetAfter(100),
    ));
    let got: Vec<Fault> = (0..5)
        .map(|_| plan.decide("POST", "/_search?filter_path=x"))
        .collect();
    assert_eq!(got[2], Fault::ResetAfter(100));
    assert!(
        got.iter()
            .enumerate()
            .all(|(i, f)| i == 2 || *f == Fault::Pass)
    );
    assert_eq!(plan.decide("GET", "/_search"), Fault::Pass);
}

#[test]
fn every_nth_and_first_n_count_only_their_matching_requests() {
    let mut plan = FaultPlan::default();
    plan.add(FaultRule::new(
        "*",
        "/_bulk",
        When::Every(2),
        Fault::Truncate(5),
    ));
    plan.add(FaultRule::new("PUT", "/", When::First(1), Fault::Refuse));
    assert_eq!(plan.decide("POST", "/_bulk"), Fault::Pass);
    assert_eq!(plan.decide("PUT", "/x/_doc/1"), Fault::Refuse);
    assert_eq!(plan.decide("POST", "/_bulk"), Fault::Truncate(5));
    assert_eq!(plan.decide("PUT", "/x/_doc/1"), Fault::Pass);
    assert_eq!(plan.decide("POST", "/_bulk?refresh=true"), Fault::Pass);
    assert_eq!(plan.decide("POST", "/_bulk"), Fault::Truncate(5));
    assert_eq!(
        plan.decide("GET", "/_bulk"),
        Fault::Pass,
        "counted, not fired"
    );
}

#[test]
fn each_fault_reaches_the_client_as_the_network_fault_it_names() {
    let fake = FakeEs::start();
    let proxy = FaultProxy::start(&fake.url());
    let (whole, err) = exchange(&proxy.url(), RESOLVE);
    assert_eq!(err, None);
    assert!(whole.starts_with("HTTP/1.1 200"), "{whole}");
    let body_len = whole.split_once("\r\n\r\n").unwrap().1.len();
    assert!(body_len > 20, "{whole}");

    // Each rule counts the requests it matches from when it was added.
    proxy.inject("GET", "/_resolve", When::Nth(1), Fault::ResetAfter(10));
    proxy.inject("GET", "/_resolve", When::Nth(2), Fault::Truncate(10));
    proxy.inject("GET", "/_resolve", When::Nth(3), Fault::html_502());
    proxy.inject("GET", "/_resolve", When::Nth(4), Fault::Refuse);
    proxy.inject(
        "GET",
        "/_resolve",
        When::Nth(5),
        Fault::Delay(Duration::from_millis(300)),
    );

    let (got, err) = exchange(&proxy.url(), RESOLVE);
    assert_eq!(
        err,
        Some(ErrorKind::ConnectionReset),
        "a reset mid-body: {got:?}"
    );

    let (cut, err) = exchange(&proxy.url(), RESOLVE);
    assert_eq!(err, None, "a truncation ends with FIN, not a reset");
    let (head, body) = cut.split_once("\r\n\r\n").unwrap();
    assert_eq!(body.len(), 10);
    assert!(
        head.contains(&format!("content-length: {body_len}")),
        "the promised length is the whole body's: {head}"
    );

    let (page, err) = exchange(&proxy.url(), RESOLVE);
    assert_eq!(err, None);
    assert!(
        page.starts_with("HTTP/1.1 502") && page.contains("<html>"),
        "{page}"
    );

    let (nothing, err) = exchange(&proxy.url(), RESOLVE);
    assert_eq!(
        (nothing.as_str(), err),
        ("", Some(ErrorKind::ConnectionReset))
    );

    let started = std::time::Instant::now();
    let (late, err) = exchange(&proxy.url(), RESOLVE);
    assert_eq!(err, None);
    assert!(late.starts_with("HTTP/1.1 200"));
    assert!(started.elapsed() >= Duration::from_millis(300));

    let faults: Vec<String> = proxy
        .faults_applied()
        .iter()
        .map(|h| h.fault.name())
        .collect();
    assert_eq!(faults.len(), 5, "{faults:?}");
    // The refused request never reached the cluster; the others did.
    let served = fake
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/_resolve"))
        .count();
    assert_eq!(served, 5);
}
