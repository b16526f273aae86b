//! Client core costs: a full login against the in-memory server (with SCRAM's PBKDF2 and
//! without, via PLAIN), steady-state stanza throughput through an online `Client` compared
//! with the bare `StreamReader` over the same ~10 MB corpus, and the corpus' presences
//! through the presence map and the caps service: their vers unknown (as in the corpus),
//! known (rewritten to vers in the cache: a hit per presence), caps off, services off; the
//! differences are the services' costs. Then reconnections (XEP-0198 resumption, and a fresh
//! session), with the SCRAM keys of the first login reused, and the stanzas again with stream
//! management counting them.
//!
//! Before the timed runs, a single pass of each stanza variant is printed (stderr) with its
//! time against quick-xml's raw loop over the same bytes and its heap allocations per
//! top-level element, then the heap an online client holds at rest and at its peak.

#[path = "../tests/harness/mod.rs"]
mod harness;

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::alloc::{alloc_snapshot, live_bytes, peak_bytes, reset_peak};
use criterion::{Criterion, Throughput};
use harness::{config, Pair, Script};
use xmpp_sansio::client::caps::{CapsHash, CapsKey};
use xmpp_sansio::client::disco::{DiscoInfo, Identity};
use xmpp_sansio::client::sasl::Mechanism;
use xmpp_sansio::client::{Action, Event, ReconnectConfig};
use xmpp_sansio::xml::{Limits, StreamEvent, StreamReader};

#[global_allocator]
static GLOBAL: common::alloc::CountingAlloc = common::alloc::CountingAlloc;

const CHUNK: usize = 4096;
/// "Reads" as large as the whole input: one `handle_input` call.
const WHOLE: usize = usize::MAX;

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
    through_client_in(pair, stanzas, CHUNK)
}

/// An online client fed `stanzas` in reads of `chunk` bytes; returns the events seen.
fn through_client_in(pair: &mut Pair, stanzas: &[u8], chunk: usize) -> usize {
    let mut events = 0;
    for chunk in stanzas.chunks(chunk) {
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
    through_reader_in(header, stanzas, CHUNK)
}

/// The bare reader over the same bytes in reads of `chunk` bytes; returns the elements.
fn through_reader_in(header: &[u8], stanzas: &[u8], chunk: usize) -> usize {
    let mut r = StreamReader::new(Limits::default());
    r.feed(header);
    let mut n = 0;
    for chunk in stanzas.chunks(chunk) {
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

/// Timed passes per figure of the summary: `CLIENT_BENCH_PASSES`, default 1. On a shared
/// machine the quickest of several is the figure least disturbed by others.
fn passes() -> usize {
    std::env::var("CLIENT_BENCH_PASSES")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(1usize)
        .max(1)
}

/// Runs `f` once untimed (warm-up), then [`passes`] times timed; the quickest time and the
/// heap allocations (reallocations included) the first timed run made.
fn single_pass(mut f: impl FnMut() -> usize) -> (usize, Duration, u64) {
    black_box(f());
    let before = alloc_snapshot();
    let t = Instant::now();
    let n = black_box(f());
    let mut time = t.elapsed();
    let after = alloc_snapshot();
    let allocs = after.allocs - before.allocs + after.reallocs - before.reallocs;
    for _ in 1..passes() {
        let t = Instant::now();
        black_box(f());
        time = time.min(t.elapsed());
    }
    (n, time, allocs)
}

/// The heap an online client holds: right after login, and idle after the corpus went
/// through it; then the high-water mark while one large message arrives in 4 KiB reads.
fn memory_summary(stanzas: &[u8]) {
    // What the client alone keeps alive: the rest of the pair (the in-memory server, the
    // history of events, which share the client's read blocks) is dropped first.
    let held = |pair: Pair| {
        let client = client_of(pair);
        let before = live_bytes();
        drop(client);
        before - live_bytes()
    };
    let fresh = held(online_pair());
    let mut pair = online_pair();
    through_client(&mut pair, stanzas);
    let after_corpus = held(pair);
    let mut pair = online_pair();
    let body = "x".repeat(64 * 1024);
    let big = format!(
        "<message from='romeo@montague.lit/orchard' to='juliet@capulet.lit/balcony' \
         type='chat' id='big'><body>{body}</body></message>"
    );
    let before = live_bytes();
    reset_peak();
    through_client(&mut pair, big.as_bytes());
    let peak = peak_bytes() - before;
    eprintln!(
        "memory: an online client holds {fresh} B of heap after login, {after_corpus} B idle \
         after the corpus (plus a {} B struct); a {} B message in 4 KiB reads raised the \
         heap by at most {peak} B ({:.2}x the stanza)",
        std::mem::size_of::<xmpp_sansio::client::Client>(),
        big.len(),
        peak as f64 / big.len() as f64,
    );
}

/// The client, the rest of the pair dropped.
fn client_of(pair: Pair) -> xmpp_sansio::client::Client {
    pair.client
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

/// How the presence benches configure the services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Services {
    /// The presence map and caps, as configured by default.
    Default,
    /// The same, with the descriptions behind the rewritten vers in the cache.
    KnownCaps,
    /// The presence map without caps.
    NoCaps,
    /// Neither.
    Off,
}

fn online_pair_with(services: Services) -> Pair {
    let mut c = config();
    c.presence.enabled = services != Services::Off;
    c.caps.enabled = matches!(services, Services::Default | Services::KnownCaps);
    if services == Services::KnownCaps {
        c.caps.known = known_descriptions();
    }
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
    online_pair_with(Services::Default)
}

/// Online with stream management counting every stanza; acknowledgements are never asked
/// for (the corpus' server does not answer them), so the queue keeps our replies.
fn online_pair_sm() -> Pair {
    let mut c = config();
    c.sasl.allowed = vec![Mechanism::Plain];
    c.timeouts.keepalive = None;
    c.timeouts.ping_after = None;
    c.stream_management.ack_every = u32::MAX;
    c.stream_management.ack_after = Duration::from_secs(1 << 30);
    c.stream_management.max_unacked = usize::MAX / 2;
    c.stream_management.max_unacked_bytes = usize::MAX / 2;
    let script = Script {
        mechanisms: vec!["PLAIN"],
        sm: true,
        ..Script::default()
    };
    let pair = Pair::online(c, script);
    assert!(pair.server.sm.enabled);
    pair
}

/// The corpus with the server's stream-management acknowledgements (`<a h='N'/>`, random
/// counts that would be "too high" for a client counting for real) made `h='0…0'`: stale,
/// so ignored. Same length, so the comparison with the plain client holds.
fn with_stale_acks(stanzas: &[u8]) -> Vec<u8> {
    let mut out = stanzas.to_vec();
    let needle = b"urn:xmpp:sm:3";
    let mut i = 0;
    while let Some(at) = out[i..].windows(needle.len()).position(|w| w == needle) {
        let start = i + at + needle.len();
        let end = (start + 16).min(out.len());
        if let Some(h) = out[start..end]
            .windows(3)
            .position(|w| w[0] == b'h' && w[1] == b'=')
        {
            let mut j = start + h + 3;
            while j < out.len() && out[j].is_ascii_digit() {
                out[j] = b'0';
                j += 1;
            }
        }
        i = start;
    }
    out
}

/// Online with SCRAM-SHA-256, ready to lose its connection and come back (`sm`: resumed,
/// else a fresh session).
fn reconnecting_pair(sm: bool) -> Pair {
    let mut c = config();
    c.reconnect = ReconnectConfig::default();
    c.reconnect.min_delay = Duration::from_millis(1);
    c.sasl.allowed = vec![Mechanism::ScramSha256];
    c.timeouts.keepalive = None;
    c.timeouts.ping_after = None;
    let script = Script {
        mechanisms: vec!["SCRAM-SHA-256"],
        sm,
        ..Script::default()
    };
    Pair::online(c, script)
}

/// The connection drops and the client is back online (the history the harness keeps is
/// dropped, so that iterations cost the same).
fn reconnect(pair: &mut Pair) {
    pair.events.clear();
    pair.seen.clear();
    pair.delivered.clear();
    pair.server.received.clear();
    pair.server.raw.clear();
    pair.cut();
    // The backoff grows (these connections never stay up): wait what it says.
    let delay = pair.events.iter().find_map(|e| match e {
        Event::Reconnecting { delay, .. } => Some(*delay),
        _ => None,
    });
    pair.advance(delay.expect("a reconnection"));
    assert!(pair.client.is_online());
}

/// Three client descriptions and their XEP-0115 hashes.
fn known_descriptions() -> Vec<(CapsKey, DiscoInfo)> {
    (0..3)
        .map(|i| {
            let mut info = DiscoInfo::new(vec![
                Identity::new("client", "pc").with_name(format!("Client {i}"))
            ]);
            info.features = vec![
                "http://jabber.org/protocol/caps".to_owned(),
                "http://jabber.org/protocol/disco#info".to_owned(),
                format!("urn:example:feature:{i}"),
            ];
            let ver = CapsHash::Sha1.compute(&info).unwrap();
            (CapsKey::new(CapsHash::Sha1, ver), info)
        })
        .collect()
}

/// `presences` with every caps `ver` replaced by one of the known ones, the same for every
/// presence of one sender (a contact's client keeps its caps from one presence to the next).
fn with_known_vers(presences: &[u8]) -> Vec<u8> {
    let known: Vec<String> = known_descriptions()
        .into_iter()
        .map(|(k, _)| k.ver)
        .collect();
    let value_of = |bytes: &[u8], name: &[u8]| -> Option<(usize, usize)> {
        let at = bytes.windows(name.len()).position(|w| w == name)? + name.len();
        let quote = bytes[at];
        let len = bytes[at + 1..].iter().position(|&b| b == quote)?;
        Some((at + 1, at + 1 + len))
    };
    let mut out = Vec::with_capacity(presences.len());
    let starts: Vec<usize> = presences
        .windows(9)
        .enumerate()
        .filter(|(_, w)| *w == b"<presence")
        .map(|(i, _)| i)
        .chain(std::iter::once(presences.len()))
        .collect();
    out.extend_from_slice(&presences[..starts[0]]);
    for pair in starts.windows(2) {
        let p = &presences[pair[0]..pair[1]];
        let from = value_of(p, b" from=").map_or(&b""[..], |(a, b)| &p[a..b]);
        match value_of(p, b" ver=") {
            Some((a, b)) => {
                let sender = from
                    .iter()
                    .fold(0usize, |h, &c| h.wrapping_mul(31).wrapping_add(c.into()));
                out.extend_from_slice(&p[..a]);
                out.extend_from_slice(known[sender % known.len()].as_bytes());
                out.extend_from_slice(&p[b..]);
            }
            None => out.extend_from_slice(p),
        }
    }
    out
}

fn main() {
    // `CLIENT_BENCH_ONE_PASS=quick-xml|reader[-whole]|client[-whole]|presences|presences-known[-twice]|
    // presences-rewrite|presences-nocaps[-twice]|presences-off|client-sm|sm-rewrite|none`: one pass and exit,
    // for instruction counting (`valgrind --tool=callgrind`), which is immune to the noise of
    // a shared machine. `logins|logins-bare`: 100 PLAIN logins, with or without the services'
    // first round (before the corpus is even made).
    let one_pass = std::env::var("CLIENT_BENCH_ONE_PASS").ok();
    // `reconnects-resumed|reconnects-fresh`: 100 reconnections after one SCRAM login;
    // `reconnects-none`: the login alone.
    if let Some(sm) = match one_pass.as_deref() {
        Some("reconnects-resumed") => Some((true, 100)),
        Some("reconnects-fresh") => Some((false, 100)),
        Some("reconnects-none") => Some((true, 0)),
        _ => None,
    } {
        let (sm, n) = sm;
        let mut pair = reconnecting_pair(sm);
        for _ in 0..n {
            reconnect(&mut pair);
        }
        return;
    }
    if let Some(bare) = match one_pass.as_deref() {
        Some("idle-leak") => {
            // An online client forgotten, for `valgrind --leak-check=full` to list what it holds.
            std::mem::forget(online_pair().client);
            return;
        }
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
            "reader-whole" => through_reader_in(header, stanzas, WHOLE),
            "client-whole" => through_client_in(&mut pair, stanzas, WHOLE),
            "quick-xml" => common::quick_xml_pass(&corpus.bytes),
            "none" => 0,
            "presences" => through_client(&mut pair, &presences),
            "presences-known" => through_client(
                &mut online_pair_with(Services::KnownCaps),
                &with_known_vers(&presences),
            ),
            // The same presences again: the entities' caps are known from the first pass,
            // so the second costs what a presence with an unchanged, known ver costs.
            "presences-known-twice" => {
                let mut pair = online_pair_with(Services::KnownCaps);
                let known = with_known_vers(&presences);
                through_client(&mut pair, &known) + through_client(&mut pair, &known)
            }
            "presences-nocaps-twice" => {
                let mut pair = online_pair_with(Services::NoCaps);
                through_client(&mut pair, &presences) + through_client(&mut pair, &presences)
            }
            // What `presences-known` spends rewriting, to subtract.
            "presences-rewrite" => with_known_vers(&presences).len(),
            "presences-nocaps" => {
                through_client(&mut online_pair_with(Services::NoCaps), &presences)
            }
            "presences-off" => through_client(&mut online_pair_with(Services::Off), &presences),
            "client-sm" => through_client(&mut online_pair_sm(), &with_stale_acks(stanzas)),
            // What `client-sm` spends rewriting, to subtract.
            "sm-rewrite" => with_stale_acks(stanzas).len(),
            _ => through_client(&mut pair, stanzas),
        };
        eprintln!("{which}: {n}");
        return;
    }

    // A single pass of each, with figures the README quotes: time against quick-xml's raw
    // loop over the same bytes in the same run, and allocations per top-level element.
    let top_level = corpus.elements as f64;
    let (_, qx, _) = single_pass(|| common::quick_xml_pass(&corpus.bytes));
    let report = |name: &str, (n, time, allocs): (usize, Duration, u64)| {
        eprintln!(
            "{name:<24} {n:>8} {:>8.2} ms {:>5.2}x quick-xml raw {:>6.3} allocs/top-level element",
            time.as_secs_f64() * 1e3,
            time.as_secs_f64() / qx.as_secs_f64(),
            allocs as f64 / top_level,
        );
    };
    report("quick-xml raw (whole)", (0, qx, 0));
    report(
        "reader, 4 KiB reads",
        single_pass(|| through_reader_in(header, stanzas, CHUNK)),
    );
    report(
        "reader, whole",
        single_pass(|| through_reader_in(header, stanzas, WHOLE)),
    );
    for (name, chunk) in [("client, 4 KiB reads", CHUNK), ("client, whole", WHOLE)] {
        // A fresh online client per pass (made outside the measured part).
        let mut pairs: Vec<Pair> = (0..=passes()).map(|_| online_pair()).collect();
        let mut next = 0;
        report(
            name,
            single_pass(|| {
                next += 1;
                through_client_in(&mut pairs[next - 1], stanzas, chunk)
            }),
        );
    }
    memory_summary(stanzas);

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

    let mut g = c.benchmark_group("reconnect (SCRAM-SHA-256 keys reused)");
    g.bench_function("resumed (XEP-0198)", |b| {
        let mut pair = reconnecting_pair(true);
        b.iter(|| reconnect(&mut pair))
    });
    g.bench_function("fresh session", |b| {
        let mut pair = reconnecting_pair(false);
        b.iter(|| reconnect(&mut pair))
    });
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
    let stale = with_stale_acks(stanzas);
    g.bench_function("client, stream management counting", |b| {
        b.iter_batched(
            online_pair_sm,
            |mut pair| through_client(&mut pair, &stale),
            criterion::BatchSize::LargeInput,
        )
    });
    g.finish();

    let (presences, count) = presences_of(header, stanzas);
    let mut g = c.benchmark_group(format!("presences ({count} from the corpus)"));
    g.throughput(Throughput::Elements(count as u64));
    let known = with_known_vers(&presences);
    for (name, services, input) in [
        ("map and caps, vers unknown", Services::Default, &presences),
        (
            "map and caps, vers known (cache hits)",
            Services::KnownCaps,
            &known,
        ),
        ("map, caps off", Services::NoCaps, &presences),
        ("services off", Services::Off, &presences),
    ] {
        g.bench_function(name, |b| {
            b.iter_batched(
                || online_pair_with(services),
                |mut pair| through_client(&mut pair, input),
                criterion::BatchSize::LargeInput,
            )
        });
    }
    g.finish();
    c.final_summary();
}
