//! Writing list pages as JSON straight into a byte buffer.
//!
//! A page of 50 work orders is about 23 KB of JSON. Through serde_json's
//! general path (a serializer call per field, every string scanned byte by
//! byte for escapes, a buffer grown by doubling) it was the largest share of
//! the service's CPU per list request. [`WriteJson`] writes the same bytes
//! serde_json writes for the type's `Serialize` (tests compare the two on
//! arbitrary values): ids, numbers and timestamps without a string scan,
//! text that needs no escape copied whole, and text that does handed to
//! serde_json.

use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::page::Page;
use crate::ts::Ts;

/// A value that writes its own JSON, byte for byte what serde_json writes
/// for its `Serialize`.
pub trait WriteJson {
    fn write_json(&self, out: &mut Vec<u8>);

    /// About how many bytes [`WriteJson::write_json`] writes, to size the
    /// buffer once.
    fn json_size_hint(&self) -> usize {
        64
    }
}

/// Falls back to serde_json for what the fast paths leave to it; writing
/// into a `Vec` fails only for a value whose `Serialize` fails, which none of
/// the types here does.
fn serde<T: Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    if serde_json::to_writer(&mut *out, v).is_err() {
        out.extend_from_slice(b"null");
    }
}

pub fn str(out: &mut Vec<u8>, s: &str) {
    // No early exit: the loop vectorises, and the strings are short.
    let plain = s
        .bytes()
        .fold(true, |ok, b| ok & (b >= 0x20) & (b != b'"') & (b != b'\\'));
    if plain {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        serde(out, s);
    }
}

pub fn int(out: &mut Vec<u8>, n: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

pub fn uuid(out: &mut Vec<u8>, id: &Uuid) {
    let mut buf = Uuid::encode_buffer();
    out.push(b'"');
    out.extend_from_slice(id.as_hyphenated().encode_lower(&mut buf).as_bytes());
    out.push(b'"');
}

pub fn ts(out: &mut Vec<u8>, t: &Ts) {
    let mut buf = [0u8; crate::ts::JSON_MAX];
    match t.write_json(&mut buf) {
        Some(n) => {
            out.push(b'"');
            out.extend_from_slice(&buf[..n]);
            out.push(b'"');
        }
        None => serde(out, t),
    }
}

pub fn date(out: &mut Vec<u8>, d: &NaiveDate) {
    let year = d.year();
    if !(0..=9999).contains(&year) {
        return serde(out, d);
    }
    let (y, m, day) = (year as u32, d.month(), d.day());
    let digit = |v: u32| b'0' + (v % 10) as u8;
    out.extend_from_slice(&[
        b'"',
        digit(y / 1000),
        digit(y / 100),
        digit(y / 10),
        digit(y),
        b'-',
        digit(m / 10),
        digit(m),
        b'-',
        digit(day / 10),
        digit(day),
        b'"',
    ]);
}

pub fn raw(out: &mut Vec<u8>, v: &RawValue) {
    out.extend_from_slice(v.get().as_bytes());
}

/// `null`, or the value written by `f`.
pub fn opt<T>(out: &mut Vec<u8>, v: &Option<T>, f: impl FnOnce(&mut Vec<u8>, &T)) {
    match v {
        Some(v) => f(out, v),
        None => out.extend_from_slice(b"null"),
    }
}

impl<T: WriteJson> WriteJson for Page<T> {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"items\":[");
        for (i, item) in self.items.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            item.write_json(out);
        }
        out.extend_from_slice(b"],\"next_cursor\":");
        opt(out, &self.next_cursor, |o, c| str(o, c));
        out.push(b'}');
    }

    fn json_size_hint(&self) -> usize {
        32 + self.items.first().map_or(0, |i| i.json_size_hint()) * self.items.len()
    }
}

/// The JSON of `v` in a buffer sized once.
pub fn to_vec<T: WriteJson>(v: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.json_size_hint());
    v.write_json(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_as_serde_json_writes_them() {
        for s in [
            "",
            "plain",
            "quote \" and backslash \\",
            "tab\tnewline\n",
            "\u{1}\u{1f}",
            "\u{7f} é ✓ 😀",
            "</script>",
        ] {
            let mut out = Vec::new();
            str(&mut out, s);
            assert_eq!(out, serde_json::to_vec(s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn dates_and_numbers_as_serde_json_writes_them() {
        for d in [
            NaiveDate::from_ymd_opt(2026, 1, 9).unwrap(),
            NaiveDate::from_ymd_opt(1, 12, 31).unwrap(),
            NaiveDate::from_ymd_opt(9999, 12, 31).unwrap(),
            NaiveDate::from_ymd_opt(10000, 1, 1).unwrap(),
            NaiveDate::from_ymd_opt(-5, 3, 1).unwrap(),
        ] {
            let mut out = Vec::new();
            date(&mut out, &d);
            assert_eq!(out, serde_json::to_vec(&d).unwrap(), "{d}");
        }
        for n in [0, -1, 42, i64::MIN, i64::MAX] {
            let mut out = Vec::new();
            int(&mut out, n);
            assert_eq!(out, serde_json::to_vec(&n).unwrap());
        }
    }
}
