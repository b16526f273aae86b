//! The adapters' receive path end to end: a server on loopback sends a burst of chat
//! messages over TLS (rustls both sides) and the application takes them as typed events,
//! through the tokio adapter and through the blocking one. Login is not timed.

#[path = "../tests/harness/mod.rs"]
mod harness;
#[path = "../tests/loopback/mod.rs"]
mod loopback;

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use harness::{config, Script};
use loopback::{identity, FakeServer, Reaction};
use xmpp_sansio::client::stanza::MessageType;
use xmpp_sansio::client::Event;
use xmpp_sansio::net::blocking::Connection;
use xmpp_sansio::net::{tokio as xtokio, ConnectOptions, Trust};

/// Messages per burst.
const N: usize = 20_000;

/// A server that answers "flood" with `N` messages (about 120 bytes each).
fn flood_server() -> (FakeServer, ConnectOptions) {
    let server = FakeServer::start(Script::default(), false, |el, server| {
        if el.contains("<body>flood</body>") {
            for i in 0..N {
                server.send(&format!(
                    "<message from='romeo@example.net/orchard' type='chat' id='f{i}'><body>message number {i}</body></message>"
                ));
            }
        }
        Reaction::Continue
    });
    let options = ConnectOptions::new()
        .host("127.0.0.1", server.port())
        .trust(Trust::Certificates(vec![identity().cert.clone()]));
    (server, options)
}

fn tokio_burst(rt: &tokio::runtime::Runtime) -> Duration {
    let (server, options) = flood_server();
    let elapsed = rt.block_on(async {
        let (handle, mut events) = xtokio::connect(config(), &options).await.unwrap();
        let romeo = "romeo@example.net".parse().unwrap();
        let start = Instant::now();
        handle
            .send_message(&romeo, MessageType::Chat, "flood")
            .await
            .unwrap();
        let mut got = 0;
        while got < N {
            if let Some(Event::Message(_)) = events.next().await {
                got += 1;
            }
        }
        let elapsed = start.elapsed();
        handle.close().await.unwrap();
        while events.next().await.is_some() {}
        elapsed
    });
    server.finish();
    elapsed
}

fn blocking_burst() -> Duration {
    let (server, options) = flood_server();
    let conn = Connection::connect(config(), &options).unwrap();
    let romeo = "romeo@example.net".parse().unwrap();
    let start = Instant::now();
    conn.send_message(&romeo, MessageType::Chat, "flood")
        .unwrap();
    let mut got = 0;
    while got < N {
        if let Some(Event::Message(_)) = conn.next_event() {
            got += 1;
        }
    }
    let elapsed = start.elapsed();
    conn.close().unwrap();
    server.finish();
    elapsed
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("adapters/receive 20k messages over loopback TLS");
    group.throughput(Throughput::Elements(N as u64));
    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| tokio_burst(&rt)).sum())
    });
    group.bench_function("blocking", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| blocking_burst()).sum())
    });
    group.finish();
    c.final_summary();
}
