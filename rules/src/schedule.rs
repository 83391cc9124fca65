//! When a group evaluates: Prometheus's slotted schedule.
//!
//! A group with interval `I` evaluates at wall-clock times `k*I + offset` (nanoseconds since
//! the epoch), where `offset = hash(group) mod I`. The hash is xxh64 over the label set
//! `{file="<path>", name="<group>"}`, so groups spread over the interval deterministically and
//! keep their slots across restarts. The first evaluation is at the first slot after the
//! group starts; a group slower than its interval skips the slots it overran (counted as
//! missed) and evaluates next at the latest slot that has passed, never catching up.
//!
//! Prometheus 3 hashes its `stringlabels` encoding of the set (each string prefixed by its
//! length); Prometheus 2.x hashed `name 0xff value 0xff` pairs. [`Alignment`] picks one, so
//! that Strata can evaluate at the same instants as either (the default is 3's).

use xxhash_rust::xxh64::xxh64;

/// Which Prometheus's slot offsets to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Alignment {
    /// Prometheus 3 (`stringlabels` hashing): the default.
    #[default]
    Prometheus3,
    /// Prometheus 2.x (separator hashing), e.g. to run side by side with a 2.x server.
    Prometheus2,
}

impl Alignment {
    /// Parses `prometheus3` or `prometheus2`.
    pub fn parse(s: &str) -> Option<Alignment> {
        match s {
            "prometheus3" => Some(Alignment::Prometheus3),
            "prometheus2" => Some(Alignment::Prometheus2),
            _ => None,
        }
    }
}

/// Appends a string in Prometheus 3's `stringlabels` encoding: a one-byte length below 255,
/// else 255 and three little-endian length bytes, then the bytes.
fn push_sized(buf: &mut Vec<u8>, s: &str) {
    let n = s.len();
    if n < 255 {
        buf.push(n as u8);
    } else {
        buf.extend_from_slice(&[255, n as u8, (n >> 8) as u8, (n >> 16) as u8]);
    }
    buf.extend_from_slice(s.as_bytes());
}

/// The hash Prometheus derives a group's slot offset from.
pub fn group_hash(file: &str, name: &str, alignment: Alignment) -> u64 {
    // Labels sorted by name: "file" < "name".
    let pairs = [("file", file), ("name", name)];
    let mut buf = Vec::with_capacity(file.len() + name.len() + 16);
    for (n, v) in pairs {
        match alignment {
            Alignment::Prometheus3 => {
                push_sized(&mut buf, n);
                push_sized(&mut buf, v);
            }
            Alignment::Prometheus2 => {
                buf.extend_from_slice(n.as_bytes());
                buf.push(0xff);
                buf.extend_from_slice(v.as_bytes());
                buf.push(0xff);
            }
        }
    }
    xxh64(&buf, 0)
}

/// A group's place in time: interval and offset, in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slots {
    /// The interval, ns (> 0).
    pub interval_ns: i64,
    /// The offset within the interval, ns (`0 <= offset < interval`).
    pub offset_ns: i64,
}

impl Slots {
    /// The slots of a group.
    pub fn new(file: &str, name: &str, interval_ms: i64, alignment: Alignment) -> Slots {
        let interval_ns = interval_ms.max(1).saturating_mul(1_000_000);
        let offset_ns = (group_hash(file, name, alignment) % interval_ns as u64) as i64;
        Slots {
            interval_ns,
            offset_ns,
        }
    }

    /// The latest slot at or before `now_ns`.
    pub fn at_or_before(&self, now_ns: i64) -> i64 {
        let adj = now_ns - self.offset_ns;
        adj - adj.rem_euclid(self.interval_ns) + self.offset_ns
    }

    /// The first slot strictly after `now_ns`... as Prometheus computes its first evaluation
    /// (the slot at or before now, plus one interval).
    pub fn first_after(&self, now_ns: i64) -> i64 {
        self.at_or_before(now_ns) + self.interval_ns
    }

    /// After evaluating slot `last_ns`, when the clock reads `now_ns`: the number of slots
    /// missed and the slot to evaluate next. If the next slot is still ahead, nothing was
    /// missed and it is `last + interval`; otherwise every whole interval overrun beyond the
    /// first is missed and the next evaluation is the latest slot that has passed.
    pub fn next(&self, last_ns: i64, now_ns: i64) -> (u64, i64) {
        let elapsed = now_ns - last_ns;
        let missed = (elapsed / self.interval_ns - 1).max(0);
        (missed as u64, last_ns + (missed + 1) * self.interval_ns)
    }
}

/// A slot (ns) as the millisecond timestamp Prometheus stamps samples with (floor).
pub fn slot_ms(slot_ns: i64) -> i64 {
    slot_ns.div_euclid(1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_follow_both_encodings() {
        // Prometheus 2: xxh64 of `file\xff<f>\xffname\xff<n>\xff`.
        let mut b = Vec::new();
        b.extend_from_slice(b"file\xff/r.yml\xffname\xffg\xff");
        assert_eq!(
            group_hash("/r.yml", "g", Alignment::Prometheus2),
            xxh64(&b, 0)
        );
        // Prometheus 3: length-prefixed strings.
        let b = b"\x04file\x06/r.yml\x04name\x01g";
        assert_eq!(
            group_hash("/r.yml", "g", Alignment::Prometheus3),
            xxh64(b, 0)
        );
        // Long values get the 4-byte length form.
        let long = "x".repeat(300);
        let mut b = vec![4];
        b.extend_from_slice(b"file");
        b.extend_from_slice(&[255, 44, 1, 0]);
        b.extend_from_slice(long.as_bytes());
        b.extend_from_slice(b"\x04name\x01g");
        assert_eq!(group_hash(&long, "g", Alignment::Prometheus3), xxh64(&b, 0));
    }

    #[test]
    fn slots_are_offset_multiples_of_the_interval() {
        let s = Slots::new("/r.yml", "g", 60_000, Alignment::Prometheus3);
        assert!(s.offset_ns >= 0 && s.offset_ns < s.interval_ns);
        let now = 1_700_000_123_456_789_000i64;
        let slot = s.at_or_before(now);
        assert!(slot <= now && now - slot < s.interval_ns);
        assert_eq!((slot - s.offset_ns).rem_euclid(s.interval_ns), 0);
        assert_eq!(s.at_or_before(slot), slot);
        assert_eq!(s.first_after(now), slot + s.interval_ns);
        assert!(s.first_after(now) > now);
        // Different groups get different offsets, the same group always the same one.
        let t = Slots::new("/r.yml", "h", 60_000, Alignment::Prometheus3);
        assert_ne!(s.offset_ns, t.offset_ns);
        assert_eq!(s, Slots::new("/r.yml", "g", 60_000, Alignment::Prometheus3));
    }

    #[test]
    fn overruns_skip_slots() {
        let s = Slots {
            interval_ns: 10,
            offset_ns: 3,
        };
        // On time: evaluated slot 13, woken at 23.
        assert_eq!(s.next(13, 23), (0, 23));
        assert_eq!(s.next(13, 24), (0, 23));
        // Took 2.5 intervals: slot 23 missed, next is 33 (the latest passed slot).
        assert_eq!(s.next(13, 38), (1, 33));
        // Took 4 intervals exactly.
        assert_eq!(s.next(13, 53), (3, 53));
    }

    #[test]
    fn slot_ms_floors() {
        assert_eq!(slot_ms(1_999_999), 1);
        assert_eq!(slot_ms(2_000_000), 2);
    }
}
