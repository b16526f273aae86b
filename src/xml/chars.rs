//! Character classes of XML 1.0 (fifth edition), as lookup tables for the hot loops.

/// Byte classes for scanning character data. `0` means "an ordinary byte, keep going".
pub(crate) const PLAIN: u8 = 0;
/// `<`: the end of a text run (or an error inside an attribute value).
pub(crate) const LT: u8 = 1;
/// `&`: a reference starts.
pub(crate) const AMP: u8 = 2;
/// `]`: may start the forbidden `]]>` in text.
pub(crate) const RSQB: u8 = 3;
/// `\r`, and in attribute values also `\t` and `\n`: the value differs from the raw bytes.
pub(crate) const NORMALIZE: u8 = 4;
/// A control character that XML does not allow anywhere.
pub(crate) const FORBIDDEN: u8 = 5;
/// `0xEF`: the lead byte of U+FFFE and U+FFFF, which XML does not allow.
pub(crate) const EF: u8 = 6;
/// A quote character (only stops attribute values).
pub(crate) const QUOTE: u8 = 7;

const fn text_table() -> [u8; 256] {
    let mut t = [PLAIN; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = FORBIDDEN;
        i += 1;
    }
    t[b'\t' as usize] = PLAIN;
    t[b'\n' as usize] = PLAIN;
    t[b'\r' as usize] = NORMALIZE;
    t[b'<' as usize] = LT;
    t[b'&' as usize] = AMP;
    t[b']' as usize] = RSQB;
    t[0xEF] = EF;
    t
}

const fn attr_table() -> [u8; 256] {
    let mut t = text_table();
    t[b']' as usize] = PLAIN;
    t[b'\t' as usize] = NORMALIZE;
    t[b'\n' as usize] = NORMALIZE;
    t[b'"' as usize] = QUOTE;
    t[b'\'' as usize] = QUOTE;
    t
}

const fn cdata_table() -> [u8; 256] {
    let mut t = text_table();
    t[b'<' as usize] = PLAIN;
    t[b'&' as usize] = PLAIN;
    t[b']' as usize] = PLAIN;
    t
}

/// The bytes from 0x20 up that `TEXT` and `CDATA` do not class `PLAIN`, for
/// `Cursor::skip_plain_run` (a test checks them against the tables).
pub(crate) const TEXT_SPECIALS: [u8; 4] = [b'<', b'&', b']', 0xEF];
pub(crate) const CDATA_SPECIALS: [u8; 1] = [0xEF];

/// Classes of bytes in character data (between tags).
pub(crate) static TEXT: [u8; 256] = text_table();
/// Classes of bytes in attribute values.
pub(crate) static ATTR: [u8; 256] = attr_table();
/// Classes of bytes inside a CDATA section.
pub(crate) static CDATA: [u8; 256] = cdata_table();

/// ASCII name characters: bit 0 = may start a name, bit 1 = may continue one.
/// Bytes >= 0x80 are handled by [`is_name_start_char`] / [`is_name_char`] on the decoded char.
const fn name_table() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut c = b'a';
    while c <= b'z' {
        t[c as usize] = 3;
        t[(c - 32) as usize] = 3;
        c += 1;
    }
    let mut d = b'0';
    while d <= b'9' {
        t[d as usize] = 2;
        d += 1;
    }
    t[b'_' as usize] = 3;
    t[b'-' as usize] = 2;
    t[b'.' as usize] = 2;
    t
}

pub(crate) static NAME: [u8; 256] = name_table();

/// `NameStartChar` of XML 1.0 fifth edition, without `:` (names are split at colons for
/// namespaces, so each part is an NCName).
pub(crate) fn is_name_start_char(c: char) -> bool {
    matches!(c,
        'A'..='Z' | '_' | 'a'..='z'
        | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}'
        | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}' | '\u{200C}'..='\u{200D}'
        | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}' | '\u{3001}'..='\u{D7FF}'
        | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}' | '\u{10000}'..='\u{EFFFF}')
}

/// `NameChar` of XML 1.0 fifth edition, without `:`.
pub(crate) fn is_name_char(c: char) -> bool {
    is_name_start_char(c)
        || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

/// `Char` of XML 1.0: what may appear in a document at all, literally or as a reference.
pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// XML white space.
#[inline]
pub(crate) fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Whether `s` is an NCName (a name without a colon).
pub(crate) fn is_ncname(s: &str) -> bool {
    // ASCII names (nearly all) through the parser's table: bit 1 start, bit 2 continue.
    if let [first, rest @ ..] = s.as_bytes() {
        if s.is_ascii() {
            return NAME[*first as usize] & 1 != 0
                && rest.iter().all(|&b| NAME[b as usize] & 2 != 0);
        }
    }
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if is_name_start_char(c) => chars.all(is_name_char),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_agree_with_the_char_predicates() {
        for b in 0u8..0x80 {
            let c = b as char;
            assert_eq!(NAME[b as usize] & 1 != 0, is_name_start_char(c), "{b:#x}");
            assert_eq!(NAME[b as usize] & 2 != 0, is_name_char(c), "{b:#x}");
            let forbidden = !is_xml_char(c);
            assert_eq!(TEXT[b as usize] == FORBIDDEN, forbidden, "{b:#x}");
        }
    }

    #[test]
    fn specials_name_every_byte_from_0x20_a_table_does_not_skip() {
        let tables: [(&[u8; 256], &[u8]); 2] = [(&TEXT, &TEXT_SPECIALS), (&CDATA, &CDATA_SPECIALS)];
        for (table, specials) in tables {
            for b in 0x20u8..=0xFF {
                assert_eq!(table[b as usize] != PLAIN, specials.contains(&b), "{b:#x}");
            }
        }
    }

    #[test]
    fn ncnames() {
        assert!(is_ncname("body"));
        assert!(is_ncname("x-y.z_1"));
        assert!(is_ncname("日本"));
        assert!(!is_ncname(""));
        assert!(!is_ncname("1a"));
        assert!(!is_ncname("a:b"));
        assert!(!is_ncname("-a"));
    }
}
