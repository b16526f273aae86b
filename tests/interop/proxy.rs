//! A loopback TCP proxy the test controls, for reconnection and stream-resumption tests: put
//! between a client and a real server, it can cut every connection as a lost network would
//! ([`Proxy::cut`]), refuse new ones ([`Proxy::refuse`]), go silent ([`Proxy::hold`]), and
//! count what it accepted ([`Proxy::connections`]). Std threads only: one accepting, two a
//! connection, each with a fixed buffer; all stopped and joined on drop.
//!
//! The scenarios that use it are in `continuity.rs`.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Bytes a direction of a connection reads at once: the only buffer, so memory is bounded.
const BUFFER: usize = 16 * 1024;
/// How often the listener looks for new connections and for the proxy being dropped.
const POLL: Duration = Duration::from_millis(5);
/// How long a new connection waits for the target to accept.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A TCP proxy on 127.0.0.1 to one target. Stops its listener and every connection, and
/// joins its threads, when dropped.
pub struct Proxy {
    shared: Arc<Shared>,
    port: u16,
    acceptor: Option<JoinHandle<()>>,
}

struct Shared {
    target: SocketAddr,
    stopping: AtomicBool,
    refusing: AtomicBool,
    holding: AtomicBool,
    accepted: AtomicUsize,
    refused: AtomicUsize,
    links: Mutex<Links>,
}

#[derive(Default)]
struct Links {
    next_id: u64,
    live: Vec<Link>,
    /// The pumps' threads, joined on drop (finished ones as new connections come).
    threads: Vec<JoinHandle<()>>,
}

/// One proxied connection: the client's socket and ours to the target (clones; the pumps
/// hold the others).
struct Link {
    id: u64,
    client: TcpStream,
    upstream: TcpStream,
    /// Pumps still running; the link goes when both have ended.
    pumps: u8,
}

impl Link {
    fn shut(&self) {
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.upstream.shutdown(Shutdown::Both);
    }
}

impl Proxy {
    /// Listens on 127.0.0.1 (a free port); pipes each connection, both ways, to a new
    /// connection to `target`.
    pub fn start(target: SocketAddr) -> Proxy {
        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("proxy: binding 127.0.0.1:0");
        let port = listener.local_addr().expect("proxy: local address").port();
        // Nonblocking, polled: the thread sees the proxy dropped within POLL.
        listener
            .set_nonblocking(true)
            .expect("proxy: nonblocking listener");
        let shared = Arc::new(Shared {
            target,
            stopping: AtomicBool::new(false),
            refusing: AtomicBool::new(false),
            holding: AtomicBool::new(false),
            accepted: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
            links: Mutex::new(Links::default()),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name(format!("proxy-{port}-accept"))
                .spawn(move || accept_loop(&listener, &shared))
                .expect("proxy: spawning the listener thread")
        };
        Proxy {
            shared,
            port,
            acceptor: Some(acceptor),
        }
    }

    /// The port it listens on, on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Where it forwards to.
    pub fn target(&self) -> SocketAddr {
        self.shared.target
    }

    /// Closes every live connection abruptly: both sockets shut down both ways, so the
    /// client reads end-of-file (and a later write of its fails) without any closing of the
    /// stream, and so does the server. Returns once their threads have ended. New
    /// connections are accepted as before.
    pub fn cut(&self) {
        let ids: Vec<u64> = {
            let links = self.shared.lock();
            links.live.iter().for_each(Link::shut);
            links.live.iter().map(|l| l.id).collect()
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline
            && self.shared.lock().live.iter().any(|l| ids.contains(&l.id))
        {
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// While on, each new connection is accepted and closed at once, before any byte, so
    /// that connecting fails (end of file before the stream header); counted by
    /// [`Proxy::refused`], not [`Proxy::connections`]. Live connections are not touched.
    pub fn refuse(&self, on: bool) {
        self.shared.refusing.store(on, Ordering::SeqCst);
    }

    /// While on, nothing is forwarded, either way, on any connection: what is read is
    /// dropped, as a network gone silent would (the sender's TCP sees its bytes taken).
    /// Turning it off forwards what comes next, never what was dropped: a TLS stream that
    /// lost bytes is broken for good, so this is for ping timeouts, not for pauses.
    pub fn hold(&self, on: bool) {
        self.shared.holding.store(on, Ordering::SeqCst);
    }

    /// Client connections accepted and piped to the target so far (each one that was not
    /// refused, whether or not the target then accepted it).
    pub fn connections(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Client connections closed at once because [`Proxy::refuse`] was on.
    pub fn refused(&self) -> usize {
        self.shared.refused.load(Ordering::SeqCst)
    }

    /// Connections open now (both ends not yet closed).
    pub fn live(&self) -> usize {
        self.shared.lock().live.len()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        // No new links now; end the live ones and wait for every pump.
        let threads = {
            let mut links = self.shared.lock();
            links.live.iter().for_each(Link::shut);
            std::mem::take(&mut links.threads)
        };
        for thread in threads {
            let _ = thread.join();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Links> {
        self.links.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A pump of link `id` has ended: the link goes with the second.
    fn pump_ended(&self, id: u64) {
        let mut links = self.lock();
        if let Some(i) = links.live.iter().position(|l| l.id == id) {
            links.live[i].pumps -= 1;
            if links.live[i].pumps == 0 {
                links.live.swap_remove(i);
            }
        }
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    while !shared.stopping.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => admit(shared, client),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // WouldBlock, or out of descriptors and the like: look again shortly.
            Err(_) => thread::sleep(POLL),
        }
    }
}

fn admit(shared: &Arc<Shared>, client: TcpStream) {
    if shared.refusing.load(Ordering::SeqCst) {
        shared.refused.fetch_add(1, Ordering::SeqCst);
        let _ = client.shutdown(Shutdown::Both);
        return;
    }
    shared.accepted.fetch_add(1, Ordering::SeqCst);
    let Ok(upstream) = TcpStream::connect_timeout(&shared.target, CONNECT_TIMEOUT) else {
        // The target is down: the client sees its connection closed.
        let _ = client.shutdown(Shutdown::Both);
        return;
    };
    let clones = (|| {
        client.set_nonblocking(false)?;
        client.set_nodelay(true)?;
        upstream.set_nodelay(true)?;
        Ok::<_, std::io::Error>((
            client.try_clone()?,
            upstream.try_clone()?,
            client.try_clone()?,
            upstream.try_clone()?,
        ))
    })();
    let Ok((client_in, upstream_in, client_out, upstream_out)) = clones else {
        let _ = client.shutdown(Shutdown::Both);
        let _ = upstream.shutdown(Shutdown::Both);
        return;
    };
    let mut links = shared.lock();
    let id = links.next_id;
    links.next_id += 1;
    links.live.push(Link {
        id,
        client,
        upstream,
        pumps: 2,
    });
    let mut threads: Vec<JoinHandle<()>> = std::mem::take(&mut links.threads)
        .into_iter()
        .filter_map(|t| {
            if t.is_finished() {
                let _ = t.join();
                None
            } else {
                Some(t)
            }
        })
        .collect();
    for (name, from, to) in [
        ("up", client_in, upstream_out),
        ("down", upstream_in, client_out),
    ] {
        let shared = Arc::clone(shared);
        let spawned = thread::Builder::new()
            .name(format!("proxy-{id}-{name}"))
            .spawn(move || {
                pump(&shared, from, to);
                shared.pump_ended(id);
            });
        match spawned {
            Ok(t) => threads.push(t),
            Err(_) => {
                // Without both pumps the link is no use; the running one ends on the shut.
                if let Some(link) = links.live.iter_mut().find(|l| l.id == id) {
                    link.shut();
                    link.pumps -= 1;
                }
            }
        }
    }
    links.live.retain(|l| l.pumps > 0);
    links.threads = threads;
}

/// Copies `from` to `to` until `from` ends, then passes the end on (a half close). If `to`
/// cannot take more, or `from` failed, the whole connection is shut.
fn pump(shared: &Shared, mut from: TcpStream, mut to: TcpStream) {
    let mut buf = vec![0; BUFFER];
    loop {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if shared.holding.load(Ordering::SeqCst) {
                    continue;
                }
                if to.write_all(&buf[..n]).is_err() {
                    let _ = from.shutdown(Shutdown::Both);
                    let _ = to.shutdown(Shutdown::Both);
                    return;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => {
                let _ = from.shutdown(Shutdown::Both);
                let _ = to.shutdown(Shutdown::Both);
                return;
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
