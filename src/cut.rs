//! Cutting long text to a bound: names that must fit a field (option 61,
//! a file name) keep their readable start and end in `~` and a hash of
//! the whole, so that distinct texts stay distinct.
//!
//! The hash is SHA-256 (the `sha2` crate, RustCrypto's), 128 bits of it:
//! the texts come from people and from the Docker engine, and an attacker
//! who could make two texts cut to the same id would give two containers
//! one address, or let one record overwrite another. A non-cryptographic
//! hash (FNV-1a, which older dhcpnet used) lets anyone compute such a pair
//! in moments; finding a collision of 128 bits of SHA-256 takes about 2^64
//! hashes. It is also fixed by a standard, so a cut id stays the same
//! across versions and hosts, as ids must.
//!
//! FNV-1a is kept only to recognise what older dhcpnet cut (`legacy_tail`):
//! records and leases granted under those ids keep working.

use sha2::{Digest, Sha256};

/// How many bytes `tail` adds: `~` and 32 hex digits.
pub const TAIL_LEN: usize = 33;

/// `~` and 128 bits of SHA-256 of `bytes`, in hex.
pub fn tail(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    let mut s = String::with_capacity(TAIL_LEN);
    s.push('~');
    for b in &d[..16] {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// The tail older dhcpnet gave a cut text: `~` and FNV-1a (64 bits) in hex.
pub fn legacy_tail(bytes: &[u8]) -> String {
    format!("~{:016x}", fnv1a(bytes))
}

/// FNV-1a, 64 bits.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// `text` if it is at most `max` bytes, else its first bytes and `tail`
/// of the whole, `max` bytes in all. `text` must be ASCII where it is cut
/// (the callers' texts are).
pub fn cut(text: &[u8], max: usize, tail: fn(&[u8]) -> String) -> Vec<u8> {
    if text.len() <= max {
        return text.to_vec();
    }
    let t = tail(text);
    let mut out = text[..max.saturating_sub(t.len())].to_vec();
    out.extend_from_slice(t.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_do_not_change() {
        // The published FNV-1a 64 test vectors (older dhcpnet's cuts).
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
        // SHA-256("abc") begins ba7816bf 8f01cfea 414140de 5dae2223.
        assert_eq!(tail(b"abc"), "~ba7816bf8f01cfea414140de5dae2223");
        assert_eq!(tail(b"abc").len(), TAIL_LEN);
    }

    #[test]
    fn a_cut_keeps_the_start_and_fits_and_short_texts_are_left_alone() {
        assert_eq!(cut(b"short", 10, tail), b"short");
        let long = "x".repeat(300);
        let c = cut(long.as_bytes(), 255, tail);
        assert_eq!(c.len(), 255);
        assert!(c.starts_with(&[b'x'; 200]));
        assert_ne!(c, cut(format!("{long}y").as_bytes(), 255, tail));
        let old = cut(long.as_bytes(), 254, legacy_tail);
        assert_eq!(old.len(), 254);
        assert!(old.ends_with(legacy_tail(long.as_bytes()).as_bytes()));
    }
}
