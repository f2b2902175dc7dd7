//! What may be dialled now, checked for each contact at the moment of dialling:
//!
//! - the calling window, read in the contact's own time zone when its number settles it
//!   and the campaign uses contacts' zones, else in the campaign's; quiet hours always in
//!   the callee's local time, the campaign's zone standing in when the number does not
//!   settle it (`server::calling_window` does the time arithmetic);
//! - the do-not-call list (checked again here, whatever the import saw);
//! - the daily cap: attempts on one number since its local midnight, across campaigns.

use crate::server::calling_window::Zones;
use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

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
    /// The carrier refused the last try for its call rate (SIP 503); it is tried again.
    CarrierRate,
}

impl Wait {
    pub fn as_str(self) -> &'static str {
        match self {
            Wait::Hours => "outside the calling hours",
            Wait::DailyCap => "the daily limit of attempts on this number",
            Wait::CarrierRate => "the carrier refused the call for its call rate (SIP 503)",
        }
    }
}

/// The zones a contact's window and quiet hours are read in.
pub fn zones(contact_zone: Option<&str>, campaign_zone: Tz, use_contact_zone: bool) -> Zones {
    let callee = contact_zone
        .and_then(|z| z.parse::<Tz>().ok())
        .unwrap_or(campaign_zone);
    Zones {
        window: if use_contact_zone {
            callee
        } else {
            campaign_zone
        },
        callee,
    }
}

/// The first local midnight after `at` (when a number's daily cap starts again).
pub fn next_midnight(at: DateTime<Utc>, zone: Tz) -> DateTime<Utc> {
    let tomorrow = at.with_timezone(&zone).date_naive() + Duration::days(1);
    zone.from_local_datetime(&tomorrow.and_time(NaiveTime::MIN))
        .earliest()
        .map_or(at + Duration::days(1), |t| t.with_timezone(&Utc))
}

/// The last local midnight at or before `at` (where a number's day began).
pub fn last_midnight(at: DateTime<Utc>, zone: Tz) -> DateTime<Utc> {
    let today = at.with_timezone(&zone).date_naive();
    zone.from_local_datetime(&today.and_time(NaiveTime::MIN))
        .earliest()
        .map_or(at - Duration::days(1), |t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .expect("a time")
    }

    #[test]
    fn a_numbers_day_runs_from_its_own_midnight() {
        let ny: Tz = "America/New_York".parse().expect("zone");
        // 2026-11-30 03:00 UTC is 22:00 on the 29th in New York.
        let at = utc("2026-11-30T03:00:00Z");
        assert_eq!(last_midnight(at, ny), utc("2026-11-29T05:00:00Z"));
        assert_eq!(next_midnight(at, ny), utc("2026-11-30T05:00:00Z"));
        // Across the spring change (2027-03-14), the next day starts at 04:00 UTC.
        assert_eq!(
            next_midnight(utc("2027-03-14T12:00:00Z"), ny),
            utc("2027-03-15T04:00:00Z")
        );
    }

    #[test]
    fn a_contacts_zone_is_used_only_when_known_and_wanted() {
        let ny: Tz = "America/New_York".parse().expect("zone");
        let la: Tz = "America/Los_Angeles".parse().expect("zone");
        assert_eq!(
            zones(Some("America/Los_Angeles"), ny, true),
            Zones {
                window: la,
                callee: la
            }
        );
        // Quiet hours stay the callee's even when the window is the campaign's.
        assert_eq!(
            zones(Some("America/Los_Angeles"), ny, false),
            Zones {
                window: ny,
                callee: la
            }
        );
        assert_eq!(zones(None, ny, true), Zones::one(ny));
        assert_eq!(zones(Some("Not/AZone"), ny, true), Zones::one(ny));
    }
}
