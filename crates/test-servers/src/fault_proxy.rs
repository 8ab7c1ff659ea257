//! [`FaultProxy`]: a TCP proxy on 127.0.0.1 in front of a real S3 server that fails LIST
//! requests on purpose.
//!
//! Every connection is forwarded byte for byte to the server; the proxy only reads the heads of
//! the client's requests (HTTP/1.1, one at a time as clients send them) to find the LIST ones
//! (`GET ...?list-type=2...`). Following its [`FaultPlan`], it lets the first LISTs through and
//! then answers the next ones itself, with a `500 InternalError` or by closing the connection
//! without an answer, for a number of requests or for ever. Other requests always pass.
//! Signatures stay valid: nothing the client sent is changed.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// How a failed LIST is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `500 Internal Server Error` with an S3 `InternalError` body, then the connection closes.
    ServerError,
    /// The connection closes without an answer (the client sees an incomplete message).
    Drop,
}

/// Which LIST requests fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultPlan {
    /// LIST requests that pass before the first fault.
    pub pass: u64,
    /// LIST requests failed after those; `None`: every later one.
    pub fail: Option<u64>,
    /// How they fail.
    pub fault: Fault,
}

impl FaultPlan {
    /// No fault: every request passes.
    pub const NONE: FaultPlan = FaultPlan {
        pass: u64::MAX,
        fail: Some(0),
        fault: Fault::ServerError,
    };

    /// After `pass` LISTs, every later LIST fails with `fault`.
    pub fn forever_after(pass: u64, fault: Fault) -> Self {
        FaultPlan {
            pass,
            fail: None,
            fault,
        }
    }

    /// After `pass` LISTs, the next `fail` LISTs fail with `fault`; the ones after pass.
    pub fn transient(pass: u64, fail: u64, fault: Fault) -> Self {
        FaultPlan {
            pass,
            fail: Some(fail),
            fault,
        }
    }

    /// Whether the LIST numbered `n` (from 0, since the plan was set) fails.
    fn fails(&self, n: u64) -> bool {
        n >= self.pass && self.fail.is_none_or(|f| n - self.pass < f)
    }
}

/// What the proxy has seen since its plan was last set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyCounts {
    /// LIST requests received (passed and failed).
    pub lists: u64,
    /// LIST requests failed.
    pub failed: u64,
}

#[derive(Debug)]
struct State {
    plan: FaultPlan,
    counts: ProxyCounts,
}

/// A fault-injecting proxy on 127.0.0.1, stopped when dropped.
pub struct FaultProxy {
    /// Its port: point the client here instead of at the server.
    pub port: u16,
    state: Arc<Mutex<State>>,
    stopping: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy to the server on `127.0.0.1:upstream` with `plan`.
    ///
    /// # Panics
    /// When no port on 127.0.0.1 can be bound.
    pub fn start(upstream: u16, plan: FaultPlan) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port on 127.0.0.1");
        let port = listener.local_addr().expect("bound address").port();
        let state = Arc::new(Mutex::new(State {
            plan,
            counts: ProxyCounts::default(),
        }));
        let stopping = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (state, stopping) = (Arc::clone(&state), Arc::clone(&stopping));
            std::thread::spawn(move || accept(&listener, upstream, &state, &stopping))
        };
        FaultProxy {
            port,
            state,
            stopping,
            acceptor: Some(acceptor),
        }
    }

    /// Replaces the plan and restarts the counts (the next LIST is number 0 of `plan`).
    pub fn set_plan(&self, plan: FaultPlan) {
        let mut s = lock(&self.state);
        s.plan = plan;
        s.counts = ProxyCounts::default();
    }

    /// What it has seen since the plan was last set.
    pub fn counts(&self) -> ProxyCounts {
        lock(&self.state).counts
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wakes the acceptor, which then sees `stopping`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

fn accept(listener: &TcpListener, upstream: u16, state: &Arc<Mutex<State>>, stop: &AtomicBool) {
    for client in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        let state = Arc::clone(state);
        std::thread::spawn(move || {
            // A connection that fails ends; the client sees it closed.
            let _ = serve(client, upstream, &state);
        });
    }
}

/// Forwards one client connection, request by request, until either side closes it.
fn serve(client: TcpStream, upstream: u16, state: &Mutex<State>) -> io::Result<()> {
    let server = TcpStream::connect(("127.0.0.1", upstream))?;
    let mut to_client = client.try_clone()?;
    let mut from_server = server.try_clone()?;
    // Answers flow back untouched.
    std::thread::spawn(move || {
        let _ = io::copy(&mut from_server, &mut to_client);
        let _ = to_client.shutdown(Shutdown::Both);
    });
    let mut requests = BufReader::new(client.try_clone()?);
    let mut to_server = server;
    while let Some(head) = read_head(&mut requests)? {
        if let Some(fault) = is_list(&head).then(|| take_fault(state)).flatten() {
            // The client sees the answer, or the connection closed, either way.
            let _ = answer(&client, fault);
            break;
        }
        to_server.write_all(head.as_bytes())?;
        let mut body = (&mut requests).take(content_length(&head));
        io::copy(&mut body, &mut to_server)?;
    }
    let _ = to_server.shutdown(Shutdown::Both);
    client.shutdown(Shutdown::Both)
}

/// The head of the next request (request line and headers, with the blank line), or `None`
/// when the client closed the connection.
fn read_head(requests: &mut impl BufRead) -> io::Result<Option<String>> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if requests.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        head.push_str(&line);
        if line == "\r\n" {
            return Ok(Some(head));
        }
    }
}

fn is_list(head: &str) -> bool {
    let request_line = head.lines().next().unwrap_or_default();
    request_line.starts_with("GET ") && request_line.contains("list-type=2")
}

/// The request's `Content-Length` (0 without one; clients of S3 send it with every body).
fn content_length(head: &str) -> u64 {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Counts a LIST and says how it fails, if it does.
fn take_fault(state: &Mutex<State>) -> Option<Fault> {
    let mut s = lock(state);
    let n = s.counts.lists;
    s.counts.lists += 1;
    let fails = s.plan.fails(n);
    s.counts.failed += u64::from(fails);
    fails.then_some(s.plan.fault)
}

const INTERNAL_ERROR: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError\
</Code><Message>injected by the test proxy</Message></Error>";

fn answer(mut client: &TcpStream, fault: Fault) -> io::Result<()> {
    if fault == Fault::ServerError {
        write!(
            client,
            "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/xml\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{INTERNAL_ERROR}",
            INTERNAL_ERROR.len()
        )?;
        client.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans() {
        let forever = FaultPlan::forever_after(2, Fault::Drop);
        assert_eq!(
            (0..6).map(|n| forever.fails(n)).collect::<Vec<_>>(),
            [false, false, true, true, true, true]
        );
        let transient = FaultPlan::transient(1, 2, Fault::ServerError);
        assert_eq!(
            (0..5).map(|n| transient.fails(n)).collect::<Vec<_>>(),
            [false, true, true, false, false]
        );
        assert!((0..100).all(|n| !FaultPlan::NONE.fails(n)));
    }
}
