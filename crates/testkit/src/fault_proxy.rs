//! A TCP proxy that breaks HTTP answers on purpose: the network faults a real
//! Elasticsearch (or a proxy in front of it) shows its clients.
//!
//! It listens on 127.0.0.1, forwards each HTTP/1.1 request to an upstream (usually a
//! [`crate::fake_es::FakeEs`]) and, as its [`FaultPlan`] says, passes the answer, cuts
//! the connection with a TCP reset after part of the body, truncates it (a Content-Length
//! longer than what is sent, then FIN), replaces it with a page that is not JSON, holds it
//! back, or resets the connection before forwarding anything. The fake's own injections
//! (`fail_next`, `delay_next`, `expire_pits`, `fail_bulk_items`) are about what the
//! cluster says; this is about what arrives of it.
//!
//! Which request gets which fault is a pure decision ([`FaultPlan::decide`], by method,
//! path prefix and how many matching requests came before); the threads only move bytes.
//! The upstream has already acted on a request whose answer is then broken: a write is
//! stored even though the client never hears so, as when a connection dies after the
//! cluster stored the items.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// What happens to one request and its answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Forwarded, answered as the upstream answered.
    Pass,
    /// The connection is reset (RST) before the request reaches the upstream.
    Refuse,
    /// Forwarded; the client gets the status line, the headers and this many bytes of the
    /// body, then a reset (SO_LINGER 0).
    ResetAfter(usize),
    /// Forwarded; the client gets the headers with a Content-Length larger than what
    /// follows, this many bytes of the body, then an orderly close (FIN).
    Truncate(usize),
    /// Forwarded; the client gets this answer instead of the upstream's.
    Replace {
        status: u16,
        content_type: String,
        body: Vec<u8>,
    },
    /// Forwarded at once; the answer is held back this long (past the client's timeout,
    /// typically), then sent if the client still listens.
    Delay(Duration),
}

impl Fault {
    /// A 502 page from a proxy in front of the cluster: HTML, not JSON.
    pub fn html_502() -> Fault {
        Fault::Replace {
            status: 502,
            content_type: "text/html".to_owned(),
            body: b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\r\n".to_vec(),
        }
    }

    /// A 200 whose body is not JSON (a captive portal, a misrouted request).
    pub fn garbage_200() -> Fault {
        Fault::Replace {
            status: 200,
            content_type: "application/json".to_owned(),
            body: b"\x00\x01<not json>{{{\xff".to_vec(),
        }
    }

    /// A short name for logs and test output.
    pub fn name(&self) -> String {
        match self {
            Fault::Pass => "pass".to_owned(),
            Fault::Refuse => "refuse".to_owned(),
            Fault::ResetAfter(n) => format!("reset after {n} body bytes"),
            Fault::Truncate(n) => format!("truncate after {n} body bytes"),
            Fault::Replace { status, .. } => format!("replace with a non-JSON {status}"),
            Fault::Delay(d) => format!("delay {d:?}"),
        }
    }
}

/// Which of the matching requests a rule applies to (counted from 1, per rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// Only the n-th.
    Nth(usize),
    /// The first n.
    First(usize),
    /// Every n-th: n, 2n, 3n, ...
    Every(usize),
    /// All of them.
    Always,
}

impl When {
    fn fires(self, seen: usize) -> bool {
        match self {
            When::Nth(n) => seen == n,
            When::First(n) => seen <= n,
            When::Every(n) => n > 0 && seen.is_multiple_of(n),
            When::Always => true,
        }
    }
}

/// A fault for the requests with a method (any, when `None`) and a path prefix.
#[derive(Clone, Debug)]
pub struct FaultRule {
    pub method: Option<String>,
    /// Compared with the path without its query string.
    pub path_prefix: String,
    pub when: When,
    pub fault: Fault,
}

impl FaultRule {
    /// `fault` for `when` of the requests `METHOD /prefix...` (`method` "*": any).
    pub fn new(method: &str, path_prefix: &str, when: When, fault: Fault) -> FaultRule {
        FaultRule {
            method: (method != "*").then(|| method.to_ascii_uppercase()),
            path_prefix: path_prefix.to_owned(),
            when,
            fault,
        }
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m == method) && path.starts_with(&self.path_prefix)
    }
}

/// The rules and how many requests each has matched: the pure half of the proxy.
#[derive(Clone, Debug, Default)]
pub struct FaultPlan {
    rules: Vec<(FaultRule, usize)>,
}

impl FaultPlan {
    pub fn add(&mut self, rule: FaultRule) {
        self.rules.push((rule, 0));
    }

    /// The fault for the next request `method path` (query string allowed, ignored).
    /// Every rule that matches counts the request; the first whose [`When`] fires decides,
    /// and none firing means [`Fault::Pass`].
    pub fn decide(&mut self, method: &str, path: &str) -> Fault {
        let path = path.split('?').next().unwrap_or(path);
        let mut chosen = None;
        for (rule, seen) in &mut self.rules {
            if rule.matches(method, path) {
                *seen += 1;
                if chosen.is_none() && rule.when.fires(*seen) {
                    chosen = Some(rule.fault.clone());
                }
            }
        }
        chosen.unwrap_or(Fault::Pass)
    }
}

/// One request through the proxy and what was done to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handled {
    pub method: String,
    /// With its query string.
    pub path: String,
    pub fault: Fault,
}

struct Shared {
    plan: Mutex<FaultPlan>,
    log: Mutex<Vec<Handled>>,
    stop: AtomicBool,
}

/// A running proxy; it stops accepting when dropped.
pub struct FaultProxy {
    shared: Arc<Shared>,
    addr: std::net::SocketAddr,
    upstream: String,
    thread: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`http://127.0.0.1:PORT`, as [`crate::fake_es::FakeEs::url`]
    /// gives it) with no faults.
    pub fn start(upstream: &str) -> FaultProxy {
        let target = upstream
            .strip_prefix("http://")
            .unwrap_or(upstream)
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fault proxy");
        let addr = listener.local_addr().expect("fault proxy address");
        let shared = Arc::new(Shared {
            plan: Mutex::new(FaultPlan::default()),
            log: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let accepting = Arc::clone(&shared);
        let upstream_addr = target.clone();
        let thread = std::thread::Builder::new()
            .name("fault-proxy".to_owned())
            .spawn(move || {
                for client in listener.incoming() {
                    if accepting.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    let shared = Arc::clone(&accepting);
                    let upstream = upstream_addr.clone();
                    let _ = std::thread::Builder::new()
                        .name("fault-proxy-conn".to_owned())
                        .spawn(move || serve_connection(client, &upstream, &shared));
                }
            })
            .expect("spawn the fault proxy");
        FaultProxy {
            shared,
            addr,
            upstream: target,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT` of the proxy.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The upstream's `host:port`.
    pub fn upstream(&self) -> &str {
        &self.upstream
    }

    /// Adds a rule after the existing ones.
    pub fn add(&self, rule: FaultRule) {
        lock(&self.shared.plan).add(rule);
    }

    /// `fault` for `when` of the requests `METHOD /prefix...`.
    pub fn inject(&self, method: &str, path_prefix: &str, when: When, fault: Fault) {
        self.add(FaultRule::new(method, path_prefix, when, fault));
    }

    /// Forgets every rule and their counts.
    pub fn clear(&self) {
        *lock(&self.shared.plan) = FaultPlan::default();
    }

    /// Every request seen so far, in order.
    pub fn log(&self) -> Vec<Handled> {
        lock(&self.shared.log).clone()
    }

    /// The requests that got a fault other than [`Fault::Pass`].
    pub fn faults_applied(&self) -> Vec<Handled> {
        self.log()
            .into_iter()
            .filter(|h| h.fault != Fault::Pass)
            .collect()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One HTTP/1.1 message as read: the head as received, and the body.
struct Message {
    head: Vec<u8>,
    body: Vec<u8>,
}

/// Serves the requests of one client connection until it closes or a fault ends it.
fn serve_connection(client: TcpStream, upstream: &str, shared: &Shared) {
    let Ok(write_half) = client.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(client);
    let mut writer = write_half;
    let mut up: Option<(BufReader<TcpStream>, TcpStream)> = None;
    loop {
        let Some(request) = read_message(&mut reader, false) else {
            return;
        };
        let (method, path) = request_line(&request.head);
        let fault = lock(&shared.plan).decide(&method, &path);
        lock(&shared.log).push(Handled {
            method,
            path,
            fault: fault.clone(),
        });
        if fault == Fault::Refuse {
            reset(&writer);
            return;
        }
        let Some(answer) = forward(&mut up, upstream, &request) else {
            reset(&writer);
            return;
        };
        match fault {
            Fault::Pass | Fault::Refuse => {
                if send(&mut writer, &answer.head, &answer.body).is_err() {
                    return;
                }
            }
            Fault::ResetAfter(n) => {
                let _ = send(
                    &mut writer,
                    &answer.head,
                    &answer.body[..n.min(answer.body.len())],
                );
                reset(&writer);
                return;
            }
            Fault::Truncate(n) => {
                let sent = n.min(answer.body.len().saturating_sub(1));
                let head = with_content_length(&answer.head, answer.body.len().max(sent + 1));
                let _ = send(&mut writer, &head, &answer.body[..sent]);
                let _ = writer.shutdown(Shutdown::Write);
                // Drains what the client sends until it closes, so the close stays a FIN.
                let _ = std::io::copy(&mut reader, &mut std::io::sink());
                return;
            }
            Fault::Replace {
                status,
                content_type,
                body,
            } => {
                let head = format!(
                    "HTTP/1.1 {status} {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n",
                    reason(status),
                    body.len()
                );
                if send(&mut writer, head.as_bytes(), &body).is_err() {
                    return;
                }
            }
            Fault::Delay(d) => {
                std::thread::sleep(d);
                if send(&mut writer, &answer.head, &answer.body).is_err() {
                    return;
                }
            }
        }
    }
}

/// Sends `request` upstream on the connection kept in `up` (opening one when needed)
/// and reads the answer; `None` when the upstream cannot be reached or answered nothing.
fn forward(
    up: &mut Option<(BufReader<TcpStream>, TcpStream)>,
    upstream: &str,
    request: &Message,
) -> Option<Message> {
    for _ in 0..2 {
        if up.is_none() {
            let stream = TcpStream::connect(upstream).ok()?;
            let reader = BufReader::new(stream.try_clone().ok()?);
            *up = Some((reader, stream));
        }
        let (reader, stream) = up.as_mut()?;
        if send(stream, &request.head, &request.body).is_ok()
            && let Some(answer) = read_message(reader, true)
        {
            return Some(answer);
        }
        // The kept connection was closed by the upstream: once more on a new one.
        *up = None;
    }
    None
}

fn send(w: &mut TcpStream, head: &[u8], body: &[u8]) -> std::io::Result<()> {
    w.write_all(head)?;
    w.write_all(body)?;
    w.flush()
}

/// Closes with RST rather than FIN: SO_LINGER on with a zero timeout, then close.
#[allow(unsafe_code)] // test support only: std cannot set SO_LINGER (unstable)
fn reset(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket descriptor and a correctly sized option value.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    // The caller returns, dropping both handles of the socket: the close sends the RST
    // (the option is on the socket, which both descriptors share).
}

/// Reads one message: the head up to the blank line and a body of its Content-Length
/// (or chunked, de-chunked into a Content-Length body). `None` at end of stream.
fn read_message(r: &mut BufReader<TcpStream>, is_response: bool) -> Option<Message> {
    let mut head = Vec::new();
    loop {
        let before = head.len();
        let n = r.read_until(b'\n', &mut head).ok()?;
        if n == 0 {
            return None;
        }
        if &head[before..] == b"\r\n" || &head[before..] == b"\n" {
            if before == 0 {
                // A stray blank line between messages.
                head.clear();
                continue;
            }
            break;
        }
    }
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let header = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim_start().strip_prefix(':'))
            .map(|v| v.trim().to_owned())
    };
    let status_without_body = is_response
        && text
            .split_whitespace()
            .nth(1)
            .is_some_and(|s| s.starts_with('1') || s == "204" || s == "304");
    if status_without_body {
        return Some(Message {
            head,
            body: Vec::new(),
        });
    }
    if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        let body = read_chunked(r)?;
        let head = without_chunking(&head, body.len());
        return Some(Message { head, body });
    }
    let len = header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    Some(Message { head, body })
}

fn read_chunked(r: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).ok()?;
        let size = usize::from_str_radix(line.trim().split(';').next()?, 16).ok()?;
        if size == 0 {
            // Trailers, up to the blank line.
            loop {
                let mut t = String::new();
                r.read_line(&mut t).ok()?;
                if t.trim().is_empty() {
                    return Some(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        r.read_exact(&mut body[start..]).ok()?;
        let mut crlf = [0; 2];
        r.read_exact(&mut crlf).ok()?;
    }
}

/// The head with its Transfer-Encoding replaced by a Content-Length.
fn without_chunking(head: &[u8], len: usize) -> Vec<u8> {
    let text = String::from_utf8_lossy(head);
    let mut out = String::new();
    for line in text.split_inclusive("\r\n") {
        if line == "\r\n" {
            out.push_str(&format!("content-length: {len}\r\n\r\n"));
        } else if !line.to_ascii_lowercase().starts_with("transfer-encoding") {
            out.push_str(line);
        }
    }
    out.into_bytes()
}

/// The head with its Content-Length set to `len`.
fn with_content_length(head: &[u8], len: usize) -> Vec<u8> {
    let text = String::from_utf8_lossy(head);
    let mut out = String::new();
    for line in text.split_inclusive("\r\n") {
        if line == "\r\n" {
            out.push_str(&format!("content-length: {len}\r\n\r\n"));
        } else if !line.to_ascii_lowercase().starts_with("content-length") {
            out.push_str(line);
        }
    }
    out.into_bytes()
}

/// Method and target of a request head.
fn request_line(head: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(head);
    let mut parts = text.lines().next().unwrap_or("").split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let path = parts.next().unwrap_or("").to_owned();
    (method, path)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        429 => "Too Many Requests",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}
