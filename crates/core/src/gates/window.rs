//! Maintenance windows: when a node may start, from a list of days, a local start and end time
//! and an IANA time zone (the shape of system-upgrade-controller's Plan `window`). Pure: the
//! time-zone rules come from the database compiled into the binary, never from the host.
//!
//! Decisions:
//! - The window opens on each listed day at `startTime` (local) and closes at `endTime` the
//!   same day, or the next day when `endTime` is not after `startTime` (`22:00`-`02:00` on
//!   Friday runs into Saturday night). Equal times mean the whole day. No days means every day.
//! - Local times that a daylight-saving change skips move later by the gap (`02:30` on the
//!   spring-forward night is `03:30`); times it repeats take the first instant. So a window
//!   always opens once per listed day and never lasts a negative time.

use jiff::Timestamp;
use jiff::civil::{Date, Time, Weekday};
use jiff::tz::{TimeZone, TimeZoneDatabase};

/// Whether a window is open at an instant, and when that changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowState {
    /// Open until `closes_at`.
    Open {
        /// When the current opening ends.
        closes_at: Timestamp,
    },
    /// Closed until `opens_at`.
    Closed {
        /// When the next opening starts.
        opens_at: Timestamp,
    },
}

/// A window that cannot be evaluated; the message says which field and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WindowError(pub String);

/// A parsed window.
#[derive(Clone, Debug)]
pub struct Window {
    days: Vec<Weekday>,
    start: Time,
    end: Time,
    tz: TimeZone,
}

/// The day names system-upgrade-controller and kured accept, lower-case, with their weekday.
const DAYS: [(&str, Weekday); 28] = [
    ("0", Weekday::Sunday),
    ("su", Weekday::Sunday),
    ("sun", Weekday::Sunday),
    ("sunday", Weekday::Sunday),
    ("1", Weekday::Monday),
    ("mo", Weekday::Monday),
    ("mon", Weekday::Monday),
    ("monday", Weekday::Monday),
    ("2", Weekday::Tuesday),
    ("tu", Weekday::Tuesday),
    ("tue", Weekday::Tuesday),
    ("tuesday", Weekday::Tuesday),
    ("3", Weekday::Wednesday),
    ("we", Weekday::Wednesday),
    ("wed", Weekday::Wednesday),
    ("wednesday", Weekday::Wednesday),
    ("4", Weekday::Thursday),
    ("th", Weekday::Thursday),
    ("thu", Weekday::Thursday),
    ("thursday", Weekday::Thursday),
    ("5", Weekday::Friday),
    ("fr", Weekday::Friday),
    ("fri", Weekday::Friday),
    ("friday", Weekday::Friday),
    ("6", Weekday::Saturday),
    ("sa", Weekday::Saturday),
    ("sat", Weekday::Saturday),
    ("saturday", Weekday::Saturday),
];

/// Every accepted day name (for schemas and messages).
pub fn day_names() -> impl Iterator<Item = &'static str> {
    DAYS.iter().map(|(name, _)| *name)
}

fn day(name: &str) -> Result<Weekday, WindowError> {
    let lower = name.trim().to_ascii_lowercase();
    DAYS.iter()
        .find(|(n, _)| *n == lower)
        .map(|(_, d)| *d)
        .ok_or_else(|| {
            WindowError(format!(
                "window.days: {name:?} is not a day (monday, mon, mo or 1, ... sunday, sun, su or 0)"
            ))
        })
}

fn time(field: &str, text: &str) -> Result<Time, WindowError> {
    let bad = || {
        WindowError(format!(
            "window.{field}: {text:?} is not a time of day HH:MM"
        ))
    };
    let mut parts = text.trim().split(':');
    let mut next = |max: i8| -> Result<i8, WindowError> {
        let p = parts.next().ok_or_else(bad)?;
        if p.is_empty() || p.len() > 2 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        p.parse::<i8>().ok().filter(|v| *v <= max).ok_or_else(bad)
    };
    let (h, m) = (next(23)?, next(59)?);
    let s = match parts.next() {
        None => 0,
        Some(_) => return Err(bad()),
    };
    Time::new(h, m, s, 0).map_err(|_| bad())
}

impl Window {
    /// Parses a window: day names as system-upgrade-controller accepts them, `HH:MM` times, an
    /// IANA zone name (`UTC` when empty).
    ///
    /// # Errors
    /// A [`WindowError`] naming the field that makes no sense.
    pub fn parse(
        days: &[String],
        start: &str,
        end: &str,
        time_zone: Option<&str>,
    ) -> Result<Self, WindowError> {
        let mut parsed = days.iter().map(|d| day(d)).collect::<Result<Vec<_>, _>>()?;
        parsed.sort_by_key(|d| d.to_monday_zero_offset());
        parsed.dedup();
        let zone = time_zone
            .map(str::trim)
            .filter(|z| !z.is_empty())
            .unwrap_or("UTC");
        let tz = TimeZoneDatabase::bundled().get(zone).map_err(|_| {
            WindowError(format!(
                "window.timeZone: {zone:?} is not a known time zone"
            ))
        })?;
        Ok(Self {
            days: parsed,
            start: time("startTime", start)?,
            end: time("endTime", end)?,
            tz,
        })
    }

    fn opens_on(&self, date: Date) -> bool {
        self.days.is_empty() || self.days.contains(&date.weekday())
    }

    /// The opening that starts on `date`: (opens, closes).
    fn opening(&self, date: Date) -> Option<(Timestamp, Timestamp)> {
        let opens = self.tz.to_zoned(date.to_datetime(self.start)).ok()?;
        let end_date = if self.end > self.start {
            date
        } else {
            date.tomorrow().ok()?
        };
        let closes = self.tz.to_zoned(end_date.to_datetime(self.end)).ok()?;
        Some((opens.timestamp(), closes.timestamp()))
    }

    /// Whether the window is open at `now`, and until when; or when it opens next.
    pub fn state(&self, now: Timestamp) -> WindowState {
        let today = now.to_zoned(self.tz.clone()).date();
        let mut next_open: Option<Timestamp> = None;
        // An opening that started yesterday may still run; the next one is at most a week away.
        for offset in -1..=8i32 {
            let Ok(date) = today.checked_add(jiff::Span::new().days(offset)) else {
                continue;
            };
            if !self.opens_on(date) {
                continue;
            }
            let Some((opens, closes)) = self.opening(date) else {
                continue;
            };
            if opens <= now && now < closes {
                return WindowState::Open { closes_at: closes };
            }
            if opens > now && next_open.is_none_or(|n| opens < n) {
                next_open = Some(opens);
            }
        }
        // Unreachable with a valid window (every listed weekday occurs within eight days);
        // a week later keeps a caller's requeue finite.
        let opens_at = next_open.unwrap_or_else(|| {
            now.checked_add(jiff::SignedDuration::from_hours(24 * 7))
                .unwrap_or(now)
        });
        WindowState::Closed { opens_at }
    }
}

#[cfg(test)]
mod tests;
