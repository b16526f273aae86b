//! Shared test support: the real-server wire transcripts in `tests/fixtures/` and a driver
//! that runs bytes through the stream reader in a given chunking.
#![allow(dead_code)]

use std::path::PathBuf;

use xmpp_sansio::xml::{Limits, StreamEvent, StreamReader, XmlError};

/// One read or write of a recorded session.
pub struct Chunk {
    pub from_server: bool,
    pub tls: bool,
    pub data: Vec<u8>,
}

pub struct Transcript {
    pub name: String,
    pub chunks: Vec<Chunk>,
}

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Parses the transcript format described in `tests/fixtures/README.md`.
pub fn load(name: &str) -> Transcript {
    let text = std::fs::read_to_string(fixtures_dir().join(name)).expect("fixture exists");
    let markers = [
        ("\n<!-- C->S plain -->\n", false, false),
        ("\n<!-- C->S tls -->\n", false, true),
        ("\n<!-- S->C plain -->\n", true, false),
        ("\n<!-- S->C tls -->\n", true, true),
    ];
    let mut chunks = Vec::new();
    let mut rest = text.as_str();
    let mut current: Option<(bool, bool)> = None;
    loop {
        let next = markers
            .iter()
            .filter_map(|&(m, s, t)| rest.find(m).map(|i| (i, m.len(), s, t)))
            .min_by_key(|x| x.0);
        let (end, skip, s, t) = match next {
            Some(n) => n,
            None => (rest.len(), 0, false, false),
        };
        if let Some((from_server, tls)) = current {
            chunks.push(Chunk {
                from_server,
                tls,
                data: strip_labels(&rest[..end]).into_bytes(),
            });
        }
        if next.is_none() {
            break;
        }
        current = Some((s, t));
        rest = &rest[end + skip..];
    }
    Transcript {
        name: name.to_owned(),
        chunks,
    }
}

/// Drops the recorder's `<!-- ===== phase ... -->` and `<!-- NOTE ... -->` lines, which
/// are labels in the file, not wire data.
fn strip_labels(chunk: &str) -> String {
    let mut out = String::with_capacity(chunk.len());
    for (i, line) in chunk.split('\n').enumerate() {
        let t = line.trim();
        if t.starts_with("<!-- =====") || t.starts_with("<!-- NOTE") {
            continue;
        }
        if i > 0 && !out.is_empty() {
            out.push('\n');
        }
        out.push_str(line);
    }
    out
}

pub fn all_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".xml"))
        .collect();
    names.sort();
    names
}

impl Transcript {
    /// Everything the server sent, concatenated, whatever the transport phase.
    pub fn all_server_bytes(&self) -> Vec<u8> {
        self.chunks
            .iter()
            .filter(|c| c.from_server)
            .flat_map(|c| c.data.clone())
            .collect()
    }

    /// What the server sent, as one byte string per transport phase (plaintext, then TLS).
    pub fn server_bytes(&self) -> Vec<Vec<u8>> {
        let mut phases: Vec<(bool, Vec<u8>)> = Vec::new();
        for c in self.chunks.iter().filter(|c| c.from_server) {
            match phases.last_mut() {
                Some((tls, bytes)) if *tls == c.tls => bytes.extend_from_slice(&c.data),
                _ => phases.push((c.tls, c.data.clone())),
            }
        }
        phases.into_iter().map(|(_, b)| with_header(b)).collect()
    }
}

/// Feeds `bytes` to a fresh reader in chunks of the given sizes (cycled), restarting the
/// stream after `<proceed/>` and `<success/>` as a client would, and summarizes the events.
/// The summary ends with `error: ...` if the reader refused the input.
pub fn drive(bytes: &[u8], sizes: &[usize], limits: Limits) -> Vec<String> {
    let mut reader = StreamReader::new(limits);
    let mut out = Vec::new();
    let mut pos = 0;
    let mut i = 0;
    while pos < bytes.len() {
        let n = sizes[i % sizes.len()].max(1).min(bytes.len() - pos);
        i += 1;
        reader.feed(&bytes[pos..pos + n]);
        pos += n;
        if let Err(e) = drain(&mut reader, &mut out) {
            out.push(format!("error: {e:?}"));
            return out;
        }
    }
    out
}

pub fn drain(reader: &mut StreamReader, out: &mut Vec<String>) -> Result<(), XmlError> {
    while let Some(ev) = reader.next_event()? {
        match ev {
            StreamEvent::Header(h) => out.push(format!("header {h:?}")),
            StreamEvent::Element(el) => {
                let restart = el.is("proceed", "urn:ietf:params:xml:ns:xmpp-tls")
                    || el.is("success", "urn:ietf:params:xml:ns:xmpp-sasl");
                let b = el.to_builder();
                let ser = b.to_bytes("").expect("received elements serialize");
                out.push(format!("element {}", String::from_utf8_lossy(&ser)));
                if restart {
                    reader.reset();
                }
            }
            StreamEvent::End => out.push("end".to_owned()),
        }
    }
    Ok(())
}

/// The per-phase transcripts start mid-stream; give them a header so the reader accepts them.
fn with_header(bytes: Vec<u8>) -> Vec<u8> {
    let t = String::from_utf8_lossy(&bytes);
    let t = t.trim_start();
    if t.starts_with("<?xml") || t.starts_with("<stream:stream") {
        return bytes;
    }
    let mut out = SYNTHETIC_HEADER.as_bytes().to_vec();
    out.extend_from_slice(&bytes);
    out
}

pub const SYNTHETIC_HEADER: &str = "<stream:stream xmlns='jabber:client' \
    xmlns:stream='http://etherx.jabber.org/streams' from='localhost' version='1.0'>";

/// One element as a server would send it on a `jabber:client` stream.
pub fn element(xml: &str) -> xmpp_sansio::xml::Element {
    let mut reader = StreamReader::new(Limits::default());
    reader.feed(
        b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
    );
    reader.feed(xml.as_bytes());
    let _header = reader.next_event().unwrap();
    let Some(StreamEvent::Element(el)) = reader.next_event().unwrap() else {
        panic!("no element in {xml}")
    };
    el
}
