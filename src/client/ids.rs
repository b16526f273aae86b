//! Stanza ids from a seeded generator, so that runs can be reproduced.

/// SplitMix64: tiny, fast, and good enough for ids that only need to be unique and not
/// trivially guessable by a third party.
#[derive(Debug, Clone)]
pub(crate) struct IdGenerator {
    state: u64,
}

impl IdGenerator {
    pub(crate) fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A fresh id: 16 hex digits.
    pub(crate) fn next_id(&mut self) -> String {
        format!("{:016x}", self.next_u64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_reproducible_and_distinct() {
        let mut a = IdGenerator::new(7);
        let mut b = IdGenerator::new(7);
        let ids: Vec<String> = (0..1000).map(|_| a.next_id()).collect();
        assert_eq!(ids[0], b.next_id());
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
        assert!(ids.iter().all(|id| id.len() == 16));
    }
}
