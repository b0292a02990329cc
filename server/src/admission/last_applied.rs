//! The last-applied configuration, skipped fast.
//!
//! An object applied with `kubectl apply` carries a copy of itself in the
//! annotation `kubectl.kubernetes.io/last-applied-configuration`: a JSON
//! document inside a JSON string, a backslash every eight bytes or so, often
//! half of a review's bytes (twice over in an UPDATE's `oldObject`). No check
//! reads it, but serde_json skips a string escape by escape, which made
//! skipping it a fifth of the cost of reading a typical review.
//!
//! [`mark`] finds each such value in the body and replaces it with a marker
//! (`"\u0000"`), finding the value's end 64 bytes at a time (the escaped
//! characters of a block from its backslashes with a few integer operations,
//! as simdjson does). The value must be a string serde_json would have
//! accepted (no control character, only valid escapes), or nothing is
//! replaced. The object reader skips the annotation in `metadata` and counts
//! the markers it skipped there ([`super::object::Object::marks`]); only
//! when every marker was one of those is the marked body's reading used
//! (`Webhook::decide`): a marker anywhere else (the same key in a template's
//! annotations, or in labels) and the original body is read instead. The
//! marker is never used on a body that already contains `\u0000` outside
//! the values replaced (inside them it is replaced with the rest).

use std::sync::LazyLock;

use memchr::memmem;

macro_rules! annotation {
    () => {
        "kubectl.kubernetes.io/last-applied-configuration"
    };
}

/// The annotation's key.
pub const ANNOTATION: &str = annotation!();
/// The key and the opening quote of its value, as the API server writes them
/// (compact JSON).
const KEY: &[u8] = concat!("\"", annotation!(), "\":\"").as_bytes();
/// What replaces a value (between its quotes): the string "\0", which no
/// annotation written by kubectl holds.
const MARKER: &[u8] = b"\\u0000";
/// The marker as the object reader sees it.
pub const MARKED: &str = "\u{0}";

static KEY_FINDER: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(KEY));
static MARKER_FINDER: LazyLock<memmem::Finder<'static>> =
    LazyLock::new(|| memmem::Finder::new(MARKER));

/// `body` with the value of every last-applied configuration replaced by
/// the marker, and how many were; `None` when there is none, when any
/// cannot be replaced exactly, or when the marker is already in what is kept
/// (then the body is read as it is). The body is searched once: the parts
/// kept for the key and the marker, each value for its end only.
pub fn mark(body: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut at = KEY_FINDER.find(body)?;
    let mut out = Vec::with_capacity(body.len());
    let mut from = 0;
    let mut n = 0;
    loop {
        // A key starts an object's member: after `{` or `,`.
        if at == 0 || !matches!(body[at - 1], b'{' | b',') {
            return None;
        }
        let value = at + KEY.len();
        let end = value + string_end(&body[value..])?;
        // The marker must be only where it is put: the parts kept are
        // searched for it (a replaced value may hold it: it is gone).
        let kept = &body[from..value];
        if MARKER_FINDER.find(kept).is_some() {
            return None;
        }
        out.extend_from_slice(kept);
        out.extend_from_slice(MARKER);
        from = end;
        n += 1;
        // The next key is searched for after the value (inside it, its
        // quotes are escaped: it cannot be there).
        match KEY_FINDER.find(&body[end..]) {
            Some(next) => at = end + next,
            None => break,
        }
    }
    let rest = &body[from..];
    if MARKER_FINDER.find(rest).is_some() {
        return None;
    }
    out.extend_from_slice(rest);
    Some((out, n))
}

/// Bits of the even positions.
const EVEN: u64 = 0x5555_5555_5555_5555;

/// The characters of a 64-byte block escaped by a backslash (bit `i` for
/// byte `i`), from its backslashes. `carry` says whether the block's first
/// byte is escaped by the previous block's last backslash, and becomes
/// whether the next block's is. A run of backslashes escapes every other
/// one, starting from its first: the run's parity is read off an addition's
/// carries (simdjson's `find_escaped_branchless`).
fn escaped(backslash: u64, carry: &mut u64) -> u64 {
    let backslash = backslash & !*carry;
    let follows_escape = (backslash << 1) | *carry;
    let odd_sequence_starts = backslash & !EVEN & !follows_escape;
    let (sequences_starting_on_even_bits, overflow) =
        odd_sequence_starts.overflowing_add(backslash);
    *carry = u64::from(overflow);
    let invert_mask = sequences_starting_on_even_bits << 1;
    (EVEN ^ invert_mask) & follows_escape
}

// Word-at-a-time byte tests (the fallback of `classify`).
#[cfg(any(not(target_arch = "x86_64"), test))]
const ONES: u64 = 0x0101_0101_0101_0101;
#[cfg(any(not(target_arch = "x86_64"), test))]
const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
#[cfg(any(not(target_arch = "x86_64"), test))]
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `w` that is 0 (exact: no carries between
/// bytes).
#[cfg(any(not(target_arch = "x86_64"), test))]
fn zero_bytes(w: u64) -> u64 {
    !(((w & LOW7) + LOW7) | w | LOW7)
}

/// The high bit of each byte of `w` below 0x20.
#[cfg(any(not(target_arch = "x86_64"), test))]
fn control_bytes(w: u64) -> u64 {
    // (b & 0x7f) + 0x60 reaches the high bit from 0x20 up, without a carry
    // out of the byte; a byte with its own high bit set is not below 0x20.
    !(((w & LOW7) + 0x60 * ONES) | w) & HIGH
}

/// The high bits of a word's bytes gathered into its low 8 bits (byte `i`
/// to bit `i`).
#[cfg(any(not(target_arch = "x86_64"), test))]
fn gather(high: u64) -> u64 {
    ((high >> 7) & ONES).wrapping_mul(0x0102_0408_1020_4080) >> 56
}

/// The characters that may follow a backslash (`"` and `\\` first, `u` last:
/// `classify` relies on the order).
const ESCAPABLE: &[u8; 9] = b"\"\\/bfnrtu";

/// What [`string_end`] needs to know of a block's bytes, a bit per byte.
#[derive(Debug, Default, PartialEq, Eq)]
struct Classes {
    backslash: u64,
    quote: u64,
    /// Below 0x20.
    control: u64,
    /// One of [`ESCAPABLE`].
    escapable: u64,
    /// `u` (an escape `\u` must be followed by four hex digits).
    u: u64,
}

/// [`Classes`] of a block, sixteen bytes at a time (SSE2, which every x86-64
/// processor has).
#[cfg(target_arch = "x86_64")]
fn classify(block: &[u8; 64]) -> Classes {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    // SAFETY: SSE2 is part of x86-64 (every target of this architecture
    // enables it), which is all these intrinsics need; each load reads the
    // 16 bytes from 16 * i (at most 48) of the 64-byte array, unaligned.
    unsafe {
        let splat = |b: u8| _mm_set1_epi8(b as i8);
        let bits = |m: __m128i, i: usize| u64::from(_mm_movemask_epi8(m) as u16) << (16 * i);
        let mut out = Classes::default();
        for i in 0..4 {
            let x = _mm_loadu_si128(block.as_ptr().add(16 * i).cast::<__m128i>());
            let backslash = _mm_cmpeq_epi8(x, splat(b'\\'));
            let quote = _mm_cmpeq_epi8(x, splat(b'"'));
            let u = _mm_cmpeq_epi8(x, splat(b'u'));
            out.backslash |= bits(backslash, i);
            out.quote |= bits(quote, i);
            out.u |= bits(u, i);
            // Unsigned: min(b, 0x1f) == b exactly when b < 0x20.
            out.control |= bits(_mm_cmpeq_epi8(_mm_min_epu8(x, splat(0x1f)), x), i);
            // ESCAPABLE: the three above and the six between.
            let mut escapable = _mm_or_si128(_mm_or_si128(backslash, quote), u);
            for &c in &ESCAPABLE[2..8] {
                escapable = _mm_or_si128(escapable, _mm_cmpeq_epi8(x, splat(c)));
            }
            out.escapable |= bits(escapable, i);
        }
        out
    }
}

/// [`classify`] eight bytes at a time in plain integers, for the other
/// architectures (and to check the SSE2 one against).
#[cfg(not(target_arch = "x86_64"))]
fn classify(block: &[u8; 64]) -> Classes {
    classify_swar(block)
}

#[cfg(any(not(target_arch = "x86_64"), test))]
fn classify_swar(block: &[u8; 64]) -> Classes {
    let mut out = Classes::default();
    for (i, chunk) in block.chunks_exact(8).enumerate() {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(chunk);
        let w = u64::from_le_bytes(bytes);
        let equal = |c: u8| zero_bytes(w ^ (u64::from(c) * ONES));
        let at = |high: u64| gather(high) << (8 * i);
        out.backslash |= at(equal(b'\\'));
        out.quote |= at(equal(b'"'));
        out.control |= at(control_bytes(w));
        out.escapable |= at(ESCAPABLE.iter().fold(0, |m, &c| m | equal(c)));
        out.u |= at(equal(b'u'));
    }
    out
}

/// The index of the quote that closes the JSON string `s` starts (just after
/// its opening quote), when serde_json would accept the string: no control
/// character, every escape one of `\" \\ \/ \b \f \n \r \t \uXXXX`.
fn string_end(s: &[u8]) -> Option<usize> {
    scan(s, classify)
}

/// [`string_end`]'s loop, a block of 64 bytes at a time, classified by
/// `classify`.
#[inline(always)]
fn scan(s: &[u8], classify: impl Fn(&[u8; 64]) -> Classes) -> Option<usize> {
    let mut carry = 0u64;
    let mut base = 0;
    while base < s.len() {
        let c = match s[base..].first_chunk::<64>() {
            Some(block) => classify(block),
            None => {
                // The last block padded with spaces (nothing a string ends
                // on).
                let mut block = [b' '; 64];
                block[..s.len() - base].copy_from_slice(&s[base..]);
                classify(&block)
            }
        };
        let esc = escaped(c.backslash, &mut carry);
        let closing = c.quote & !esc;
        // Up to the closing quote, or the whole block.
        let within = if closing == 0 {
            u64::MAX
        } else {
            (1u64 << closing.trailing_zeros()) - 1
        };
        let esc = esc & within;
        if c.control & within != 0 || esc & !c.escapable != 0 || !hex_follows(s, base, esc & c.u) {
            return None;
        }
        if closing != 0 {
            return Some(base + closing.trailing_zeros() as usize);
        }
        base += 64;
    }
    None
}

/// Whether four hex digits follow each escaped `u` (bits of `u`, from
/// `base`).
fn hex_follows(s: &[u8], base: usize, mut u: u64) -> bool {
    while u != 0 {
        let i = base + u.trailing_zeros() as usize;
        u &= u - 1;
        if !s
            .get(i + 1..i + 5)
            .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
        {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The string's end as serde_json finds it, byte by byte.
    fn reference(s: &[u8]) -> Option<usize> {
        let mut i = 0;
        while i < s.len() {
            match s[i] {
                b'"' => return Some(i),
                b'\\' => match s.get(i + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                    b'u' => {
                        let hex = s.get(i + 2..i + 6)?;
                        if !hex.iter().all(u8::is_ascii_hexdigit) {
                            return None;
                        }
                        i += 6;
                    }
                    _ => return None,
                },
                b if b < 0x20 => return None,
                _ => i += 1,
            }
        }
        None
    }

    /// xorshift: the same strings on every run.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn the_end_of_a_string_is_found_as_serde_json_finds_it() {
        // Strings made of pieces: mostly valid escapes and text, now and
        // then a piece that ends the string or makes it invalid, so that
        // strings end anywhere across block boundaries.
        let common: [&[u8]; 9] = [
            b"a",
            b"\\\\",
            b"\\\"",
            b"\\n",
            b"\\u00e9",
            "é".as_bytes(),
            b"{\\\"k\\\":",
            b"\\/",
            b"0",
        ];
        let rare: [&[u8]; 6] = [b"\"", b"\\", b"\x01", b"\\u12", b"\\q", b"\\u00g0"];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut ends = 0;
        for _ in 0..100_000 {
            let pieces = rng.next() % 120;
            let mut s = Vec::new();
            for _ in 0..pieces {
                if rng.next().is_multiple_of(40) {
                    s.extend_from_slice(rare[(rng.next() % rare.len() as u64) as usize]);
                } else {
                    s.extend_from_slice(common[(rng.next() % common.len() as u64) as usize]);
                }
            }
            if rng.next().is_multiple_of(2) {
                s.push(b'"');
            }
            let want = reference(&s);
            ends += usize::from(want.is_some_and(|e| e >= 64));
            assert_eq!(string_end(&s), want, "{:?}", String::from_utf8_lossy(&s));
            // serde_json agrees on what is a string.
            let mut quoted = vec![b'"'];
            quoted.extend_from_slice(&s);
            let parsed = serde_json::from_slice::<serde::de::IgnoredAny>(&quoted);
            assert_eq!(
                parsed.is_ok(),
                want.is_some_and(|e| e + 1 == s.len()),
                "{:?}",
                String::from_utf8_lossy(&s)
            );
        }
        // The strings did end past the first block, often.
        assert!(ends > 1000, "{ends}");
    }

    #[test]
    fn a_block_is_classified_byte_by_byte() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for _ in 0..20_000 {
            let mut block = [0u8; 64];
            for b in &mut block {
                // Every byte value, the interesting ones often.
                *b = match rng.next() % 5 {
                    0 => b'\\',
                    1 => b'"',
                    2 => ESCAPABLE[(rng.next() % 9) as usize],
                    _ => (rng.next() % 256) as u8,
                };
            }
            let mut want = Classes::default();
            for (i, &b) in block.iter().enumerate() {
                want.backslash |= u64::from(b == b'\\') << i;
                want.quote |= u64::from(b == b'"') << i;
                want.control |= u64::from(b < 0x20) << i;
                want.escapable |= u64::from(ESCAPABLE.contains(&b)) << i;
                want.u |= u64::from(b == b'u') << i;
            }
            assert_eq!(classify(&block), want, "{block:?}");
            assert_eq!(classify_swar(&block), want, "{block:?}");
        }
    }

    #[test]
    fn runs_of_backslashes_escape_every_other_character_across_blocks() {
        for run in 0..140 {
            for start in 0..70 {
                let mut s = vec![b'a'; start];
                s.extend(std::iter::repeat_n(b'\\', run));
                s.extend_from_slice(b"\"rest\"");
                let want = start + run + if run % 2 == 0 { 0 } else { 5 };
                assert_eq!(string_end(&s), Some(want), "run {run} at {start}");
            }
        }
    }

    #[test]
    fn every_value_is_marked_and_the_rest_kept() {
        let body = br#"{"a":{"kubectl.kubernetes.io/last-applied-configuration":"{\"x\":\"\\\\\"}","b":"c"},"d":[{"kubectl.kubernetes.io/last-applied-configuration":""}]}"#;
        let (out, n) = mark(body).expect("marked");
        assert_eq!(n, 2);
        assert_eq!(
            std::str::from_utf8(&out).expect("utf-8"),
            r#"{"a":{"kubectl.kubernetes.io/last-applied-configuration":"\u0000","b":"c"},"d":[{"kubectl.kubernetes.io/last-applied-configuration":"\u0000"}]}"#
        );
        let v: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
        assert_eq!(
            v["a"]["kubectl.kubernetes.io/last-applied-configuration"],
            MARKED
        );
    }

    #[test]
    fn nothing_is_marked_when_it_could_change_the_reading() {
        let key = "kubectl.kubernetes.io/last-applied-configuration";
        for body in [
            // None there.
            r#"{"a":"b"}"#.to_owned(),
            // A value serde_json would refuse: a control character, a bad
            // escape, a short \u, no closing quote.
            format!("{{\"{key}\":\"a\u{1}b\"}}"),
            format!(r#"{{"{key}":"a\qb"}}"#),
            format!(r#"{{"{key}":"a\u12"}}"#),
            format!(r#"{{"{key}":"abc"#),
            // The marker already in the body.
            format!(r#"{{"{key}":"x","y":"\u0000"}}"#),
            // Not a member's key.
            format!(r#"["{key}":"x"]"#),
        ] {
            assert!(mark(body.as_bytes()).is_none(), "{body}");
        }
    }
}
