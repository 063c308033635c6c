//! A virtual key as stored: its policy (models, limits, budgets) and the
//! SHA-256 of its secret, never the secret itself.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::limits::LimitFile;
use crate::pricing::Cost;

/// Prefix of every virtual key: `gwk_<id>_<secret>`.
pub const KEY_PREFIX: &str = "gwk_";
/// Hex digits of a key id.
const ID_LEN: usize = 16;
/// Hex digits of a key's secret part.
const SECRET_LEN: usize = 48;

/// One virtual key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Public id (16 hex digits), part of the key itself.
    pub id: String,
    /// A label for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// SHA-256 of the whole key, hex.
    pub secret_sha256: String,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds after which the key is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// Unix seconds when it was revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<u64>,
    /// Models or aliases the key may ask for; `None`: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
    /// Requests per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rpm: Option<u64>,
    /// Prompt + completion tokens per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpm: Option<u64>,
    /// Budgets in picodollars: per UTC day, per UTC month, all time.
    #[serde(default)]
    pub budgets: Budgets,
}

/// Spend ceilings in picodollars.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Budgets {
    /// Per UTC day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily: Option<u64>,
    /// Per UTC month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly: Option<u64>,
    /// All time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

impl Budgets {
    /// Whether any budget is set.
    pub fn any(&self) -> bool {
        self.daily.is_some() || self.monthly.is_some() || self.total.is_some()
    }
}

/// SHA-256 of a presented key, hex.
pub fn digest(key: &str) -> String {
    crate::hex::hex(&Sha256::digest(key.as_bytes()))
}

/// The id inside a presented virtual key, if it has the key's shape.
pub fn id_of(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(id, ID_LEN) && hex(secret, SECRET_LEN)).then_some(id)
}

/// Random lowercase hex from the OS-seeded generator behind `uuid`.
fn random_hex(len: usize) -> String {
    let mut out = String::with_capacity(len + 32);
    while out.len() < len {
        out.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    out.truncate(len);
    out
}

/// A new id.
pub fn new_id() -> String {
    random_hex(ID_LEN)
}

/// A new key for `id`: the secret shown once; its digest is what is kept.
pub fn new_secret(id: &str) -> String {
    format!("{KEY_PREFIX}{id}_{}", random_hex(SECRET_LEN))
}

/// Why a key that matched an id is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The secret does not match.
    Wrong,
    /// Revoked by the operator.
    Revoked,
    /// Past its expiry.
    Expired,
}

impl KeyRecord {
    /// The tenant id of this key: stable across rotations.
    pub fn tenant(&self) -> String {
        format!("vk_{}", self.id)
    }

    /// Checks a presented key against this record at `now` (Unix seconds);
    /// the digest comparison takes the same time wherever it differs.
    pub fn admit(&self, presented_digest: &str, now: u64) -> Result<(), Refusal> {
        if !bool::from(
            self.secret_sha256
                .as_bytes()
                .ct_eq(presented_digest.as_bytes()),
        ) {
            return Err(Refusal::Wrong);
        }
        if self.revoked_at.is_some() {
            return Err(Refusal::Revoked);
        }
        if self.expires_at.is_some_and(|t| t <= now) {
            return Err(Refusal::Expired);
        }
        Ok(())
    }

    /// Whether the key may ask for `model`.
    pub fn allows(&self, model: &str) -> bool {
        self.models
            .as_ref()
            .is_none_or(|list| list.iter().any(|m| m == model))
    }

    /// The key's own rate limits, if it sets any.
    pub fn limits(&self) -> Option<LimitFile> {
        (self.rpm.is_some() || self.tpm.is_some()).then_some(LimitFile {
            requests_per_minute: self.rpm,
            tokens_per_minute: self.tpm,
        })
    }

    /// `active`, `revoked` or `expired` at `now`.
    pub fn status(&self, now: u64) -> &'static str {
        if self.revoked_at.is_some() {
            "revoked"
        } else if self.expires_at.is_some_and(|t| t <= now) {
            "expired"
        } else {
            "active"
        }
    }

    /// The operator's view: everything but the digest; USD as exact
    /// decimal strings.
    pub fn view(&self) -> Value {
        let usd = |v: Option<u64>| v.map(|p| Cost(p).to_string());
        json!({
            "object": "gateway.key",
            "id": self.id,
            "tenant": self.tenant(),
            "name": self.name,
            "status": self.status(crate::clock::unix_seconds()),
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "models": self.models,
            "rpm": self.rpm,
            "tpm": self.tpm,
            "budget_daily_usd": usd(self.budgets.daily),
            "budget_monthly_usd": usd(self.budgets.monthly),
            "budget_total_usd": usd(self.budgets.total),
        })
    }
}

/// Largest budget accepted: one billion USD.
const MAX_USD: u64 = 1_000_000_000;

/// Parses a non-negative USD amount (`"12.50"`, `12.5`) into picodollars,
/// exactly: at most 12 decimal places.
pub fn parse_usd(text: &str) -> Option<u64> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(frac) || frac.len() > 12 {
        return None;
    }
    let whole: u64 = whole.parse().ok()?;
    if whole > MAX_USD {
        return None;
    }
    let frac: u64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<12}").parse().ok()?
    };
    whole.checked_mul(Cost::PER_USD)?.checked_add(frac)
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `expires_at`: Unix seconds, or a UTC date `YYYY-MM-DD` or time
/// `YYYY-MM-DDTHH:MM:SSZ`.
pub fn parse_time(value: &Value) -> Option<u64> {
    if let Some(n) = value.as_u64() {
        return Some(n);
    }
    let text = value.as_str()?;
    let (date, time) = match text.split_once('T') {
        Some((d, t)) => (d, Some(t.strip_suffix('Z')?)),
        None => (text, None),
    };
    let mut parts = date.splitn(3, '-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut secs = days_from_civil(year, month, day) * 86_400;
    if let Some(time) = time {
        let mut hms = time.splitn(3, ':');
        let h: i64 = hms.next()?.parse().ok()?;
        let m: i64 = hms.next()?.parse().ok()?;
        let s: i64 = hms.next()?.parse().ok()?;
        if h > 23 || m > 59 || s > 60 {
            return None;
        }
        secs += h * 3600 + m * 60 + s;
    }
    u64::try_from(secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_one_shape_and_ids_are_found_in_them() {
        let id = new_id();
        let key = new_secret(&id);
        assert_eq!(id_of(&key), Some(id.as_str()));
        assert_ne!(new_secret(&id), key, "secrets are random");
        for bad in [
            "gwk_",
            "gwk_zz_zz",
            "sk-something-else",
            &key[..key.len() - 1],
            &format!("{key}0"),
        ] {
            assert_eq!(id_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn admission_checks_secret_revocation_and_expiry() {
        let id = new_id();
        let key = new_secret(&id);
        let mut record = KeyRecord {
            id,
            name: None,
            secret_sha256: digest(&key),
            created_at: 1,
            expires_at: Some(100),
            revoked_at: None,
            models: Some(vec!["fast".into()]),
            rpm: None,
            tpm: None,
            budgets: Budgets::default(),
        };
        assert_eq!(record.admit(&digest(&key), 99), Ok(()));
        assert_eq!(record.admit(&digest(&key), 100), Err(Refusal::Expired));
        assert_eq!(record.admit(&digest("gwk_x"), 99), Err(Refusal::Wrong));
        record.revoked_at = Some(50);
        assert_eq!(record.admit(&digest(&key), 60), Err(Refusal::Revoked));
        assert!(record.allows("fast") && !record.allows("gpt-4o"));
    }

    #[test]
    fn usd_is_parsed_exactly() {
        assert_eq!(parse_usd("12.5"), Some(12_500_000_000_000));
        assert_eq!(parse_usd("0.000000000001"), Some(1));
        assert_eq!(parse_usd("3"), Some(3 * Cost::PER_USD));
        for bad in [
            "",
            "-1",
            "1e3",
            ".5",
            "1.0000000000001",
            "abc",
            "2000000000",
        ] {
            assert_eq!(parse_usd(bad), None, "{bad}");
        }
    }

    #[test]
    fn expiry_times_are_parsed() {
        assert_eq!(parse_time(&json!(1_700_000_000)), Some(1_700_000_000));
        assert_eq!(parse_time(&json!("1970-01-02")), Some(86_400));
        assert_eq!(
            parse_time(&json!("2026-11-30T12:00:00Z")),
            Some(20_787 * 86_400 + 43_200)
        );
        for bad in [
            json!("2026-13-01"),
            json!("tomorrow"),
            json!(-5),
            json!(1.5),
        ] {
            assert_eq!(parse_time(&bad), None, "{bad}");
        }
    }
}
