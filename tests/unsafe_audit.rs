//! The crate denies `unsafe` everywhere but one audited block (`xml::parser::utf8`, the
//! unchecked conversion right after a UTF-8 check): `deny` can be overridden where `forbid`
//! could not, so this test keeps any other `unsafe` from slipping in unreviewed.

use std::fs;
use std::path::Path;

fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push((
                path.display().to_string(),
                fs::read_to_string(&path).unwrap(),
            ));
        }
    }
}

#[test]
fn the_only_unsafe_is_the_audited_utf8_conversion() {
    let mut files = Vec::new();
    // Ordered, so that the expected lines come in order.
    sources(
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")),
        &mut files,
    );
    files.sort();
    let mut found = Vec::new();
    for (path, text) in &files {
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains("unsafe") && code.trim() != "#![deny(unsafe_code)]" {
                found.push(format!("{path}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    let expected = [
        "#[allow(unsafe_code)]",
        "Ok(unsafe { ByteString::from_bytes_unchecked(bytes) })",
    ];
    assert_eq!(found.len(), expected.len(), "{found:#?}");
    for (line, want) in found.iter().zip(expected) {
        assert!(
            line.contains("src/xml/parser.rs") && line.ends_with(want),
            "{line}"
        );
    }
    let lib = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/lib.rs")).unwrap();
    assert!(lib.contains("#![deny(unsafe_code)]"));
}
