#!/usr/bin/env python3
"""Generates app/src/server/time_zones/table.rs: the time zone a phone number is in, by
the longest prefix of its digits, where the number alone determines it.

Run it by hand to refresh the data (the build and the tests never run it):

    python3 -m venv /tmp/tz-venv
    /tmp/tz-venv/bin/pip install phonenumbers==9.0.43 tzdata==2025.2 regex==2026.11.15
    /tmp/tz-venv/bin/python scripts/gen-time-zones.py > app/src/server/time_zones/table.rs

Sources:
- `phonenumbers` (PyPI; David Drysdale's Python port of Google's libphonenumber,
  Apache-2.0): the time-zone metadata (`phonenumbers.tzdata.TIMEZONE_DATA`: a prefix of
  country code and national digits → the zones of the numbers under it, longest prefix
  first) and the number metadata (each region's patterns for fixed-line, mobile,
  toll-free, ... numbers, and the leading digits that pick a region under a shared
  country code).
- `tzdata` (PyPI; the IANA time zone database, public domain): its links (`tzdata.zi`,
  `L TARGET NAME`: Europe/Jersey is Europe/London) and `zone.tab` (the zones of each
  country). 2025.2 is IANA 2025b, the release chrono-tz 0.10.4 compiles in.

What a number's zone is, after libphonenumber (`phonenumbers/timezone.py`,
`time_zones_for_number`):
- a geographic number (fixed line; a mobile number where mobile and fixed-line numbers
  share one pattern, or where mobile numbers are assigned by place: China, Mexico,
  Argentina, Brazil, Indonesia) is in the zones of its longest prefix in the time-zone
  metadata;
- any other number (a mobile elsewhere, toll-free, premium, shared cost, VoIP, personal,
  pager, UAN, voicemail) is in the zones of its country. libphonenumber takes the zones
  of the country *code* (all of North America's for +1); this takes the zones of the
  number's region (tzdb `zone.tab`), which the country code's leading digits decide: a
  Dominican mobile number is in America/Santo_Domingo, not "somewhere on +1".
A number has a zone when those zones are one zone (zones linked to one zone are one).

A prefix gets a zone when every number that can start with it (by the patterns, with the
lengths an `E164` can have) has that zone; a prefix whose numbers differ is split into
longer prefixes, down to DEEPEST digits, and is undecided (no zone) where they still
differ. The patterns are tested on prefixes (`regex` partial matching), which can only
find more kinds of number under a prefix than there are: a prefix is left undecided
more often than needed, never given a zone some of its numbers are not in.

The table is then made compact without changing an answer (an entry that gives what the
entry above it gives is left out), and checked: on libphonenumber's example numbers of
every region and type and random valid numbers near them, the table never names a zone
other than the number's own.
"""

import importlib.resources
import random
import sys

import phonenumbers
import regex
import tzdata
from phonenumbers import PhoneMetadata, PhoneNumberType, timezone
from phonenumbers.phonenumberutil import _GEO_MOBILE_COUNTRIES, is_number_type_geographical
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

# How long a prefix may grow while its numbers' zones still differ.
DEEPEST = 9

# The number types libphonenumber never places (`_number_type_helper` tries them before
# fixed line and mobile; `is_number_type_geographical`).
NON_GEOGRAPHIC = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number",
                  "pager", "uan", "voicemail")


def tzdata_text(name):
    return importlib.resources.files("tzdata").joinpath("zoneinfo/" + name).read_text()


LINKS = {}
for _line in tzdata_text("tzdata.zi").splitlines():
    if _line.startswith("L "):
        _, _target, _name = _line.split()
        LINKS[_name] = _target

COUNTRY_ZONES = {}
for _line in tzdata_text("zone.tab").splitlines():
    if _line and not _line.startswith("#"):
        _fields = _line.split("\t")
        COUNTRY_ZONES.setdefault(_fields[0], []).append(_fields[2])


def canonical(zone):
    seen = set()
    while zone in LINKS and zone not in seen:
        seen.add(zone)
        zone = LINKS[zone]
    return zone


def one_zone(zones):
    """The one zone `zones` name, or None."""
    zones = [z for z in (zones or ()) if z != timezone.UNKNOWN_TIMEZONE]
    if not zones:
        return None
    if len(zones) == 1:
        return zones[0]
    targets = {canonical(z) for z in zones}
    return targets.pop() if len(targets) == 1 else None


def region_zone(region):
    return one_zone(COUNTRY_ZONES.get(region))


KEYS = sorted(TIMEZONE_DATA)


def prefix_zone(digits):
    """libphonenumber's zones of a geographic number (`time_zones_for_geographical_number`)."""
    for length in range(min(len(digits), TIMEZONE_LONGEST_PREFIX), 0, -1):
        if digits[:length] in TIMEZONE_DATA:
            return one_zone(TIMEZONE_DATA[digits[:length]])
    return None


def prefix_zones_below(digits):
    """The zones of the time-zone metadata's prefixes longer than `digits` under it."""
    import bisect
    out = set()
    i = bisect.bisect_right(KEYS, digits)
    while i < len(KEYS) and KEYS[i].startswith(digits):
        out.add(one_zone(TIMEZONE_DATA[KEYS[i]]))
        i += 1
    return out


def compiled(patterns):
    return regex.compile("(?:" + "|".join(patterns) + ")") if patterns else None


def may_start(pattern, national):
    return pattern is not None and pattern.fullmatch(national, partial=True) is not None


class Region:
    """One region under a country code: what picks it, and its kinds of number."""

    def __init__(self, cc, code, meta):
        self.code = code
        # libphonenumber's zone for a number it cannot place: its country code's, when
        # that is one; else, here, its region's.
        self.zone = one_zone(TIMEZONE_DATA.get(str(cc))) or region_zone(code)
        # libphonenumber `_region_code_for_number_from_list`: a region's leading digits
        # pick it; a region without them is picked by a valid number.
        self.leading = regex.compile(meta.leading_digits) if meta.leading_digits else None
        self.general = compiled([meta.general_desc.national_number_pattern])
        if cc == 1:
            reachable = {10}
        else:
            reachable = set(range(8 - len(str(cc)), 16 - len(str(cc))))

        def pattern(desc):
            # A kind of number none of whose lengths an `E164` can have (app/src/phone.rs:
            # 8 to 15 digits with the country code; +1 and 10 digits): Canada's 7-digit
            # UAN numbers, dialled locally, never reach Dial.
            if desc is None or not desc.national_number_pattern:
                return None
            own = set(desc.possible_length or meta.general_desc.possible_length or ()) - {-1}
            if own and not own & reachable:
                return None
            return desc.national_number_pattern

        geo, nongeo = [], []
        for name in NON_GEOGRAPHIC:
            if pattern(getattr(meta, name)):
                nongeo.append(pattern(getattr(meta, name)))
        if pattern(meta.fixed_line):
            geo.append(pattern(meta.fixed_line))
        if pattern(meta.mobile):
            # A mobile number is placed where it shares the fixed-line pattern
            # (FIXED_LINE_OR_MOBILE) or the country assigns mobiles by place. A number
            # matching both patterns is placed too, but counting it here as not placed
            # can only leave a prefix undecided.
            if meta.same_mobile_and_fixed_line_pattern or cc in _GEO_MOBILE_COUNTRIES:
                geo.append(pattern(meta.mobile))
            else:
                nongeo.append(pattern(meta.mobile))
        self.geo = compiled(geo)
        self.nongeo = compiled(nongeo)

    def may_pick(self, national):
        if self.leading is not None:
            return self.leading.match(national, partial=True) is not None
        return may_start(self.general, national)


def regions_of(cc):
    out = []
    for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(cc, ()):
        meta = (PhoneMetadata.metadata_for_nongeo_region(cc) if code == "001"
                else PhoneMetadata.metadata_for_region(code))
        if meta is not None:
            out.append(Region(cc, code, meta))
    return out


def decide(cc, regions, digits, out):
    """Fills `out` with prefixes under `digits`, each with the zone of every number under
    it (None: its numbers are in several zones, or in none known)."""
    national = digits[len(str(cc)):]
    zones = set()
    for region in regions:
        if not region.may_pick(national):
            continue
        if may_start(region.nongeo, national):
            zones.add(region.zone)
        if may_start(region.geo, national):
            zones.add(prefix_zone(digits))
            zones.update(prefix_zones_below(digits))
    if not zones:
        return  # no valid number starts so: what the table says is never asked
    canonical_zones = {canonical(z) if z else None for z in zones}
    if len(canonical_zones) == 1:
        # The name the metadata gives when it gives one (Europe/Jersey), else the zone.
        out[digits] = zones.pop() if len(zones) == 1 else canonical_zones.pop()
        return
    if len(digits) >= DEEPEST:
        out[digits] = None
        return
    for d in "0123456789":
        decide(cc, regions, digits + d, out)


def lookup(table, digits, longest):
    for length in range(min(len(digits), longest), 0, -1):
        if digits[:length] in table:
            return table[digits[:length]]
    return None


def can_be_e164(digits):
    """What app/src/phone.rs accepts: 8 to 15 digits; +1 and 10 more."""
    if digits.startswith("1"):
        return len(digits) == 11
    return 8 <= len(digits) <= 15


def own_zone(number):
    """The zone of a valid number, by the rules above (None: several or unknown)."""
    kind = phonenumbers.number_type(number)
    if is_number_type_geographical(kind, number.country_code):
        return one_zone(timezone.time_zones_for_geographical_number(number))
    return (one_zone(TIMEZONE_DATA.get(str(number.country_code)))
            or region_zone(phonenumbers.region_code_for_number(number)))


def check(table, longest):
    """Returns (numbers checked, undecided though placed, placed where libphonenumber's
    `time_zones_for_number` is not sure); exits on any zone that is not the number's."""
    rng = random.Random(14)
    checked = undecided = beyond = 0
    kinds = [getattr(PhoneNumberType, name.upper()) for name in
             NON_GEOGRAPHIC + ("fixed_line", "mobile")]
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in kinds:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            base = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)[1:]
            cc_len = len(str(example.country_code))
            candidates = [base]
            for _ in range(60):
                digits = list(base)
                for i in rng.sample(range(cc_len, len(digits)), k=min(3, len(digits) - cc_len)):
                    digits[i] = rng.choice("0123456789")
                candidates.append("".join(digits))
            for digits in candidates:
                number = phonenumbers.parse("+" + digits)
                if not phonenumbers.is_valid_number(number) or not can_be_e164(digits):
                    continue
                checked += 1
                ours = lookup(table, digits, longest)
                theirs = own_zone(number)
                if ours is not None and canonical(ours) != canonical(theirs or ""):
                    sys.exit(f"+{digits}: the table says {ours}, the number is in {theirs}")
                if ours is None and theirs is not None:
                    undecided += 1
                if ours is not None and one_zone(timezone.time_zones_for_number(number)) is None:
                    beyond += 1
    return checked, undecided, beyond


def main():
    full = {}
    for cc in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE):
        decide(cc, regions_of(cc), str(cc), full)
    longest = max(len(p) for p in full)

    compact = {}
    for prefix in sorted(full, key=lambda p: (len(p), p)):
        inherited = lookup(compact, prefix[:-1], longest) if len(prefix) > 1 else None
        if full[prefix] != inherited:
            compact[prefix] = full[prefix]
    for prefix in full:
        if lookup(compact, prefix, longest) != full[prefix]:
            sys.exit(f"the compact table answers {prefix} differently")
    checked, undecided, beyond = check(compact, longest)

    decided = sum(1 for z in compact.values() if z is not None)
    zones = sorted({z for z in compact.values() if z is not None})
    index = {z: i for i, z in enumerate(zones)}
    out = sys.stdout
    out.write(
        "// @generated by scripts/gen-time-zones.py: do not edit by hand; run the script.\n"
        "//\n"
        "// Data: libphonenumber's time-zone and number metadata, from the `phonenumbers`\n"
        f"// Python package {phonenumbers.__version__} (Apache License 2.0; Copyright (C) 2011 the\n"
        "// libphonenumber authors), and the IANA time zone database's links and zone.tab\n"
        f"// (public domain), from the `tzdata` Python package (IANA {tzdata.IANA_VERSION}).\n"
        "//\n"
        f"// {len(compact)} prefixes, {decided} with a zone, in {len(zones)} zones. Checked on\n"
        f"// {checked} valid numbers: no zone other than the number's own; {undecided} left\n"
        f"// undecided though their zone is known; {beyond} placed by their region where\n"
        "// libphonenumber names several zones.\n"
        "\n"
        "/// The zones [`PREFIXES`] name, by index.\n"
        "pub(super) static ZONES: &[&str] = &[\n"
    )
    for zone in zones:
        out.write(f'    "{zone}",\n')
    out.write(
        "];\n\n"
        "/// A prefix's zone when numbers under it are in several zones.\n"
        "pub(super) const UNDECIDED: u16 = u16::MAX;\n\n"
        "/// (prefix: the country code and leading national digits as a number, which never\n"
        "/// starts with 0; zone: an index into [`ZONES`], or [`UNDECIDED`]), sorted by prefix.\n"
        "#[rustfmt::skip]\n"
        "pub(super) static PREFIXES: &[(u32, u16)] = &[\n"
    )
    for prefix in sorted(compact, key=int):
        zone = compact[prefix]
        if zone is None:
            out.write(f"    ({prefix}, UNDECIDED),\n")
        else:
            out.write(f"    ({prefix}, {index[zone]}), // {zone}\n")
    out.write("];\n\n/// The most digits a prefix in [`PREFIXES`] has.\n"
              f"pub(super) const LONGEST_PREFIX: usize = {longest};\n")


if __name__ == "__main__":
    main()
