//! Escaping for output and lazy unescaping of validated input.

use std::borrow::Cow;

use super::chars::is_xml_char;

/// Decodes the reference whose name (the text between `&` and `;`) is `name`.
/// Returns `None` for anything but the five predefined entities and valid character references.
pub(crate) fn decode_reference(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let (digits, radix) = match num.strip_prefix('x') {
            Some(hex) => (hex, 16),
            None => (num, 10),
        };
        if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let code = u32::from_str_radix(digits, radix).ok()?;
        return char::from_u32(code).filter(|&c| is_xml_char(c));
    }
    quick_xml::escape::resolve_predefined_entity(name).and_then(|s| s.chars().next())
}

/// The value of character data: references resolved, line ends normalized (XML 1.0 §2.11).
/// Borrows when `raw` needs neither.
pub(crate) fn unescape_text(raw: &str) -> Cow<'_, str> {
    unescape(raw, false)
}

/// The value of an attribute: as [`unescape_text`], and literal white space becomes a space
/// (XML 1.0 §3.3.3 for CDATA-typed attributes).
pub(crate) fn unescape_attr(raw: &str) -> Cow<'_, str> {
    unescape(raw, true)
}

fn unescape(raw: &str, attr: bool) -> Cow<'_, str> {
    let special = |b: u8| b == b'&' || b == b'\r' || (attr && (b == b'\n' || b == b'\t'));
    let Some(first) = raw.bytes().position(special) else {
        return Cow::Borrowed(raw);
    };
    let mut out = String::with_capacity(raw.len());
    out.push_str(&raw[..first]);
    let mut rest = &raw[first..];
    while let Some(i) = rest.bytes().position(special) {
        out.push_str(&rest[..i]);
        let b = rest.as_bytes()[i];
        rest = &rest[i + 1..];
        match b {
            b'&' => {
                // Input was validated by the parser; if it somehow is not a reference, keep it.
                match rest
                    .find(';')
                    .and_then(|end| Some((end, decode_reference(&rest[..end])?)))
                {
                    Some((end, c)) => {
                        out.push(c);
                        rest = &rest[end + 1..];
                    }
                    None => out.push('&'),
                }
            }
            b'\r' => {
                if rest.as_bytes().first() == Some(&b'\n') {
                    rest = &rest[1..];
                }
                out.push(if attr { ' ' } else { '\n' });
            }
            _ => out.push(' '),
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// A string that cannot be written as XML: it contains a character XML 1.0 does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("character U+{0:04X} cannot be represented in XML")]
pub struct UnrepresentableChar(pub u32);

/// Appends `s` escaped as character data.
pub(crate) fn escape_text(out: &mut Vec<u8>, s: &str) -> Result<(), UnrepresentableChar> {
    escape_into(out, s, false)
}

/// Appends `s` escaped as an attribute value delimited by `'`.
pub(crate) fn escape_attr(out: &mut Vec<u8>, s: &str) -> Result<(), UnrepresentableChar> {
    escape_into(out, s, true)
}

/// Bytes that need a look in text (1) and in attribute values (1 | 2): markup, quotes,
/// control characters and the lead byte of U+FFFE/U+FFFF. Everything else is copied as is.
static SPECIAL: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = 1;
        b += 1;
    }
    t[b'\n' as usize] = 2;
    t[b'\t' as usize] = 2;
    t[b'<' as usize] = 1;
    t[b'>' as usize] = 1;
    t[b'&' as usize] = 1;
    t[0xEF] = 1;
    t[b'\'' as usize] = 2;
    t[b'"' as usize] = 2;
    t
};

fn escape_into(out: &mut Vec<u8>, s: &str, attr: bool) -> Result<(), UnrepresentableChar> {
    let bytes = s.as_bytes();
    let mask = if attr { 3 } else { 1 };
    out.reserve(bytes.len());
    let mut last = 0;
    let mut i = 0;
    while let Some(skip) = bytes[i..]
        .iter()
        .position(|&b| SPECIAL[b as usize] & mask != 0)
    {
        i += skip;
        let b = bytes[i];
        let rep: &[u8] = match b {
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'&' => b"&amp;",
            b'\'' if attr => b"&apos;",
            b'"' if attr => b"&quot;",
            // Escaped so that line-end and attribute normalization give back the same value.
            b'\r' => b"&#xD;",
            b'\n' if attr => b"&#xA;",
            b'\t' if attr => b"&#x9;",
            0..=0x1F if b != b'\n' && b != b'\t' => return Err(UnrepresentableChar(b.into())),
            0xEF if matches!(bytes.get(i + 1..i + 3), Some([0xBF, 0xBE | 0xBF])) => {
                let c = s[i..].chars().next().map_or(0, u32::from);
                return Err(UnrepresentableChar(c));
            }
            _ => {
                i += 1;
                continue;
            }
        };
        out.extend_from_slice(&bytes[last..i]);
        out.extend_from_slice(rep);
        i += 1;
        last = i;
    }
    out.extend_from_slice(&bytes[last..]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_decode() {
        assert_eq!(decode_reference("amp"), Some('&'));
        assert_eq!(decode_reference("apos"), Some('\''));
        assert_eq!(decode_reference("#233"), Some('é'));
        assert_eq!(decode_reference("#x1F600"), Some('😀'));
        assert_eq!(decode_reference("#0"), None);
        assert_eq!(decode_reference("#xD800"), None);
        assert_eq!(decode_reference("#x110000"), None);
        assert_eq!(decode_reference("#xFFFE"), None);
        assert_eq!(decode_reference("#"), None);
        assert_eq!(decode_reference("#x"), None);
        assert_eq!(decode_reference("#+12"), None);
        assert_eq!(decode_reference("nbsp"), None);
    }

    #[test]
    fn unescaping_borrows_when_it_can() {
        assert!(matches!(unescape_text("plain text"), Cow::Borrowed(_)));
        assert!(matches!(unescape_attr("a\u{e9}b"), Cow::Borrowed(_)));
        assert_eq!(unescape_text("a &lt;b&gt; &amp;&#x41;"), "a <b> &A");
        assert_eq!(unescape_text("x\r\ny\rz"), "x\ny\nz");
        assert_eq!(unescape_attr("x\r\ny\tz\n"), "x y z ");
        assert_eq!(unescape_attr("&#xA;&#x9;"), "\n\t");
    }

    #[test]
    fn escaping_round_trips() {
        let s = "<a href='x'>\"&\r\n\t]]> é😀";
        let mut out = Vec::new();
        escape_text(&mut out, s).unwrap();
        assert_eq!(unescape_text(std::str::from_utf8(&out).unwrap()), s);
        out.clear();
        escape_attr(&mut out, s).unwrap();
        assert!(!out.contains(&b'\''));
        assert_eq!(unescape_attr(std::str::from_utf8(&out).unwrap()), s);
        assert_eq!(escape_text(&mut out, "a\u{1}"), Err(UnrepresentableChar(1)));
        assert_eq!(
            escape_text(&mut out, "\u{FFFF}"),
            Err(UnrepresentableChar(0xFFFF))
        );
    }
}
