//! A contact's time zone from its number (placeholder until the generated table lands).

/// The zone a number's country or region determines for sure, if any.
pub fn zone_of(_number: &crate::phone::E164) -> Option<chrono_tz::Tz> {
    None
}
