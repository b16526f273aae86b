//! Inbound throughput: parsing ~10 MB of realistic server-to-client XMPP
//! traffic (see `common::generate`).
//!
//! Groups:
//! - `quick_xml_raw/whole`: baseline, quick-xml's borrowing slice reader
//!   event loop over the whole corpus, nothing else;
//! - `reader/whole`: our `StreamReader` fed the whole corpus at once;
//! - `reader/chunked`: fed in deterministic pseudo-random 1–4096-byte chunks.
//!
//! Before the timed runs, the corpus is validated and a summary is printed
//! (stderr): composition, then per variant the element count, elements/s from
//! a single timed pass and heap allocations per top-level element, counted
//! with a wrapping global allocator.
//!
//! Set `INBOUND_DUMP_CORPUS=/some/path` to also write the corpus to a file.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::alloc::{alloc_snapshot, BUCKET_LABELS};
use criterion::{Criterion, SamplingMode, Throughput};
use xmpp_sansio::xml::{Limits, StreamEvent, StreamReader};

#[global_allocator]
static GLOBAL: common::alloc::CountingAlloc = common::alloc::CountingAlloc;

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

/// Corpus size (at least; the generator finishes the last stanza).
const CORPUS_BYTES: usize = 10 * 1000 * 1000;
const CORPUS_SEED: u64 = 0x584D_5050_2024_0001;
const CHUNK_SEED: u64 = 0xC4_0E75;
const CHUNK_MIN: usize = 1;
const CHUNK_MAX: usize = 4096;

// ---------------------------------------------------------------------------
// The measured loops
// ---------------------------------------------------------------------------

/// Pulls every available event; returns true once the stream has ended.
fn drain(r: &mut StreamReader, count: &mut usize) -> bool {
    loop {
        match r.next_event() {
            Ok(Some(StreamEvent::Header(h))) => {
                black_box(&h);
            }
            Ok(Some(StreamEvent::Element(el))) => {
                *count += 1;
                black_box(&el);
            }
            Ok(Some(StreamEvent::End)) => return true,
            Ok(None) => return false,
            Err(e) => panic!("reader error after {count} elements: {e}"),
        }
    }
}

/// Our reader, fed the whole corpus at once; returns top-level elements.
fn reader_whole(bytes: &[u8]) -> usize {
    let mut r = StreamReader::new(Limits::default());
    let mut count = 0;
    r.feed(bytes);
    drain(&mut r, &mut count);
    count
}

/// Our reader, fed chunk by chunk; returns top-level elements.
fn reader_chunked(chunks: &[&[u8]]) -> usize {
    let mut r = StreamReader::new(Limits::default());
    let mut count = 0;
    for chunk in chunks {
        r.feed(chunk);
        if drain(&mut r, &mut count) {
            break;
        }
    }
    count
}

// ---------------------------------------------------------------------------
// One-off summary
// ---------------------------------------------------------------------------

struct PassResult {
    count: usize,
    time: Duration,
    allocs: u64,
    reallocs: u64,
    alloc_bytes: u64,
    sizes: [u64; 8],
}

/// Runs `f` once untimed (warm-up), then once timed with allocation counting.
fn single_pass(f: impl Fn() -> usize) -> PassResult {
    black_box(f());
    let before = alloc_snapshot();
    let start = Instant::now();
    let count = black_box(f());
    let time = start.elapsed();
    let after = alloc_snapshot();
    PassResult {
        count,
        time,
        allocs: after.allocs - before.allocs,
        reallocs: after.reallocs - before.reallocs,
        alloc_bytes: after.bytes - before.bytes,
        sizes: std::array::from_fn(|i| after.sizes[i] - before.sizes[i]),
    }
}

fn report(name: &str, what: &str, p: &PassResult, bytes: usize, top_level: usize) {
    let secs = p.time.as_secs_f64();
    eprintln!(
        "{name:<22} {count:>9} {what:<17} {ms:>8.2} ms {eps:>7.2} M{what_short}/s {tps:>7.3} M top-level/s {mbs:>7.1} MB/s | \
         {apt:>6.3} allocs/top-level element ({allocs} allocs + {reallocs} reallocs, {kib:.0} KiB)",
        count = p.count,
        ms = secs * 1e3,
        eps = p.count as f64 / secs / 1e6,
        what_short = if what.starts_with("top") { "el" } else { "ev" },
        tps = top_level as f64 / secs / 1e6,
        mbs = bytes as f64 / secs / 1e6,
        apt = (p.allocs + p.reallocs) as f64 / top_level as f64,
        allocs = p.allocs,
        reallocs = p.reallocs,
        kib = p.alloc_bytes as f64 / 1024.0,
    );
    if p.allocs + p.reallocs > 0 {
        let hist: Vec<String> = BUCKET_LABELS
            .iter()
            .zip(p.sizes)
            .filter(|(_, n)| *n > 0)
            .map(|(l, n)| format!("{l}: {n}"))
            .collect();
        eprintln!("{:<22} allocation sizes: {}", "", hist.join(", "));
    }
}

// ---------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------

fn main() {
    let t = Instant::now();
    let corpus = common::generate(CORPUS_BYTES, CORPUS_SEED);
    let gen_time = t.elapsed();
    let bytes: &[u8] = &corpus.bytes;
    let top_level = corpus.elements;
    eprintln!(
        "generated in {:.0} ms (seed {CORPUS_SEED:#x})",
        gen_time.as_secs_f64() * 1e3
    );
    eprint!("{}", corpus.summary());
    // `INBOUND_ONE_PASS=whole|chunked|none`: one pass and exit, for instruction counting with
    // `valgrind --tool=callgrind` (immune to the noise of a shared machine).
    if let Ok(which) = std::env::var("INBOUND_ONE_PASS") {
        let lens = common::chunk_lengths(bytes.len(), CHUNK_MIN, CHUNK_MAX, CHUNK_SEED);
        let mut chunks = Vec::new();
        let mut pos = 0;
        for len in lens {
            chunks.push(&bytes[pos..pos + len]);
            pos += len;
        }
        let n = match which.as_str() {
            "whole" => reader_whole(bytes),
            "chunked" => reader_chunked(&chunks),
            _ => 0,
        };
        eprintln!("{which}: {n}");
        return;
    }
    if let Some(path) = std::env::var_os("INBOUND_DUMP_CORPUS") {
        std::fs::write(&path, bytes).expect("writing INBOUND_DUMP_CORPUS");
        eprintln!("corpus written to {}", path.to_string_lossy());
    }

    // Sanity: well-formed, determinism, quick-xml accepts the unclosed stream.
    let v = common::validate(bytes)
        .unwrap_or_else(|e| panic!("generated corpus is not well-formed: {e}"));
    assert_eq!(
        v.top_level, top_level,
        "validator and generator disagree on top-level elements"
    );
    assert!(top_level > 10_000, "too few elements: {top_level}");
    assert!(!v.closed);
    eprintln!(
        "validated: {} elements in total, max depth {}, {} entity refs, {} char refs",
        v.elements, v.max_depth, v.entity_refs, v.char_refs
    );
    // Same seed, same bytes: a shorter run is a prefix of the long one.
    let small = common::generate_closed(200_000, CORPUS_SEED);
    let open_len = small.bytes.len() - common::STREAM_CLOSE.len();
    assert_eq!(
        small.bytes[..open_len],
        corpus.bytes[..open_len],
        "generator is not deterministic"
    );
    let vc = common::validate(&small.bytes)
        .unwrap_or_else(|e| panic!("closed corpus is not well-formed: {e}"));
    assert!(vc.closed && vc.top_level == small.elements);

    let mut nodes = v.nodes_per_top_level.clone();
    nodes.sort_unstable();
    let pct = |p: f64| nodes[((nodes.len() - 1) as f64 * p) as usize];
    let over =
        |n: u32| 100.0 * nodes.iter().filter(|&&k| k > n).count() as f64 / nodes.len() as f64;
    eprintln!(
        "nodes (elements + attributes + text runs) per top-level element: p50 {} p90 {} p99 {} max {}; \
         > 10: {:.1}%, > 16: {:.1}%, > 24: {:.1}%, > 32: {:.1}%",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        nodes[nodes.len() - 1],
        over(10),
        over(16),
        over(24),
        over(32),
    );

    let chunk_lens = common::chunk_lengths(bytes.len(), CHUNK_MIN, CHUNK_MAX, CHUNK_SEED);
    let mut chunks: Vec<&[u8]> = Vec::with_capacity(chunk_lens.len());
    let mut at = 0;
    for n in chunk_lens {
        chunks.push(&bytes[at..at + n]);
        at += n;
    }
    eprintln!(
        "chunked: {} chunks of {CHUNK_MIN}..={CHUNK_MAX} bytes",
        chunks.len()
    );

    eprintln!("single timed pass per variant (after one warm-up pass):");
    let qx = single_pass(|| common::quick_xml_pass(bytes));
    assert_eq!(qx.count, v.elements);
    report(
        "quick_xml_raw/whole",
        "elements (S+E)",
        &qx,
        bytes.len(),
        top_level,
    );

    let rw = single_pass(|| reader_whole(bytes));
    assert_eq!(rw.count, top_level, "reader/whole element count");
    report(
        "reader/whole",
        "top-level elements",
        &rw,
        bytes.len(),
        top_level,
    );

    let rc = single_pass(|| reader_chunked(&chunks));
    assert_eq!(rc.count, top_level, "reader/chunked element count");
    report(
        "reader/chunked",
        "top-level elements",
        &rc,
        bytes.len(),
        top_level,
    );

    let q = qx.time.as_secs_f64();
    eprintln!(
        "time ratio vs quick_xml_raw: reader/whole {:.2}x, reader/chunked {:.2}x",
        rw.time.as_secs_f64() / q,
        rc.time.as_secs_f64() / q
    );

    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();

    {
        let mut g = c.benchmark_group("quick_xml_raw");
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.sampling_mode(SamplingMode::Flat);
        g.bench_function("whole", |b| {
            b.iter(|| common::quick_xml_pass(black_box(bytes)))
        });
        g.finish();
    }
    {
        let mut g = c.benchmark_group("reader");
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.sampling_mode(SamplingMode::Flat);
        g.bench_function("whole", |b| b.iter(|| reader_whole(black_box(bytes))));
        g.bench_function("chunked", |b| b.iter(|| reader_chunked(black_box(&chunks))));
        g.finish();
    }

    c.final_summary();
}
