//! Outbound: messages, presences and IQs built and serialized, one third each, compared with
//! quick-xml's `Writer` producing the same bytes (its attributes in double quotes, ours in
//! single: otherwise byte for byte, which the bench checks before measuring).
//!
//! Variants:
//! - `builder`: `OutgoingMessage` / `OutgoingPresence` / `Builder` to bytes;
//! - `client`: the same through an online `Client` (`send_message`, `send_presence`,
//!   `send_iq`), up to the `Action::Send` it queues: ids, request tracking, the wire log;
//! - `quick_xml_writer`: the same bytes written with quick-xml's `Writer` into a `Vec`.
//!
//! A single pass of each is printed first (stderr): stanzas/s and heap allocations per stanza.

#[path = "../tests/harness/mod.rs"]
mod harness;

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::alloc::alloc_snapshot;
use criterion::{Criterion, Throughput};
use harness::{config, Pair, Script};
use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;
use xmpp_sansio::client::sasl::Mechanism;
use xmpp_sansio::client::stanza::{IqType, MessageType, OutgoingMessage, OutgoingPresence, Show};
use xmpp_sansio::client::Action;
use xmpp_sansio::jid::Jid;
use xmpp_sansio::ns;
use xmpp_sansio::xml::Builder;

#[global_allocator]
static GLOBAL: common::alloc::CountingAlloc = common::alloc::CountingAlloc;

/// Stanzas per pass.
const STANZAS: usize = 30_000;
const CAPS_NODE: &str = "https://example.org/xmpp-sansio";
const CAPS_VER: &str = "QgayPKawpkPSDYmwT/WM94uAlu0=";

/// What the stanzas carry, made before any measurement.
struct Inputs {
    to: Vec<Jid>,
    bodies: Vec<String>,
    ids: Vec<String>,
}

fn inputs() -> Inputs {
    Inputs {
        to: (0..100)
            .map(|i| Jid::parse(&format!("contact{i}@example.org/phone")).unwrap())
            .collect(),
        bodies: (0..100)
            .map(|i| {
                format!(
                    "message {i}: see <https://example.org/?q={i}&lang=en> when you can, \
                     it is about the meeting on the {} at {}:30",
                    i % 28 + 1,
                    i % 12 + 8
                )
            })
            .collect(),
        ids: (0..STANZAS).map(|i| format!("id-{i:08x}")).collect(),
    }
}

fn caps() -> Builder {
    Builder::new("c", ns::CAPS)
        .attr("hash", "sha-1")
        .attr("node", CAPS_NODE)
        .attr("ver", CAPS_VER)
}

/// Stanza `i` (message, presence, IQ in turn) built with the crate's types and serialized.
fn ours(input: &Inputs, i: usize) -> Bytes {
    let to = &input.to[i % input.to.len()];
    let id = input.ids[i].as_str();
    let b: Builder = match i % 3 {
        0 => OutgoingMessage::chat(to, input.bodies[i % input.bodies.len()].as_str())
            .id(id)
            .into(),
        1 => OutgoingPresence::available()
            .show(Show::Away)
            .status("in a meeting")
            .payload(caps())
            .into(),
        _ => Builder::new("iq", ns::JABBER_CLIENT)
            .attr("to", to)
            .attr("type", "get")
            .attr("id", id)
            .child(Builder::new("query", ns::DISCO_INFO)),
    };
    b.to_bytes(ns::JABBER_CLIENT).unwrap()
}

/// The same stanza written with quick-xml's `Writer`.
fn quick_xml(input: &Inputs, i: usize) -> Bytes {
    let to = input.to[i % input.to.len()].as_str();
    let id = input.ids[i].as_str();
    let mut w = Writer::new(Vec::with_capacity(128));
    let text = |w: &mut Writer<Vec<u8>>, name: &str, text: &str| {
        w.write_event(Event::Start(BytesStart::new(name))).unwrap();
        w.write_event(Event::Text(BytesText::new(text))).unwrap();
        w.write_event(Event::End(BytesEnd::new(name))).unwrap();
    };
    match i % 3 {
        0 => {
            let start = BytesStart::new("message").with_attributes([
                ("to", to),
                ("type", "chat"),
                ("id", id),
            ]);
            w.write_event(Event::Start(start)).unwrap();
            text(&mut w, "body", &input.bodies[i % input.bodies.len()]);
            w.write_event(Event::End(BytesEnd::new("message"))).unwrap();
        }
        1 => {
            w.write_event(Event::Start(BytesStart::new("presence")))
                .unwrap();
            text(&mut w, "show", "away");
            text(&mut w, "status", "in a meeting");
            let c = BytesStart::new("c").with_attributes([
                ("xmlns", ns::CAPS),
                ("hash", "sha-1"),
                ("node", CAPS_NODE),
                ("ver", CAPS_VER),
            ]);
            w.write_event(Event::Empty(c)).unwrap();
            w.write_event(Event::End(BytesEnd::new("presence")))
                .unwrap();
        }
        _ => {
            let start =
                BytesStart::new("iq").with_attributes([("to", to), ("type", "get"), ("id", id)]);
            w.write_event(Event::Start(start)).unwrap();
            let query = BytesStart::new("query").with_attributes([("xmlns", ns::DISCO_INFO)]);
            w.write_event(Event::Empty(query)).unwrap();
            w.write_event(Event::End(BytesEnd::new("iq"))).unwrap();
        }
    }
    w.into_inner().into()
}

fn online() -> Pair {
    let mut c = config();
    c.sasl.allowed = vec![Mechanism::Plain];
    c.timeouts.keepalive = None;
    c.timeouts.ping_after = None;
    // Requests are answered by nobody here: room for all of them.
    c.max_pending_iqs = STANZAS;
    let script = Script {
        mechanisms: vec!["PLAIN"],
        ..Script::default()
    };
    Pair::online(c, script)
}

/// Stanza `i` sent through an online client; the bytes it queued.
fn through_client(pair: &mut Pair, input: &Inputs, i: usize) -> Bytes {
    let to = &input.to[i % input.to.len()];
    let now = pair.now;
    let client = &mut pair.client;
    match i % 3 {
        0 => {
            let body = &input.bodies[i % input.bodies.len()];
            client
                .send_message(now, to, MessageType::Chat, body)
                .unwrap();
        }
        1 => {
            let p = OutgoingPresence::available()
                .show(Show::Away)
                .status("in a meeting")
                .payload(caps());
            client.send_presence(now, p).unwrap();
        }
        _ => {
            let query = Builder::new("query", ns::DISCO_INFO);
            client.send_iq(now, Some(to), IqType::Get, query).unwrap();
        }
    }
    let mut sent = Bytes::new();
    while let Some(action) = client.poll_action() {
        if let Action::Send(b) = action {
            sent = b;
        }
    }
    sent
}

/// One timed pass after a warm-up: time and allocations (reallocations included).
fn single_pass(mut f: impl FnMut() -> usize) -> (Duration, u64) {
    black_box(f());
    let before = alloc_snapshot();
    let t = Instant::now();
    black_box(f());
    let time = t.elapsed();
    let after = alloc_snapshot();
    (
        time,
        after.allocs - before.allocs + after.reallocs - before.reallocs,
    )
}

fn main() {
    let input = inputs();
    // Same bytes, quotes aside.
    for i in 0..3 {
        let ours = String::from_utf8(ours(&input, i).to_vec()).unwrap();
        let theirs = String::from_utf8(quick_xml(&input, i).to_vec()).unwrap();
        assert_eq!(ours.replace('\'', "\""), theirs, "stanza kind {i}");
    }

    let all = |f: &dyn Fn(&Inputs, usize) -> Bytes| -> usize {
        (0..STANZAS).map(|i| black_box(f(&input, i)).len()).sum()
    };
    // `OUTBOUND_ONE_PASS=quick-xml|builder|client|none`: one pass and exit, for instruction
    // counting with callgrind (`none`: the set-up alone, to subtract).
    if let Ok(which) = std::env::var("OUTBOUND_ONE_PASS") {
        let n = match which.as_str() {
            "quick-xml" => all(&quick_xml),
            "builder" => all(&ours),
            "client" => {
                let mut pair = online();
                (0..STANZAS)
                    .map(|i| through_client(&mut pair, &input, i).len())
                    .sum()
            }
            _ => {
                black_box(online());
                0
            }
        };
        eprintln!("{which}: {n} bytes");
        return;
    }
    let report = |name: &str, (time, allocs): (Duration, u64)| {
        eprintln!(
            "{name:<28} {:>8.2} ms {:>6.2} M stanzas/s {:>6.2} allocs/stanza",
            time.as_secs_f64() * 1e3,
            STANZAS as f64 / time.as_secs_f64() / 1e6,
            allocs as f64 / STANZAS as f64
        );
    };
    eprintln!("{STANZAS} stanzas (messages, presences and IQs in turn), a single pass each:");
    report("quick-xml Writer", single_pass(|| all(&quick_xml)));
    report("builder", single_pass(|| all(&ours)));
    let mut pairs = [online(), online()];
    let mut next = 0;
    report(
        "client (send_*)",
        single_pass(|| {
            next += 1;
            let pair = &mut pairs[next - 1];
            (0..STANZAS)
                .map(|i| through_client(pair, &input, i).len())
                .sum()
        }),
    );

    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    let mut g = c.benchmark_group("outbound");
    g.throughput(Throughput::Elements(STANZAS as u64));
    g.bench_function("quick_xml_writer", |b| b.iter(|| all(&quick_xml)));
    g.bench_function("builder", |b| b.iter(|| all(&ours)));
    g.bench_function("client", |b| {
        b.iter_batched(
            online,
            |mut pair| {
                (0..STANZAS)
                    .map(|i| through_client(&mut pair, &input, i).len())
                    .sum::<usize>()
            },
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();
    c.final_summary();
}
