//! [`Ts`]: a UTC timestamp with microsecond precision.
//!
//! PostgreSQL stores it as `timestamptz`. SQLite has no time type; sqlx's own
//! encoding of `DateTime` varies the number of fraction digits, which breaks
//! ordering and comparison of the text. `Ts` always writes
//! `YYYY-MM-DDTHH:MM:SS.ffffffZ`, so text order is time order on both engines.

use chrono::{DateTime, Datelike, SubsecRound, Timelike, Utc};
use serde::{Deserialize, Serialize, Serializer};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
use sqlx::sqlite::{SqliteArgumentsBuffer, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Postgres, Sqlite, Type};

/// Serialised in JSON exactly as chrono serialises a `DateTime<Utc>`
/// (RFC 3339, `Z`, as many fraction digits as needed: none, 3, 6 or 9), but
/// written into a stack buffer and handed over as one string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(transparent)]
pub struct Ts(pub DateTime<Utc>);

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`
pub const JSON_MAX: usize = 30;

impl Ts {
    /// The JSON text of the timestamp, or `None` for what the fast path
    /// leaves to chrono (years outside 0..=9999, leap seconds).
    pub fn write_json(&self, buf: &mut [u8; JSON_MAX]) -> Option<usize> {
        let dt = self.0.naive_utc();
        let year = dt.year();
        let nano = dt.nanosecond();
        if !(0..=9999).contains(&year) || nano >= 1_000_000_000 {
            return None;
        }
        fn two(buf: &mut [u8], at: usize, v: u32) {
            buf[at] = b'0' + (v / 10 % 10) as u8;
            buf[at + 1] = b'0' + (v % 10) as u8;
        }
        let year = year as u32;
        two(buf, 0, year / 100);
        two(buf, 2, year % 100);
        buf[4] = b'-';
        two(buf, 5, dt.month());
        buf[7] = b'-';
        two(buf, 8, dt.day());
        buf[10] = b'T';
        two(buf, 11, dt.hour());
        buf[13] = b':';
        two(buf, 14, dt.minute());
        buf[16] = b':';
        two(buf, 17, dt.second());
        let mut n = 19;
        let (mut frac, digits) = if nano == 0 {
            (0, 0)
        } else if nano.is_multiple_of(1_000_000) {
            (nano / 1_000_000, 3)
        } else if nano.is_multiple_of(1_000) {
            (nano / 1_000, 6)
        } else {
            (nano, 9)
        };
        if digits > 0 {
            buf[n] = b'.';
            for i in (0..digits).rev() {
                buf[n + 1 + i] = b'0' + (frac % 10) as u8;
                frac /= 10;
            }
            n += 1 + digits;
        }
        buf[n] = b'Z';
        Some(n + 1)
    }
}

impl Serialize for Ts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; JSON_MAX];
        match self
            .write_json(&mut buf)
            .and_then(|n| std::str::from_utf8(&buf[..n]).ok())
        {
            Some(s) => serializer.serialize_str(s),
            None => self.0.serialize(serializer),
        }
    }
}

const SQLITE_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6fZ";

impl Ts {
    pub fn now() -> Self {
        Ts(Utc::now().trunc_subsecs(6))
    }

    pub fn from_datetime(t: DateTime<Utc>) -> Self {
        Ts(t.trunc_subsecs(6))
    }
}

impl Type<Postgres> for Ts {
    fn type_info() -> PgTypeInfo {
        <DateTime<Utc> as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for Ts {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <DateTime<Utc> as Encode<Postgres>>::encode_by_ref(&self.0, buf)
    }
}

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

impl<'r> Decode<'r, Postgres> for Ts {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        // The binary format is microseconds since 2000-01-01 UTC: converted
        // in one step rather than through chrono's date arithmetic.
        if value.format() == sqlx::postgres::PgValueFormat::Binary
            && let Ok(b) = <[u8; 8]>::try_from(value.as_bytes()?)
            && let Some(t) = i64::from_be_bytes(b)
                .checked_add(PG_EPOCH_MICROS)
                .and_then(DateTime::from_timestamp_micros)
        {
            return Ok(Ts(t));
        }
        Ok(Ts(<DateTime<Utc> as Decode<Postgres>>::decode(value)?))
    }
}

impl Type<Sqlite> for Ts {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <DateTime<Utc> as Type<Sqlite>>::compatible(ty)
    }
}

impl Encode<'_, Sqlite> for Ts {
    fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
        <String as Encode<Sqlite>>::encode(self.0.format(SQLITE_FORMAT).to_string(), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Ts {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Ts(<DateTime<Utc> as Decode<Sqlite>>::decode(value)?))
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Ts {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::schema::SchemaFormat::KnownFormat(
                utoipa::openapi::schema::KnownFormat::DateTime,
            )))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Ts {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_text_sorts_as_time() {
        let a = Ts(DateTime::parse_from_rfc3339("2026-01-01T00:00:00.12Z")
            .unwrap()
            .to_utc());
        let b = Ts(DateTime::parse_from_rfc3339("2026-01-01T00:00:00.9Z")
            .unwrap()
            .to_utc());
        let c = Ts(DateTime::parse_from_rfc3339("2026-01-01T00:00:01Z")
            .unwrap()
            .to_utc());
        let f = |t: Ts| t.0.format(SQLITE_FORMAT).to_string();
        assert!(f(a) < f(b) && f(b) < f(c));
        assert_eq!(f(c), "2026-01-01T00:00:01.000000Z");
    }

    #[test]
    fn json_is_chrono_s() {
        let cases = [
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00:00.12Z",
            "2026-11-26T23:59:59.123456Z",
            "1999-12-31T01:02:03.000001Z",
            "0001-02-03T04:05:06.100Z",
            "2026-06-15T12:34:56.123456789Z",
            "2026-06-15T12:34:56.000000001Z",
            "9999-12-31T23:59:59.999999Z",
        ];
        let same = |t: DateTime<Utc>| {
            assert_eq!(
                serde_json::to_string(&Ts(t)).unwrap(),
                serde_json::to_string(&t).unwrap(),
                "{t:?}"
            );
        };
        for c in cases {
            same(DateTime::parse_from_rfc3339(c).unwrap().to_utc());
        }
        let at = |y, nano| {
            chrono::NaiveDate::from_ymd_opt(y, 12, 31)
                .unwrap()
                .and_hms_nano_opt(23, 59, 59, nano)
                .unwrap()
                .and_utc()
        };
        same(at(10_000, 0));
        same(at(-1, 500_000_000));
        // A leap second.
        same(at(2016, 1_500_000_000));
        let now = Ts::now();
        assert_eq!(
            serde_json::to_string(&now).unwrap(),
            serde_json::to_string(&now.0).unwrap()
        );
    }
}
