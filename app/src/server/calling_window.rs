//! When a campaign may start a call: a calling window (days of the week and a time of day,
//! in local time) and quiet hours (by default no call before 08:00 or after 21:00 in the
//! callee's local time). Pure functions of an instant and a time zone; nothing here reads
//! a clock, so tests move time by passing it.
//!
//! Guarantees, and how they are kept:
//! - **Local time is the callee's wall clock**, across daylight-saving changes. Within a
//!   stretch of constant UTC offset, local time is the instant plus that offset, so the
//!   next opening is found by local arithmetic; where the offset changes before that
//!   opening, the search starts again at the change ([`next_offset_change`]). So a window
//!   that starts in an hour the clocks skip opens when they land (02:30 on a night that
//!   jumps from 02:00 to 03:00 opens at 03:00), and a window in an hour the clocks repeat
//!   is open both times round.
//! - **Intervals are half-open**: a 09:00–17:30 window lets a call start from 09:00:00
//!   up to, not at, 17:30:00; quiet hours "not after 21:00" refuse 21:00:00 itself.
//! - **A window lies within one day**: its end is after its start (24:00 ends it at
//!   midnight). [`CallingWindow::parse`] refuses an end at or before the start, naming
//!   the field: a window across midnight is two days' windows, which this does not model.
//! - **`next_open` is the earliest instant at or after the one given** when a call may
//!   start, and `None` only when none ever comes: the window has no days, or (in one zone)
//!   it never overlaps quiet hours, or (window and callee in different zones) they do not
//!   meet within 400 days. The property tests below check it against a minute-by-minute
//!   scan.
//!
//! The window is read in one zone and quiet hours in another when a campaign keeps its own
//! zone for the window but holds each callee to quiet hours in theirs ([`Zones`]); the
//! plain methods take one zone for both.

use chrono::{
    DateTime, Datelike, Duration, NaiveDateTime, NaiveTime, Offset, TimeZone, Timelike, Utc,
    Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::fmt;

use crate::error::{AppError, FieldError};

// ---------------------------------------------------------------------------------------
// Days and times

/// A set of days of the week (bit 0 Monday … bit 6 Sunday).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Weekdays(u8);

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const FULL_DAY_NAMES: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

impl Weekdays {
    pub const NONE: Weekdays = Weekdays(0);
    pub const EVERY_DAY: Weekdays = Weekdays(0b111_1111);
    pub const MONDAY_TO_FRIDAY: Weekdays = Weekdays(0b001_1111);

    /// The days of a bitmask (bit 0 Monday … bit 6 Sunday); `None` past bit 6.
    pub fn from_bits(bits: u8) -> Option<Weekdays> {
        (bits <= Self::EVERY_DAY.0).then_some(Weekdays(bits))
    }

    pub fn bits(self) -> u8 {
        self.0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.num_days_from_monday()) != 0
    }

    pub fn with(self, day: Weekday) -> Weekdays {
        Weekdays(self.0 | (1 << day.num_days_from_monday()))
    }

    /// The days' short names, Monday first: `["mon", "tue"]`.
    pub fn names(self) -> Vec<&'static str> {
        (0..7)
            .filter(|i| self.0 & (1 << i) != 0)
            .map(|i| DAY_NAMES[i])
            .collect()
    }

    /// Parses what a form or an API sends: day names separated by commas or spaces
    /// (`mon,tue,wed`, `Monday Friday`), ranges (`mon-fri`, `sat-sun`), or a bitmask
    /// (`31`: bit 0 Monday … bit 6 Sunday). An empty text is no days.
    pub fn parse(text: &str) -> Result<Weekdays, String> {
        let text = text.trim();
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return text
                .parse::<u8>()
                .ok()
                .and_then(Weekdays::from_bits)
                .ok_or_else(|| {
                    format!(
                        "“{text}” is not a day mask: use a number from 0 to 127 (Monday 1, Tuesday 2, … Sunday 64), or day names such as mon,tue,wed."
                    )
                });
        }
        let mut days = Weekdays::NONE;
        for item in text
            .split([',', ' ', ';'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let day = |name: &str| {
                day_of(name).ok_or_else(|| {
                    format!(
                        "“{name}” is not a day: use mon, tue, wed, thu, fri, sat or sun, or a range such as mon-fri."
                    )
                })
            };
            match item.split_once('-') {
                Some((first, last)) => {
                    let (first, last) = (day(first.trim())?, day(last.trim())?);
                    let (a, b) = (first.num_days_from_monday(), last.num_days_from_monday());
                    if a > b {
                        return Err(format!(
                            "The range “{item}” runs backwards: write it Monday first, e.g. {}-{}.",
                            DAY_NAMES[b as usize], DAY_NAMES[a as usize]
                        ));
                    }
                    for i in a..=b {
                        days.0 |= 1 << i;
                    }
                }
                None => days = days.with(day(item)?),
            }
        }
        Ok(days)
    }
}

fn day_of(name: &str) -> Option<Weekday> {
    let lower = name.to_ascii_lowercase();
    (0..7)
        .find(|&i| lower == DAY_NAMES[i] || lower == FULL_DAY_NAMES[i])
        .and_then(|i| Weekday::try_from(i as u8).ok())
}

impl fmt::Display for Weekdays {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().join(","))
    }
}

/// A time of day to the minute, 00:00 to 24:00 (24:00 only ends a window).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LocalTime(u16);

impl LocalTime {
    pub const MIDNIGHT: LocalTime = LocalTime(0);
    pub const END_OF_DAY: LocalTime = LocalTime(24 * 60);

    /// `None` past 24:00 or for a minute past 59.
    pub const fn hm(hour: u16, minute: u16) -> Option<LocalTime> {
        if minute < 60 && hour * 60 + minute <= 24 * 60 {
            Some(LocalTime(hour * 60 + minute))
        } else {
            None
        }
    }

    pub fn minutes(self) -> u16 {
        self.0
    }

    fn seconds(self) -> u32 {
        u32::from(self.0) * 60
    }

    /// Parses `HH:MM` or `H:MM`, 00:00 to 24:00.
    pub fn parse(text: &str) -> Result<LocalTime, String> {
        let text = text.trim();
        let hint = "Enter a time as HH:MM, from 00:00 to 24:00, e.g. 09:00 or 17:30.";
        if text.is_empty() {
            return Err(format!("Enter a time. {hint}"));
        }
        let parsed = text.split_once(':').and_then(|(h, m)| {
            let digits = |s: &str, max: usize| {
                (!s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| s.parse::<u16>().ok())
                    .flatten()
            };
            let (hour, minute) = (digits(h, 2)?, digits(m, 2)?);
            (m.len() == 2).then_some(())?;
            LocalTime::hm(hour, minute)
        });
        parsed.ok_or_else(|| format!("“{text}” is not a time of day. {hint}"))
    }
}

impl fmt::Display for LocalTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0 / 60, self.0 % 60)
    }
}

impl Serialize for LocalTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for LocalTime {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<LocalTime, D::Error> {
        let text = String::deserialize(d)?;
        LocalTime::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Weekdays {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.names().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Weekdays {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Weekdays, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        Weekdays::parse(&names.join(",")).map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------
// The window

/// No call before `not_before` or at or after `not_after`, in the callee's local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "QuietHoursJson")]
pub struct QuietHours {
    not_before: LocalTime,
    not_after: LocalTime,
}

#[derive(Deserialize)]
struct QuietHoursJson {
    not_before: LocalTime,
    not_after: LocalTime,
}

impl TryFrom<QuietHoursJson> for QuietHours {
    type Error = String;
    fn try_from(json: QuietHoursJson) -> Result<QuietHours, String> {
        QuietHours::new(json.not_before, json.not_after)
    }
}

impl Default for QuietHours {
    /// Not before 08:00, not after 21:00.
    fn default() -> Self {
        QuietHours {
            not_before: LocalTime(8 * 60),
            not_after: LocalTime(21 * 60),
        }
    }
}

impl QuietHours {
    pub fn new(not_before: LocalTime, not_after: LocalTime) -> Result<QuietHours, String> {
        if not_after <= not_before {
            return Err(format!(
                "Quiet hours must allow some time: “not after” ({not_after}) must be later than “not before” ({not_before}) on the same day."
            ));
        }
        Ok(QuietHours {
            not_before,
            not_after,
        })
    }

    pub fn not_before(&self) -> LocalTime {
        self.not_before
    }

    pub fn not_after(&self) -> LocalTime {
        self.not_after
    }
}

/// When calls may start: on `days`, from `start` up to (not at) `end` local time, and
/// never in quiet hours. Stored as JSON:
/// `{"days":["mon","tue"],"start":"09:00","end":"17:30","quiet_hours":{"not_before":"08:00","not_after":"21:00"}}`
/// (`quiet_hours` may be left out: the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "CallingWindowJson")]
pub struct CallingWindow {
    days: Weekdays,
    start: LocalTime,
    end: LocalTime,
    quiet_hours: QuietHours,
}

#[derive(Deserialize)]
struct CallingWindowJson {
    days: Weekdays,
    start: LocalTime,
    end: LocalTime,
    #[serde(default)]
    quiet_hours: QuietHours,
}

impl TryFrom<CallingWindowJson> for CallingWindow {
    type Error = String;
    fn try_from(json: CallingWindowJson) -> Result<CallingWindow, String> {
        CallingWindow::new(json.days, json.start, json.end, json.quiet_hours)
    }
}

/// A calling window as a form or the API sends it, field by field. Errors name the
/// fields `days`, `start`, `end`, `quiet_not_before` and `quiet_not_after`.
#[derive(Debug, Clone, Default)]
pub struct CallingWindowText<'a> {
    pub days: &'a str,
    pub start: &'a str,
    pub end: &'a str,
    /// Empty or absent: 08:00.
    pub quiet_not_before: Option<&'a str>,
    /// Empty or absent: 21:00.
    pub quiet_not_after: Option<&'a str>,
}

/// The zones a window is read in: the window's own (the campaign's, or the callee's) and
/// the callee's, for quiet hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zones {
    pub window: Tz,
    pub callee: Tz,
}

impl Zones {
    /// Window and quiet hours both in `tz`.
    pub fn one(tz: Tz) -> Zones {
        Zones {
            window: tz,
            callee: tz,
        }
    }
}

/// How far [`CallingWindow::next_open_in`] looks for a window and quiet hours in two zones
/// to meet.
const HORIZON_DAYS: i64 = 400;

impl CallingWindow {
    /// A window; its end must be after its start. No days is allowed here (a window that
    /// never opens); [`parse`](Self::parse) refuses it.
    pub fn new(
        days: Weekdays,
        start: LocalTime,
        end: LocalTime,
        quiet_hours: QuietHours,
    ) -> Result<CallingWindow, String> {
        if start >= LocalTime::END_OF_DAY {
            return Err("A window cannot start at 24:00: start it at 23:59 at the latest.".into());
        }
        if end <= start {
            return Err(format!(
                "The window must end after it starts ({start}), on the same day: it ends at {end}. A window across midnight is not supported; end it at 24:00 and start the next day's at 00:00."
            ));
        }
        Ok(CallingWindow {
            days,
            start,
            end,
            quiet_hours,
        })
    }

    /// Every day, all day, default quiet hours.
    pub fn always() -> CallingWindow {
        CallingWindow {
            days: Weekdays::EVERY_DAY,
            start: LocalTime::MIDNIGHT,
            end: LocalTime::END_OF_DAY,
            quiet_hours: QuietHours::default(),
        }
    }

    /// Parses a form's or an API request's fields, each error naming its field.
    pub fn parse(text: &CallingWindowText<'_>) -> Result<CallingWindow, AppError> {
        fn time(
            errors: &mut Vec<FieldError>,
            field: &str,
            value: Option<&str>,
            missing: Result<LocalTime, &str>,
        ) -> Option<LocalTime> {
            let parsed = match value.map(str::trim).filter(|v| !v.is_empty()) {
                Some(v) => LocalTime::parse(v),
                None => missing.map_err(str::to_string),
            };
            parsed
                .map_err(|message| errors.push(FieldError::new(field, message)))
                .ok()
        }
        let mut errors = Vec::new();
        let days = match Weekdays::parse(text.days) {
            Ok(days) if days.is_empty() => {
                errors.push(FieldError::new(
                    "days",
                    "Choose at least one day on which calls may be made.",
                ));
                None
            }
            Ok(days) => Some(days),
            Err(message) => {
                errors.push(FieldError::new("days", message));
                None
            }
        };
        let start = time(
            &mut errors,
            "start",
            Some(text.start),
            Err("Enter when calls may start, e.g. 09:00."),
        );
        let end = time(
            &mut errors,
            "end",
            Some(text.end),
            Err("Enter when calls must stop, e.g. 17:30."),
        );
        let defaults = QuietHours::default();
        let not_before = time(
            &mut errors,
            "quiet_not_before",
            text.quiet_not_before,
            Ok(defaults.not_before),
        );
        let not_after = time(
            &mut errors,
            "quiet_not_after",
            text.quiet_not_after,
            Ok(defaults.not_after),
        );
        let quiet = match (not_before, not_after) {
            (Some(b), Some(a)) => QuietHours::new(b, a)
                .map_err(|message| errors.push(FieldError::new("quiet_not_after", message)))
                .ok(),
            _ => None,
        };
        let window = match (days, start, end, quiet) {
            (Some(days), Some(start), Some(end), Some(quiet)) => {
                CallingWindow::new(days, start, end, quiet)
                    .map_err(|message| {
                        let field = if start >= LocalTime::END_OF_DAY {
                            "start"
                        } else {
                            "end"
                        };
                        errors.push(FieldError::new(field, message))
                    })
                    .ok()
            }
            _ => None,
        };
        match window {
            Some(window) if errors.is_empty() => Ok(window),
            _ => Err(AppError::Invalid { errors }),
        }
    }

    pub fn days(&self) -> Weekdays {
        self.days
    }

    pub fn start(&self) -> LocalTime {
        self.start
    }

    pub fn end(&self) -> LocalTime {
        self.end
    }

    pub fn quiet_hours(&self) -> QuietHours {
        self.quiet_hours
    }

    /// May a call start at `at`, window and quiet hours both in `tz`?
    pub fn allowed(&self, at: DateTime<Utc>, tz: Tz) -> bool {
        self.allowed_in(at, Zones::one(tz))
    }

    /// The first instant at or after `at` when a call may start (see the module's
    /// guarantees); `None` if there is none.
    pub fn next_open(&self, at: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        self.next_open_in(at, Zones::one(tz))
    }

    /// How many seconds from `from` to `to` calls may start in (0 when `to` is not after
    /// `from`): what a campaign's preflight divides by its pace.
    pub fn open_seconds_between(&self, from: DateTime<Utc>, to: DateTime<Utc>, tz: Tz) -> i64 {
        self.open_seconds_between_in(from, to, Zones::one(tz))
    }

    /// [`allowed`](Self::allowed), the window in one zone and quiet hours in another.
    pub fn allowed_in(&self, at: DateTime<Utc>, zones: Zones) -> bool {
        match self.rules(zones) {
            Rules::One(rule) => rule.contains(local(at, zones.window)),
            Rules::Two { window, quiet } => {
                window.contains(local(at, zones.window)) && quiet.contains(local(at, zones.callee))
            }
        }
    }

    /// [`next_open`](Self::next_open), the window in one zone and quiet hours in another.
    pub fn next_open_in(&self, at: DateTime<Utc>, zones: Zones) -> Option<DateTime<Utc>> {
        match self.rules(zones) {
            Rules::One(rule) => rule.next_open(at, zones.window),
            Rules::Two { window, quiet } => {
                let horizon = at + Duration::days(HORIZON_DAYS);
                let mut t = at;
                loop {
                    let open = window.next_open(t, zones.window)?;
                    let quiet_open = quiet.next_open(open, zones.callee)?;
                    if quiet_open == open {
                        return Some(open);
                    }
                    if quiet_open > horizon {
                        return None;
                    }
                    t = quiet_open;
                }
            }
        }
    }

    /// [`open_seconds_between`](Self::open_seconds_between), the window in one zone and
    /// quiet hours in another.
    pub fn open_seconds_between_in(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        zones: Zones,
    ) -> i64 {
        let mut total = Duration::zero();
        let mut t = from;
        while t < to {
            let Some(open) = self.next_open_in(t, zones).filter(|o| *o < to) else {
                break;
            };
            let close = match self.rules(zones) {
                Rules::One(rule) => rule.next_close(open, zones.window),
                Rules::Two { window, quiet } => window
                    .next_close(open, zones.window)
                    .min(quiet.next_close(open, zones.callee)),
            };
            total += close.min(to) - open;
            t = close;
        }
        total.num_seconds()
    }

    fn rules(&self, zones: Zones) -> Rules {
        let window = DailyRule {
            days: self.days,
            from: self.start,
            to: self.end,
        };
        let quiet = DailyRule {
            days: Weekdays::EVERY_DAY,
            from: self.quiet_hours.not_before,
            to: self.quiet_hours.not_after,
        };
        if zones.window == zones.callee {
            Rules::One(DailyRule {
                days: self.days,
                from: window.from.max(quiet.from),
                to: window.to.min(quiet.to),
            })
        } else {
            Rules::Two { window, quiet }
        }
    }
}

enum Rules {
    One(DailyRule),
    Two { window: DailyRule, quiet: DailyRule },
}

/// Open on `days` from `from` up to `to`, local time.
#[derive(Debug, Clone, Copy)]
struct DailyRule {
    days: Weekdays,
    from: LocalTime,
    to: LocalTime,
}

fn offset(at: DateTime<Utc>, tz: Tz) -> Duration {
    Duration::seconds(i64::from(
        tz.offset_from_utc_datetime(&at.naive_utc())
            .fix()
            .local_minus_utc(),
    ))
}

fn local(at: DateTime<Utc>, tz: Tz) -> NaiveDateTime {
    at.naive_utc() + offset(at, tz)
}

/// The first instant in `(after, until]` whose UTC offset in `tz` differs from `after`'s.
/// Offsets are read every 6 hours and the change is then found to the second (zones
/// change offset at whole seconds, and never twice within 6 hours).
fn next_offset_change(after: DateTime<Utc>, until: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
    let start = offset(after, tz);
    let step = Duration::hours(6);
    let mut previous = after;
    while previous < until {
        let next = (previous + step).min(until);
        if offset(next, tz) != start {
            // Offset `start` at second `low`, another at `high`: halve until adjacent.
            let (mut low, mut high) = (previous.timestamp(), next.timestamp());
            while high - low > 1 {
                let middle = low + (high - low) / 2;
                match DateTime::from_timestamp(middle, 0) {
                    Some(m) if offset(m, tz) == start => low = middle,
                    Some(_) => high = middle,
                    None => return None,
                }
            }
            return DateTime::from_timestamp(high, 0);
        }
        previous = next;
    }
    None
}

impl DailyRule {
    fn never(&self) -> bool {
        self.days.is_empty() || self.to <= self.from
    }

    fn contains(&self, local: NaiveDateTime) -> bool {
        let second = local.time().num_seconds_from_midnight();
        self.days.contains(local.weekday())
            && second >= self.from.seconds()
            && second < self.to.seconds()
    }

    /// The first local time after `local` at which the rule opens (within a week).
    fn next_local_start(&self, local: NaiveDateTime) -> Option<NaiveDateTime> {
        let from = NaiveTime::from_num_seconds_from_midnight_opt(self.from.seconds(), 0)?;
        (0..=7).find_map(|days| {
            let date = local.date() + Duration::days(days);
            let start = date.and_time(from);
            (self.days.contains(date.weekday()) && start > local).then_some(start)
        })
    }

    fn next_open(&self, at: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        if self.never() {
            return None;
        }
        let mut t = at;
        // Each round ends at an opening or at an offset change; a year has a few.
        for _ in 0..(HORIZON_DAYS * 2) {
            let now = local(t, tz);
            if self.contains(now) {
                return Some(t);
            }
            let next = self.next_local_start(now)?;
            let candidate = t + (next - now);
            match next_offset_change(t, candidate, tz) {
                None => return Some(candidate),
                Some(change) => t = change,
            }
        }
        None
    }

    /// The first instant at or after `at` (which the rule contains) that it does not.
    fn next_close(&self, at: DateTime<Utc>, tz: Tz) -> DateTime<Utc> {
        let mut t = at;
        for _ in 0..(HORIZON_DAYS * 2) {
            let now = local(t, tz);
            if !self.contains(now) {
                return t;
            }
            let end =
                now.date().and_time(NaiveTime::MIN) + Duration::seconds(self.to.seconds().into());
            let candidate = t + (end - now);
            match next_offset_change(t, candidate, tz) {
                None => return candidate,
                Some(change) => t = change,
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{America, Asia, Australia, Europe, Pacific};
    use proptest::prelude::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("an RFC 3339 instant")
            .with_timezone(&Utc)
    }

    fn window(days: &str, start: &str, end: &str) -> CallingWindow {
        CallingWindow::parse(&CallingWindowText {
            days,
            start,
            end,
            ..Default::default()
        })
        .expect("a valid window")
    }

    fn no_quiet(days: &str, start: &str, end: &str) -> CallingWindow {
        CallingWindow::parse(&CallingWindowText {
            days,
            start,
            end,
            quiet_not_before: Some("00:00"),
            quiet_not_after: Some("24:00"),
        })
        .expect("a valid window")
    }

    // -- Parsing --------------------------------------------------------------------------

    #[test]
    fn days_parse_from_names_ranges_and_masks() {
        let mon_wed = Weekdays::NONE
            .with(Weekday::Mon)
            .with(Weekday::Tue)
            .with(Weekday::Wed);
        assert_eq!(Weekdays::parse("mon,tue,wed"), Ok(mon_wed));
        assert_eq!(Weekdays::parse(" Monday, TUE  wed "), Ok(mon_wed));
        assert_eq!(Weekdays::parse("mon-wed"), Ok(mon_wed));
        assert_eq!(Weekdays::parse("7"), Ok(mon_wed));
        assert_eq!(Weekdays::parse("mon-fri"), Ok(Weekdays::MONDAY_TO_FRIDAY));
        assert_eq!(Weekdays::parse("mon-fri,sat-sun"), Ok(Weekdays::EVERY_DAY));
        assert_eq!(Weekdays::parse(""), Ok(Weekdays::NONE));
        assert_eq!(
            Weekdays::MONDAY_TO_FRIDAY.to_string(),
            "mon,tue,wed,thu,fri"
        );
        assert!(Weekdays::parse("funday")
            .unwrap_err()
            .contains("“funday” is not a day"));
        assert!(Weekdays::parse("fri-mon")
            .unwrap_err()
            .contains("runs backwards"));
        assert!(Weekdays::parse("128")
            .unwrap_err()
            .contains("not a day mask"));
    }

    #[test]
    fn times_parse_to_the_minute() {
        assert_eq!(LocalTime::parse("09:00"), Ok(LocalTime(540)));
        assert_eq!(LocalTime::parse("9:05"), Ok(LocalTime(545)));
        assert_eq!(LocalTime::parse("24:00"), Ok(LocalTime::END_OF_DAY));
        for bad in [
            "",
            "9",
            "9:5",
            "09:60",
            "24:01",
            "25:00",
            "-1:00",
            "09:00:00",
            "ab:cd",
            "１２:00",
        ] {
            assert!(LocalTime::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(LocalTime(17 * 60 + 30).to_string(), "17:30");
    }

    #[test]
    fn the_parser_names_each_wrong_field() {
        let err = CallingWindow::parse(&CallingWindowText {
            days: "someday",
            start: "9am",
            end: "",
            quiet_not_before: Some("07:00"),
            quiet_not_after: Some("25:00"),
        })
        .unwrap_err();
        for field in ["days", "start", "end", "quiet_not_after"] {
            assert!(err.field(field).is_some(), "{field}: {err:?}");
        }
        assert_eq!(err.field("quiet_not_before"), None);
    }

    #[test]
    fn an_end_at_or_before_the_start_is_refused_with_its_reason() {
        for (start, end) in [("17:00", "08:00"), ("09:00", "09:00")] {
            let err = CallingWindow::parse(&CallingWindowText {
                days: "mon",
                start,
                end,
                ..Default::default()
            })
            .unwrap_err();
            let message = err.field("end").expect("the end is named");
            assert!(message.contains("must end after it starts"), "{message}");
            assert!(message.contains("across midnight"), "{message}");
        }
        let err = CallingWindow::parse(&CallingWindowText {
            days: "mon",
            start: "09:00",
            end: "17:00",
            quiet_not_before: Some("21:00"),
            quiet_not_after: Some("08:00"),
        })
        .unwrap_err();
        assert!(err.field("quiet_not_after").is_some(), "{err:?}");
        let err = CallingWindow::parse(&CallingWindowText {
            days: "",
            start: "09:00",
            end: "17:00",
            ..Default::default()
        })
        .unwrap_err();
        assert!(err
            .field("days")
            .is_some_and(|m| m.contains("at least one day")));
    }

    #[test]
    fn it_round_trips_through_json_and_refuses_bad_json() {
        let w = window("mon-fri", "09:00", "17:30");
        let json = serde_json::to_value(w).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "days": ["mon", "tue", "wed", "thu", "fri"],
                "start": "09:00",
                "end": "17:30",
                "quiet_hours": {"not_before": "08:00", "not_after": "21:00"}
            })
        );
        assert_eq!(serde_json::from_value::<CallingWindow>(json).unwrap(), w);
        // Quiet hours may be left out: the default.
        let short: CallingWindow = serde_json::from_str(
            r#"{"days":["mon","tue","wed","thu","fri"],"start":"09:00","end":"17:30"}"#,
        )
        .unwrap();
        assert_eq!(short, w);
        for bad in [
            r#"{"days":["mon"],"start":"17:00","end":"09:00"}"#,
            r#"{"days":["someday"],"start":"09:00","end":"17:00"}"#,
            r#"{"days":["mon"],"start":"9","end":"17:00"}"#,
            r#"{"days":["mon"],"start":"09:00","end":"17:00","quiet_hours":{"not_before":"21:00","not_after":"08:00"}}"#,
        ] {
            assert!(serde_json::from_str::<CallingWindow>(bad).is_err(), "{bad}");
        }
    }

    // -- Opening and closing --------------------------------------------------------------

    #[test]
    fn quiet_hours_narrow_the_window() {
        let w = window("mon-sun", "07:00", "22:00");
        let tz = Europe::London;
        // 2026-06-10 is a Wednesday; London is on BST (UTC+1).
        assert!(!w.allowed(utc("2026-06-10T06:59:59Z"), tz)); // 07:59:59 local
        assert!(w.allowed(utc("2026-06-10T07:00:00Z"), tz)); // 08:00 local
        assert!(w.allowed(utc("2026-06-10T19:59:59Z"), tz)); // 20:59:59 local
        assert!(!w.allowed(utc("2026-06-10T20:00:00Z"), tz)); // 21:00 local: refused
        assert_eq!(
            w.next_open(utc("2026-06-10T20:00:00Z"), tz),
            Some(utc("2026-06-11T07:00:00Z"))
        );
    }

    #[test]
    fn it_waits_for_the_next_allowed_day() {
        let w = window("mon-fri", "09:00", "17:30");
        let tz = America::New_York;
        // Friday 2026-06-12 18:00 EDT → Monday 09:00 EDT.
        assert_eq!(
            w.next_open(utc("2026-06-12T22:00:00Z"), tz),
            Some(utc("2026-06-15T13:00:00Z"))
        );
        // At 17:30 it is closed; a second before it is open.
        assert!(w.allowed(utc("2026-06-12T21:29:59Z"), tz));
        assert!(!w.allowed(utc("2026-06-12T21:30:00Z"), tz));
        // Open: now.
        let now = utc("2026-06-12T14:12:13.5Z");
        assert_eq!(w.next_open(now, tz), Some(now));
    }

    #[test]
    fn a_window_starting_in_a_skipped_hour_opens_when_the_clocks_land() {
        // New York, Sunday 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00 UTC).
        let tz = America::New_York;
        let w = no_quiet("sun", "02:30", "04:00");
        assert_eq!(
            w.next_open(utc("2026-03-07T17:00:00Z"), tz),
            Some(utc("2026-03-08T07:00:00Z")) // 03:00 EDT
        );
        // 03:00–04:00 EDT is all of it that day: an hour.
        assert_eq!(
            w.open_seconds_between(utc("2026-03-08T00:00:00Z"), utc("2026-03-09T00:00:00Z"), tz),
            3600
        );
        // A window wholly inside the skipped hour does not open that day: a week later.
        let gone = no_quiet("sun", "02:00", "02:30");
        assert_eq!(
            gone.next_open(utc("2026-03-07T17:00:00Z"), tz),
            Some(utc("2026-03-15T06:00:00Z")) // 02:00 EDT
        );
    }

    #[test]
    fn a_window_in_a_repeated_hour_is_open_both_times() {
        // New York, Sunday 2026-11-01: 02:00 EDT falls back to 01:00 EST (06:00 UTC).
        let tz = America::New_York;
        let w = no_quiet("sun", "01:00", "01:30");
        // First time round: 01:00 EDT = 05:00 UTC.
        assert_eq!(
            w.next_open(utc("2026-11-01T04:00:00Z"), tz),
            Some(utc("2026-11-01T05:00:00Z"))
        );
        // After it closed (01:40 EDT), it opens again at 01:00 EST.
        assert_eq!(
            w.next_open(utc("2026-11-01T05:40:00Z"), tz),
            Some(utc("2026-11-01T06:00:00Z"))
        );
        assert_eq!(
            w.open_seconds_between(utc("2026-11-01T00:00:00Z"), utc("2026-11-02T00:00:00Z"), tz),
            3600
        );
        // The clocks falling back into the middle of a window reopen it at once.
        let late = no_quiet("sun", "00:30", "01:30");
        assert_eq!(
            late.next_open(utc("2026-11-01T05:40:00Z"), tz), // 01:40 EDT
            Some(utc("2026-11-01T06:00:00Z"))                // 01:00 EST
        );
    }

    #[test]
    fn a_day_has_23_or_25_hours_at_the_changes() {
        let tz = Europe::London;
        let all = no_quiet("sun", "00:00", "24:00");
        // 2026-03-29 and 2026-10-25 are Sundays; London changes at 01:00 UTC.
        assert_eq!(
            all.open_seconds_between(utc("2026-03-28T00:00:00Z"), utc("2026-03-30T00:00:00Z"), tz),
            23 * 3600
        );
        assert_eq!(
            all.open_seconds_between(utc("2026-10-24T00:00:00Z"), utc("2026-10-27T00:00:00Z"), tz),
            25 * 3600
        );
    }

    #[test]
    fn a_window_that_never_opens_has_no_next_open() {
        let tz = Europe::Paris;
        let empty = CallingWindow::new(
            Weekdays::NONE,
            LocalTime(540),
            LocalTime(600),
            QuietHours::default(),
        )
        .unwrap();
        assert_eq!(empty.next_open(utc("2026-06-10T12:00:00Z"), tz), None);
        // Before quiet hours end in the same zone: never.
        let dawn = window("mon-sun", "05:00", "07:30");
        assert_eq!(dawn.next_open(utc("2026-06-10T12:00:00Z"), tz), None);
        assert_eq!(
            dawn.open_seconds_between(utc("2026-06-10T00:00:00Z"), utc("2026-07-10T00:00:00Z"), tz),
            0
        );
        // The same window in New York suits a caller in Paris (11:00–13:30 there).
        let zones = Zones {
            window: America::New_York,
            callee: tz,
        };
        assert_eq!(
            dawn.next_open_in(utc("2026-06-10T12:00:00Z"), zones),
            Some(utc("2026-06-11T09:00:00Z")) // 05:00 EDT, 11:00 CEST
        );
    }

    #[test]
    fn quiet_hours_follow_the_callee_when_the_window_is_the_campaigns() {
        // Window 09:00–17:00 New York; callee in London, quiet 08:00–21:00 there. In June
        // London is 5 hours ahead: 21:00 London is 16:00 New York.
        let w = window("mon-fri", "09:00", "17:00");
        let zones = Zones {
            window: America::New_York,
            callee: Europe::London,
        };
        let at = utc("2026-06-10T20:30:00Z"); // 16:30 EDT, 21:30 BST
        assert!(!w.allowed_in(at, zones));
        assert!(w.allowed(at, America::New_York));
        assert_eq!(
            w.next_open_in(at, zones),
            Some(utc("2026-06-11T13:00:00Z")) // 09:00 EDT, 14:00 BST
        );
        // Each weekday: 09:00–16:00 New York.
        assert_eq!(
            w.open_seconds_between_in(
                utc("2026-06-08T04:00:00Z"),
                utc("2026-06-15T04:00:00Z"),
                zones
            ),
            5 * 7 * 3600
        );
    }

    #[test]
    fn open_seconds_count_only_the_window() {
        let w = window("mon-fri", "09:00", "17:30");
        let tz = Asia::Kolkata;
        // A week from Monday 00:00 IST: five days of 8.5 hours.
        let from = utc("2026-06-07T18:30:00Z");
        assert_eq!(
            w.open_seconds_between(from, from + Duration::days(7), tz),
            5 * 8 * 3600 + 5 * 1800
        );
        // Ends inside a window: only what came before it.
        assert_eq!(
            w.open_seconds_between(from, utc("2026-06-08T04:30:00Z"), tz), // 10:00 IST
            3600
        );
        assert_eq!(w.open_seconds_between(from, from, tz), 0);
        assert_eq!(
            w.open_seconds_between(from + Duration::days(1), from, tz),
            0
        );
    }

    // -- Properties -----------------------------------------------------------------------

    const ZONES: [Tz; 8] = [
        America::New_York,
        Europe::London,
        Australia::Lord_Howe, // half-hour daylight saving
        America::St_Johns,    // -03:30
        Asia::Kolkata,
        Pacific::Chatham, // +12:45 / +13:45
        America::Santiago,
        Australia::Sydney,
    ];

    fn arb_window() -> impl Strategy<Value = CallingWindow> {
        (
            1u8..=127,
            0u16..1440,
            1u16..=1440,
            0u16..1440,
            1u16..=1440,
            any::<bool>(),
        )
            .prop_map(|(days, a, b, qa, qb, quiet)| {
                let (start, end) = if a < b {
                    (a, b)
                } else {
                    (b.min(1439), (a + 1).min(1440))
                };
                let (start, end) = if start < end {
                    (start, end)
                } else {
                    (start, start + 1)
                };
                let hours = if quiet && qa < qb {
                    QuietHours::new(LocalTime(qa), LocalTime(qb)).unwrap_or_default()
                } else {
                    QuietHours::new(LocalTime::MIDNIGHT, LocalTime::END_OF_DAY).unwrap_or_default()
                };
                CallingWindow::new(Weekdays(days), LocalTime(start), LocalTime(end), hours)
                    .unwrap_or_else(|_| CallingWindow::always())
            })
    }

    fn arb_zones() -> impl Strategy<Value = Zones> {
        (0..ZONES.len(), 0..ZONES.len(), any::<bool>()).prop_map(|(a, b, same)| Zones {
            window: ZONES[a],
            callee: if same { ZONES[a] } else { ZONES[b] },
        })
    }

    /// Zones and an instant from 2020 to 2035, to the nanosecond; three times in four
    /// within two days before one of the zones' offset changes.
    fn arb_case() -> impl Strategy<Value = (Zones, DateTime<Utc>)> {
        (
            arb_zones(),
            1_577_836_800i64..2_082_758_400,
            0u32..1_000_000_000,
            0u8..4,
            0i64..(2 * 86_400),
        )
            .prop_map(|(zones, second, nanos, pick, before)| {
                let base = DateTime::from_timestamp(second, nanos).unwrap_or_default();
                let zone = if pick % 2 == 0 {
                    zones.window
                } else {
                    zones.callee
                };
                let near = (pick > 0)
                    .then(|| next_offset_change(base, base + Duration::days(366), zone))
                    .flatten()
                    .map(|change| {
                        change - Duration::seconds(before) + Duration::nanoseconds(nanos.into())
                    });
                (zones, near.unwrap_or(base))
            })
    }

    /// No allowed instant lies in `[from, until)`: every minute boundary and a few
    /// random seconds in between are checked.
    fn none_allowed_before(
        w: &CallingWindow,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        zones: Zones,
    ) -> Result<(), TestCaseError> {
        let first_minute = from.timestamp().div_euclid(60) * 60 + 60;
        let mut minute = first_minute;
        let mut checked = 0;
        while minute < until.timestamp() && checked < 20_000 {
            let t = DateTime::from_timestamp(minute, 0).unwrap_or_default();
            prop_assert!(!w.allowed_in(t, zones), "{t} is allowed, before {until}");
            minute += 60;
            checked += 1;
        }
        prop_assert!(!w.allowed_in(from, zones));
        let just_before = until - Duration::seconds(1);
        if just_before > from {
            prop_assert!(
                !w.allowed_in(just_before, zones),
                "{just_before} is allowed"
            );
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn next_open_is_allowed_and_nothing_earlier_is(
            w in arb_window(),
            (zones, at) in arb_case(),
        ) {
            match w.next_open_in(at, zones) {
                Some(open) => {
                    prop_assert!(open >= at);
                    prop_assert!(w.allowed_in(open, zones), "{open} is not allowed");
                    if open > at {
                        none_allowed_before(&w, at, open, zones)?;
                    }
                }
                None => {
                    // Never within the horizon: a fortnight of minutes says so too.
                    none_allowed_before(&w, at, at + Duration::days(14), zones)?;
                }
            }
        }

        #[test]
        fn an_allowed_instant_is_its_own_next_open(
            w in arb_window(),
            (zones, at) in arb_case(),
        ) {
            if w.allowed_in(at, zones) {
                prop_assert_eq!(w.next_open_in(at, zones), Some(at));
            }
        }

        #[test]
        fn open_seconds_agree_with_counting_minutes(
            w in arb_window(),
            (zones, at) in arb_case(),
        ) {
            // Whole minutes: every boundary of a window and every offset change of these
            // zones falls on one.
            let from = DateTime::from_timestamp(at.timestamp().div_euclid(60) * 60, 0).unwrap_or_default();
            let to = from + Duration::days(3);
            let mut minutes = 0;
            let mut t = from;
            while t < to {
                if w.allowed_in(t, zones) {
                    minutes += 1;
                }
                t += Duration::minutes(1);
            }
            prop_assert_eq!(w.open_seconds_between_in(from, to, zones), minutes * 60);
        }
    }
}
