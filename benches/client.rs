//! Client core costs: a full login against the in-memory server (with SCRAM's PBKDF2 and
//! without, via PLAIN), steady-state stanza throughput through an online `Client` compared
//! with the bare `StreamReader` over the same ~10 MB corpus, and the corpus' presences
//! through the presence map (with the service on and off: the difference is its cost).

#[path = "../tests/harness/mod.rs"]
mod harness;

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use harness::{config, Pair, Script};
use xmpp_sansio::client::sasl::Mechanism;
use xmpp_sansio::client::{Action, Event};
use xmpp_sansio::xml::{Limits, StreamEvent, StreamReader};

const CHUNK: usize = 4096;

/// Logs in to the in-memory server until online, with the IM services' first round (roster
/// fetch, initial presence, carbons) unless `bare`.
fn login_with(mechanism: Mechanism, bare: bool) {
    let mut c = config();
    c.sasl.allowed = vec![mechanism];
    if bare {
        c.roster.enabled = false;
        c.presence.enabled = false;
        c.carbons = false;
    }
    let script = Script {
        mechanisms: vec![mechanism.name()],
        ..Script::default()
    };
    let pair = Pair::online(c, script);
    black_box(pair.client.jid());
}

fn login(mechanism: Mechanism) {
    login_with(mechanism, false)
}

/// An online client fed the corpus' stanzas in 4 KiB reads; returns the events seen.
fn through_client(pair: &mut Pair, stanzas: &[u8]) -> usize {
    let mut events = 0;
    for chunk in stanzas.chunks(CHUNK) {
        pair.client.handle_input(pair.now, chunk);
        while let Some(action) = pair.client.poll_action() {
            match action {
                Action::Event(Event::Disconnected { reason }) => panic!("{reason}"),
                Action::Event(e) => {
                    events += 1;
                    black_box(e);
                }
                Action::Send(b) => {
                    black_box(b);
                }
                _ => {}
            }
        }
    }
    events
}

fn through_reader(header: &[u8], stanzas: &[u8]) -> usize {
    let mut r = StreamReader::new(Limits::default());
    r.feed(header);
    let mut n = 0;
    for chunk in stanzas.chunks(CHUNK) {
        r.feed(chunk);
        while let Some(ev) = r.next_event().unwrap() {
            if let StreamEvent::Element(el) = ev {
                n += 1;
                black_box(el);
            }
        }
    }
    n
}

/// The corpus' presence stanzas, concatenated.
fn presences_of(header: &[u8], stanzas: &[u8]) -> (Vec<u8>, usize) {
    let mut r = StreamReader::new(Limits::default());
    r.feed(header);
    r.feed(stanzas);
    let mut out = Vec::new();
    let mut n = 0;
    while let Ok(Some(ev)) = r.next_event() {
        if let StreamEvent::Element(el) = ev {
            if el.name() == "presence" {
                out.extend_from_slice(el.as_bytes());
                n += 1;
            }
        }
    }
    (out, n)
}

fn online_pair_with(presence_service: bool) -> Pair {
    let mut c = config();
    c.presence.enabled = presence_service;
    c.sasl.allowed = vec![Mechanism::Plain];
    // No timers firing during the measurement.
    c.timeouts.keepalive = None;
    c.timeouts.ping_after = None;
    let script = Script {
        mechanisms: vec!["PLAIN"],
        ..Script::default()
    };
    Pair::online(c, script)
}

fn online_pair() -> Pair {
    online_pair_with(true)
}

fn main() {
    // `CLIENT_BENCH_ONE_PASS=reader|client|presences|presences-off|none`: one pass and exit,
    // for instruction counting (`valgrind --tool=callgrind`), which is immune to the noise of
    // a shared machine. `logins|logins-bare`: 100 PLAIN logins, with or without the services'
    // first round (before the corpus is even made).
    let one_pass = std::env::var("CLIENT_BENCH_ONE_PASS").ok();
    if let Some(bare) = match one_pass.as_deref() {
        Some("logins") => Some(false),
        Some("logins-bare") => Some(true),
        _ => None,
    } {
        for _ in 0..100 {
            login_with(Mechanism::Plain, bare);
        }
        return;
    }
    let corpus = common::generate(10_000_000, 0x584D_5050_2024_0001);
    let (header, stanzas) = corpus.bytes.split_at(corpus.header_len);

    if let Some(which) = one_pass {
        let mut pair = online_pair();
        let (presences, _) = presences_of(header, stanzas);
        let n = match which.as_str() {
            "reader" => through_reader(header, stanzas),
            "none" => 0,
            "presences" => through_client(&mut pair, &presences),
            "presences-off" => through_client(&mut online_pair_with(false), &presences),
            _ => through_client(&mut pair, stanzas),
        };
        eprintln!("{which}: {n}");
        return;
    }

    // A single pass of each, with figures the README quotes.
    let t = Instant::now();
    let n = through_reader(header, stanzas);
    let reader_time = t.elapsed();
    let mut pair = online_pair();
    let t = Instant::now();
    let events = through_client(&mut pair, stanzas);
    let client_time = t.elapsed();
    eprintln!(
        "stanzas: reader {n} elements in {reader_time:?}; client {events} events in {client_time:?} ({:.2}x)",
        client_time.as_secs_f64() / reader_time.as_secs_f64()
    );

    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));

    let mut g = c.benchmark_group("login");
    g.bench_function("scram-sha-256", |b| {
        b.iter(|| login(Mechanism::ScramSha256))
    });
    g.bench_function("scram-sha-1", |b| b.iter(|| login(Mechanism::ScramSha1)));
    g.bench_function("plain (no PBKDF2)", |b| b.iter(|| login(Mechanism::Plain)));
    g.finish();

    let mut g = c.benchmark_group("stanzas");
    g.throughput(Throughput::Bytes(stanzas.len() as u64));
    g.bench_function("reader", |b| b.iter(|| through_reader(header, stanzas)));
    g.bench_function("client", |b| {
        b.iter_batched(
            online_pair,
            |mut pair| through_client(&mut pair, stanzas),
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();

    let (presences, count) = presences_of(header, stanzas);
    let mut g = c.benchmark_group(format!("presences ({count} from the corpus)"));
    g.throughput(Throughput::Elements(count as u64));
    for (name, on) in [("presence map", true), ("service off", false)] {
        g.bench_function(name, |b| {
            b.iter_batched(
                || online_pair_with(on),
                |mut pair| through_client(&mut pair, &presences),
                criterion::BatchSize::LargeInput,
            )
        });
    }
    g.finish();
    c.final_summary();
}
