//! Lexing for the parser: a cursor over one element's bytes that reads names, references
//! and attribute values, and notes when it needed a byte past the end (so that an error
//! there may only mean the element has not fully arrived).
//!
//! The methods the parser calls per byte or per token are `#[inline]`: it calls them from
//! another module, and so, in a release build, possibly from another codegen unit.

use super::chars::{self, is_name_char, is_name_start_char, is_ws};
use super::element::ESCAPED;
use super::error::{XmlError, XmlErrorKind};
use super::escape::decode_reference;

type Result<T> = std::result::Result<T, XmlError>;

/// A position in the bytes of one element, with the lexing the parser builds on.
pub(super) struct Cursor<'s> {
    pub(super) s: &'s [u8],
    pub(super) pos: usize,
    pub(super) base: u64,
    /// Set when a decision needed a byte past the end of `s`: an error after that may only
    /// mean that the element has not fully arrived.
    pub(super) hit_end: std::cell::Cell<bool>,
}

impl Cursor<'_> {
    pub(super) fn err(&self, kind: XmlErrorKind) -> XmlError {
        XmlError::new(kind, self.base + self.pos as u64)
    }

    pub(super) fn malformed(&self, what: &'static str) -> XmlError {
        self.err(XmlErrorKind::Malformed(what))
    }

    #[inline]
    pub(super) fn peek(&self) -> Option<u8> {
        self.get(self.pos)
    }

    #[inline]
    pub(super) fn get(&self, i: usize) -> Option<u8> {
        let b = self.s.get(i).copied();
        if b.is_none() {
            self.hit_end.set(true);
        }
        b
    }

    #[inline]
    pub(super) fn skip_ws(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(is_ws) {
            self.pos += 1;
        }
        self.pos > start
    }

    #[inline]
    pub(super) fn expect(&mut self, b: u8, what: &'static str) -> Result<()> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.malformed(what))
        }
    }

    /// The char starting at `pos` (input is valid UTF-8), and its length.
    pub(super) fn char_at(&self, pos: usize) -> Option<(char, usize)> {
        let len = match self.get(pos)? {
            0..=0x7F => 1,
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            _ => 4,
        };
        let Some(bytes) = self.s.get(pos..pos + len) else {
            self.hit_end.set(true);
            return None;
        };
        let c = std::str::from_utf8(bytes).ok()?.chars().next()?;
        Some((c, len))
    }

    /// Reads a qualified name; returns `(start, local_start, end)`.
    #[inline]
    pub(super) fn qname(&mut self) -> Result<(u32, u32, u32)> {
        let start = self.pos;
        let mut local = start;
        self.name_part()?;
        if self.peek() == Some(b':') {
            self.pos += 1;
            local = self.pos;
            self.name_part()
                .map_err(|_| self.malformed("a qualified name must not end with ':'"))?;
        }
        if self.pos - start > usize::from(u16::MAX) {
            return Err(self.malformed("names are limited to 65535 bytes"));
        }
        Ok((start as u32, local as u32, self.pos as u32))
    }

    /// Reads an NCName (a name without colon).
    #[inline]
    pub(super) fn name_part(&mut self) -> Result<()> {
        let s = self.s;
        let mut i = self.pos;
        match self.get(i) {
            Some(b) if chars::NAME[b as usize] & 1 != 0 => i += 1,
            Some(b) if b >= 0x80 => match self.char_at(i) {
                Some((c, len)) if is_name_start_char(c) => i += len,
                _ => return Err(self.malformed("expected a name")),
            },
            _ => return Err(self.malformed("expected a name")),
        }
        loop {
            while i < s.len() && chars::NAME[s[i] as usize] & 2 != 0 {
                i += 1;
            }
            match self.get(i) {
                Some(b) if b >= 0x80 => match self.char_at(i) {
                    Some((c, len)) if is_name_char(c) => i += len,
                    _ => break,
                },
                _ => break,
            }
        }
        self.pos = i;
        Ok(())
    }

    /// Checks the reference starting at the `&` at `pos` and moves past its `;`.
    pub(super) fn reference(&mut self) -> Result<()> {
        let name_start = self.pos + 1;
        let window = &self.s[name_start.min(self.s.len())..(name_start + 64).min(self.s.len())];
        let Some(len) = memchr::memchr(b';', window) else {
            if name_start + 64 > self.s.len() {
                self.hit_end.set(true);
            }
            return Err(self.err(XmlErrorKind::MalformedReference));
        };
        let name = std::str::from_utf8(&window[..len]).unwrap_or_default();
        if decode_reference(name).is_none() {
            let kind = if let Some(num) = name.strip_prefix('#') {
                let code = match num.strip_prefix('x') {
                    Some(hex) => u32::from_str_radix(hex, 16),
                    None => num.parse::<u32>(),
                };
                match code {
                    Ok(code) if !num.starts_with('+') => XmlErrorKind::InvalidChar(code),
                    _ => XmlErrorKind::MalformedReference,
                }
            } else if chars::is_ncname(name) {
                XmlErrorKind::UndeclaredEntity(name.to_owned())
            } else {
                XmlErrorKind::MalformedReference
            };
            return Err(self.err(kind));
        }
        self.pos = name_start + len + 1;
        Ok(())
    }

    /// Checks a `0xEF` lead byte: U+FFFE and U+FFFF are not XML characters.
    pub(super) fn check_ef(&mut self) -> Result<()> {
        if self.pos + 3 > self.s.len() {
            self.hit_end.set(true);
        }
        if let Some([0xBF, b @ (0xBE | 0xBF)]) = self.s.get(self.pos + 1..self.pos + 3) {
            return Err(self.err(XmlErrorKind::InvalidChar(0xFFFE + u32::from(*b - 0xBE))));
        }
        self.pos += 1;
        Ok(())
    }

    /// Skips bytes of class `PLAIN` in `table`, one by one: the way for short runs
    /// (attribute values).
    #[inline(always)]
    pub(super) fn skip_plain(&mut self, table: &[u8; 256]) {
        let rest = &self.s[self.pos..];
        let n = rest
            .iter()
            .position(|&b| table[b as usize] != chars::PLAIN)
            .unwrap_or(rest.len());
        self.pos += n;
    }

    /// As [`Self::skip_plain`], eight bytes at a time where none needs a look: the way for
    /// character data, whose runs are longer (on the inbound corpus, 1.2% fewer
    /// instructions for the client; for attribute values it cost 3% more). `specials` must
    /// name every byte from 0x20 up that `table` does not class `PLAIN`; bytes below 0x20
    /// are all looked at.
    #[inline(always)]
    pub(super) fn skip_plain_run<const N: usize>(&mut self, table: &[u8; 256], specials: [u8; N]) {
        let s = self.s;
        let mut i = self.pos;
        loop {
            while let Some(word) = s.get(i..i + 8) {
                if !swar::plain(word, specials) {
                    break;
                }
                i += 8;
            }
            // The word with a byte to look at (or the tail), byte by byte.
            let end = (i + 8).min(s.len());
            let bytes = s.get(i..end).unwrap_or_default();
            match bytes
                .iter()
                .position(|&b| table[b as usize] != chars::PLAIN)
            {
                Some(n) => {
                    self.pos = i + n;
                    return;
                }
                None if end == s.len() => {
                    self.pos = end;
                    return;
                }
                None => i = end,
            }
        }
    }

    /// Scans an attribute value after its opening quote; returns `(start, end, flags)` and
    /// leaves the cursor after the closing quote.
    #[inline]
    pub(super) fn attr_value(&mut self, quote: u8) -> Result<(u32, u32, u8)> {
        let start = self.pos;
        let mut flags = 0;
        loop {
            self.skip_plain(&chars::ATTR);
            let Some(b) = self.peek() else {
                return Err(self.malformed("unterminated attribute value"));
            };
            match chars::ATTR[b as usize] {
                chars::QUOTE if b == quote => {
                    let end = self.pos;
                    self.pos += 1;
                    return Ok((start as u32, end as u32, flags));
                }
                chars::QUOTE => self.pos += 1,
                chars::AMP => {
                    self.reference()?;
                    flags = ESCAPED;
                }
                chars::NORMALIZE => {
                    self.pos += 1;
                    flags = ESCAPED;
                }
                chars::LT => return Err(self.malformed("'<' is not allowed in attribute values")),
                chars::EF => self.check_ef()?,
                _ => return Err(self.err(XmlErrorKind::InvalidChar(b.into()))),
            }
        }
    }
}

/// Eight bytes at a time (SWAR): whether a word certainly holds only plain bytes.
mod swar {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;

    /// No byte below 0x20 and none of `specials` in `word` (eight bytes).
    #[inline(always)]
    pub(super) fn plain<const N: usize>(word: &[u8], specials: [u8; N]) -> bool {
        let Ok(bytes) = <[u8; 8]>::try_from(word) else {
            return false;
        };
        let x = u64::from_le_bytes(bytes);
        // Any byte below 0x20 (exact for the word as a whole).
        let mut found = x.wrapping_sub(ONES * 0x20) & !x & HIGHS;
        for b in specials {
            // Any byte equal to `b`: a zero byte in `x ^ b…b`.
            let v = x ^ (ONES * u64::from(b));
            found |= v.wrapping_sub(ONES) & !v & HIGHS;
        }
        found == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte-by-byte definition `skip_plain_run` must agree with.
    fn skipped(s: &[u8], from: usize, table: &[u8; 256]) -> usize {
        from + s[from..]
            .iter()
            .take_while(|&&b| table[b as usize] == chars::PLAIN)
            .count()
    }

    fn check<const N: usize>(table: &[u8; 256], specials: [u8; N]) {
        // Every byte value at every position of runs of ASCII and of non-ASCII text, from
        // every start: each word boundary and the tail are crossed.
        for filler in ["abcdefgh".repeat(3), "éàü日本語".repeat(2)] {
            let base = filler.as_bytes();
            for b in 0..=255u8 {
                for at in 0..base.len() {
                    let mut s = base.to_vec();
                    s[at] = b;
                    for from in 0..s.len() {
                        let mut cur = Cursor {
                            s: &s,
                            pos: from,
                            base: 0,
                            hit_end: Default::default(),
                        };
                        cur.skip_plain_run(table, specials);
                        let expected = skipped(&s, from, table);
                        assert_eq!(cur.pos, expected, "{b:#x} at {at} from {from}");
                    }
                }
            }
        }
    }

    #[test]
    fn skipping_eight_bytes_at_a_time_stops_where_bytewise_skipping_does() {
        check(&chars::TEXT, chars::TEXT_SPECIALS);
        check(&chars::CDATA, chars::CDATA_SPECIALS);
    }
}
