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
use fsa_store::Ts;
use fsa_store::page::Page;
use fsa_store::repo::work_orders::WorkOrder;
use serde::Serialize;
use serde_json::value::RawValue;
use uuid::Uuid;

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
    let mut buf = [0u8; fsa_store::ts::JSON_MAX];
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

impl WriteJson for WorkOrder {
    /// The same bytes as the store's derived `Serialize` (checked by the
    /// tests below), for list pages.
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"id\":");
        uuid(out, &self.id);
        out.extend_from_slice(b",\"number\":");
        int(out, self.number);
        out.extend_from_slice(b",\"reference\":\"WO-");
        int(out, self.reference.0);
        out.extend_from_slice(b"\",\"client_id\":");
        uuid(out, &self.client_id);
        out.extend_from_slice(b",\"title\":");
        str(out, &self.title);
        out.extend_from_slice(b",\"description\":");
        opt(out, &self.description, |o, v| str(o, v));
        out.extend_from_slice(b",\"status\":");
        str(out, self.status.as_str());
        out.extend_from_slice(b",\"priority\":");
        str(out, self.priority.as_str());
        out.extend_from_slice(b",\"due_date\":");
        opt(out, &self.due_date, date);
        out.extend_from_slice(b",\"scheduled_start\":");
        opt(out, &self.scheduled_start, ts);
        out.extend_from_slice(b",\"scheduled_end\":");
        opt(out, &self.scheduled_end, ts);
        out.extend_from_slice(b",\"assigned_to\":");
        opt(out, &self.assigned_to, uuid);
        out.extend_from_slice(b",\"attributes\":");
        raw(out, &self.attributes.0);
        out.extend_from_slice(b",\"created_at\":");
        ts(out, &self.created_at);
        out.extend_from_slice(b",\"updated_at\":");
        ts(out, &self.updated_at);
        out.push(b'}');
    }

    fn json_size_hint(&self) -> usize {
        480 + self.title.len()
            + self.description.as_ref().map_or(0, String::len)
            + self.attributes.0.get().len()
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
    use chrono::DateTime;
    use fsa_store::repo::work_orders::Reference;
    use proptest::prelude::*;
    use sqlx::types::Json;

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

    fn at(micros: i64) -> Ts {
        Ts(DateTime::from_timestamp_micros(micros).unwrap_or_default())
    }

    prop_compose! {
        fn work_order()(
            id in any::<u128>(), number in any::<i64>(), client in any::<u128>(),
            title in ".{0,40}", description in proptest::option::of(".{0,80}"),
            status in 0usize..6, priority in 0usize..4,
            due in proptest::option::of(-800_000i32..3_000_000),
            start in proptest::option::of(-100_000_000_000_000i64..300_000_000_000_000),
            end in proptest::option::of(any::<i32>()),
            assigned in proptest::option::of(any::<u128>()),
            attributes in prop_oneof![Just("{}".to_owned()), Just(r#"{"a":[1,"x\"y"],"b":null}"#.to_owned())],
            created in 0i64..4_000_000_000_000_000, updated in any::<u32>(),
        ) -> WorkOrder {
            let statuses = ["open", "scheduled", "in_progress", "on_hold", "completed", "cancelled"];
            let priorities = ["low", "normal", "high", "urgent"];
            WorkOrder {
                id: Uuid::from_u128(id),
                number,
                reference: Reference(number),
                client_id: Uuid::from_u128(client),
                title,
                description,
                status: statuses[status].parse().unwrap(),
                held_from: None,
                priority: priorities[priority].parse().unwrap(),
                due_date: due.and_then(NaiveDate::from_num_days_from_ce_opt),
                scheduled_start: start.map(at),
                scheduled_end: end.map(|e| at(e as i64 * 1_000_001)),
                assigned_to: assigned.map(Uuid::from_u128),
                attributes: Json(RawValue::from_string(attributes).unwrap()),
                created_at: at(created),
                updated_at: at(created + updated as i64),
            }
        }
    }

    proptest! {
        #[test]
        fn page_json_is_what_serde_writes(items in proptest::collection::vec(work_order(), 0..4),
                                          cursor in proptest::option::of(".{0,20}")) {
            let page = Page { items, next_cursor: cursor };
            prop_assert_eq!(
                String::from_utf8(to_vec(&page)).unwrap(),
                serde_json::to_string(&page).unwrap()
            );
        }
    }
}
