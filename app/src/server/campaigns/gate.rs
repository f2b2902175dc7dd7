//! What may be dialled now: checked for each contact at the moment of dialling.
//!
//! - the calling window (days and hours) and the quiet hours, in the contact's own time
//!   zone when its number says it for sure and the campaign uses contacts' zones, else in
//!   the campaign's;
//! - the do-not-call list (checked again here, whatever the import saw);
//! - the daily cap: attempts on one number since its local midnight, across campaigns.

use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

/// When calls may start, in local time: weekdays (bit 0 Monday) and the window's and the
/// quiet hours' minutes of the day, each `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hours {
    pub days: u8,
    pub window: (u32, u32),
    pub quiet: (u32, u32),
}

impl Hours {
    /// The minutes of a day calls may start: the window within the quiet hours.
    fn span(&self) -> Option<(u32, u32)> {
        let start = self.window.0.max(self.quiet.0);
        let end = self.window.1.min(self.quiet.1);
        (start < end).then_some((start, end))
    }

    fn day_allowed(&self, weekday: chrono::Weekday) -> bool {
        self.days & (1 << weekday.num_days_from_monday()) != 0
    }

    /// Whether a call may start at `at` in `zone`.
    pub fn allows(&self, at: DateTime<Utc>, zone: Tz) -> bool {
        let local = at.with_timezone(&zone);
        let minute = local.time().num_seconds_from_midnight() / 60;
        self.day_allowed(local.weekday())
            && self
                .span()
                .is_some_and(|(start, end)| (start..end).contains(&minute))
    }

    /// The first instant from `at` on when a call may start (`at` itself when it may),
    /// or `None` when no day allows calls. A window that opens in an hour a clock change
    /// skips opens when the clock resumes.
    pub fn next_open(&self, at: DateTime<Utc>, zone: Tz) -> Option<DateTime<Utc>> {
        if self.allows(at, zone) {
            return Some(at);
        }
        let (start, end) = self.span()?;
        let today = at.with_timezone(&zone).date_naive();
        for offset in 0..=8 {
            let day = today + Duration::days(offset);
            if !self.day_allowed(day.weekday()) {
                continue;
            }
            // The first local minute of the span that exists on that day.
            for minute in (start..end).step_by(15).chain(std::iter::once(end - 1)) {
                let Some(time) = NaiveTime::from_num_seconds_from_midnight_opt(minute * 60, 0)
                else {
                    continue;
                };
                if let Some(open) = zone.from_local_datetime(&day.and_time(time)).earliest() {
                    let open = open.with_timezone(&Utc);
                    if open > at {
                        return Some(open);
                    }
                    break;
                }
            }
        }
        None
    }

    /// Seconds calls may start in a week (the preflight's estimate).
    pub fn open_seconds_per_week(&self) -> u64 {
        let days = u64::from(self.days.count_ones().min(7));
        self.span().map_or(0, |(s, e)| days * u64::from(e - s) * 60)
    }

    /// The next local midnight after `at` (when a number's daily cap resets).
    pub fn next_midnight(at: DateTime<Utc>, zone: Tz) -> DateTime<Utc> {
        let tomorrow = at.with_timezone(&zone).date_naive() + Duration::days(1);
        zone.from_local_datetime(&tomorrow.and_time(NaiveTime::MIN))
            .earliest()
            .map_or(at + Duration::days(1), |t| t.with_timezone(&Utc))
    }

    /// The last local midnight at or before `at`.
    pub fn last_midnight(at: DateTime<Utc>, zone: Tz) -> DateTime<Utc> {
        let today = at.with_timezone(&zone).date_naive();
        zone.from_local_datetime(&today.and_time(NaiveTime::MIN))
            .earliest()
            .map_or(at - Duration::days(1), |t| t.with_timezone(&Utc))
    }
}

/// Why a contact is done without being called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    DoNotCall,
    Cancelled,
}

impl Skip {
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::DoNotCall => "do_not_call",
            Skip::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Skip> {
        match text {
            "do_not_call" => Some(Skip::DoNotCall),
            "cancelled" => Some(Skip::Cancelled),
            _ => None,
        }
    }
}

/// Why a contact waits, in words for the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Outside the calling window or within the quiet hours.
    Hours,
    /// The number had its attempts for today.
    DailyCap,
}

impl Wait {
    pub fn as_str(self) -> &'static str {
        match self {
            Wait::Hours => "outside the calling hours",
            Wait::DailyCap => "the daily limit of attempts on this number",
        }
    }
}

/// The zone a contact's hours are judged in.
pub fn zone_for(contact_zone: Option<&str>, campaign_zone: Tz, use_contact_zone: bool) -> Tz {
    contact_zone
        .filter(|_| use_contact_zone)
        .and_then(|z| z.parse().ok())
        .unwrap_or(campaign_zone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn weekdays_9_to_17() -> Hours {
        Hours {
            days: 0b0011111,
            window: (9 * 60, 17 * 60),
            quiet: (8 * 60, 21 * 60),
        }
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .expect("a time")
    }

    #[test]
    fn a_window_is_read_in_the_zone_it_names() {
        let hours = weekdays_9_to_17();
        let ny: Tz = "America/New_York".parse().expect("zone");
        // Monday 2026-11-30 14:00 UTC is 09:00 in New York.
        assert!(hours.allows(utc("2026-11-30T14:00:00Z"), ny));
        assert!(!hours.allows(utc("2026-11-30T13:59:00Z"), ny));
        assert_eq!(
            hours.next_open(utc("2026-11-30T03:00:00Z"), ny),
            Some(utc("2026-11-30T14:00:00Z"))
        );
        // Friday after hours: Monday morning.
        assert_eq!(
            hours.next_open(utc("2026-12-04T23:00:00Z"), ny),
            Some(utc("2026-12-07T14:00:00Z"))
        );
    }

    #[test]
    fn quiet_hours_narrow_the_window() {
        let hours = Hours {
            days: 0x7f,
            window: (6 * 60, 23 * 60),
            quiet: (8 * 60, 21 * 60),
        };
        let london: Tz = "Europe/London".parse().expect("zone");
        assert!(!hours.allows(utc("2026-11-30T07:30:00Z"), london));
        assert!(hours.allows(utc("2026-11-30T08:00:00Z"), london));
        assert!(!hours.allows(utc("2026-11-30T21:00:00Z"), london));
        assert_eq!(hours.open_seconds_per_week(), 7 * 13 * 3600);
    }

    #[test]
    fn a_window_in_a_skipped_hour_opens_when_the_clock_resumes() {
        // 2027-03-14: New York skips 02:00–03:00.
        let hours = Hours {
            days: 0x7f,
            window: (2 * 60 + 30, 4 * 60),
            quiet: (0, 24 * 60),
        };
        let ny: Tz = "America/New_York".parse().expect("zone");
        let open = hours
            .next_open(utc("2027-03-14T05:00:00Z"), ny)
            .expect("opens");
        assert!(hours.allows(open, ny));
        assert_eq!(open, utc("2027-03-14T07:00:00Z"));
    }

    #[test]
    fn no_day_no_opening() {
        let hours = Hours {
            days: 0,
            ..weekdays_9_to_17()
        };
        assert_eq!(
            hours.next_open(utc("2026-11-30T12:00:00Z"), chrono_tz::UTC),
            None
        );
    }

    proptest! {
        #[test]
        fn next_open_is_open_and_nothing_earlier_is(
            start in 1_700_000_000i64..1_900_000_000,
            days in 1u8..128,
            ws in 0u32..1400, len in 1u32..600,
            zone in prop::sample::select(vec!["America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]),
        ) {
            let zone: Tz = zone.parse().expect("zone");
            let hours = Hours { days, window: (ws, (ws + len).min(1440)), quiet: (0, 1440) };
            let at = DateTime::from_timestamp(start, 0).expect("time");
            let open = hours.next_open(at, zone).expect("some day is allowed");
            prop_assert!(open >= at);
            prop_assert!(hours.allows(open, zone) || open == at);
            // Nothing allowed strictly between, sampled every 7 minutes.
            let mut t = at;
            while t < open {
                prop_assert!(!hours.allows(t, zone));
                t += Duration::minutes(7);
            }
        }
    }
}
