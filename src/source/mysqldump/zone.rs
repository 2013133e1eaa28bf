//! The session time zone a dump's TIMESTAMP literals are written in
//! (docs/architecture.md, "The mysqldump source"). MySQL prints a TIMESTAMP in the
//! session's zone; mysqldump sets `/*!40103 SET TIME_ZONE='+00:00' */` first unless
//! told `--skip-tz-utc`. A dump is read as the server would run it: every
//! `SET TIME_ZONE` (versioned comments are code) changes the zone of the literals that
//! follow; before any, and after `SET TIME_ZONE=@OLD_TIME_ZONE`, the zone is the
//! session's own, which only the pipeline can name (`[source] time_zone`).

use chrono::{FixedOffset, LocalResult, NaiveDateTime, TimeZone};

/// A session time zone as MySQL names it: an offset (`+05:30`) or a named zone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Zone {
    /// `'+05:30'`, `'-08:00'`.
    Offset(FixedOffset),
    /// `'Europe/Amsterdam'`, `'UTC'`.
    Named(chrono_tz::Tz),
}

impl Zone {
    /// Parses MySQL's zone text; None for `SYSTEM` (the server's own, unknowable from
    /// the dump) and for a name that is not an offset or an IANA zone.
    pub fn parse(text: &str) -> Option<Zone> {
        let t = text.trim();
        if let Some(sign @ ('+' | '-')) = t.chars().next() {
            let (h, m) = t[1..].split_once(':')?;
            let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
            if !(0..60).contains(&m) || h > 14 {
                return None;
            }
            let secs = (h * 3600 + m * 60) * if sign == '-' { -1 } else { 1 };
            return FixedOffset::east_opt(secs).map(Zone::Offset);
        }
        t.parse::<chrono_tz::Tz>().ok().map(Zone::Named)
    }

    /// Whether literals in this zone are already UTC.
    pub fn is_utc(&self) -> bool {
        match self {
            Zone::Offset(o) => o.local_minus_utc() == 0,
            Zone::Named(z) => matches!(*z, chrono_tz::UTC | chrono_tz::Etc::UTC | chrono_tz::Etc::GMT),
        }
    }

    /// The UTC time of the wall time `wall` in this zone; Err says why there is no single one.
    pub fn to_utc(&self, wall: &NaiveDateTime) -> Result<NaiveDateTime, &'static str> {
        let at = match self {
            Zone::Offset(o) => o.from_local_datetime(wall).map(|t| t.naive_utc()),
            Zone::Named(z) => z.from_local_datetime(wall).map(|t| t.naive_utc()),
        };
        match at {
            LocalResult::Single(t) => Ok(t),
            LocalResult::Ambiguous(..) => Err("happens twice there (the clocks went back)"),
            LocalResult::None => Err("does not exist there (the clocks went forward)"),
        }
    }
}

impl std::fmt::Display for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Zone::Offset(o) => write!(f, "{o}"),
            Zone::Named(z) => write!(f, "{z}"),
        }
    }
}

/// The zone in effect at a point of the dump.
#[derive(Debug, Clone, PartialEq)]
pub enum ZoneState {
    /// Known: set by the dump, or named by the pipeline.
    Known(Zone),
    /// Not known, and why.
    Unknown(String),
}

impl ZoneState {
    /// The session's zone before the dump says anything: the pipeline's
    /// `[source] time_zone`, else unknown.
    pub fn initial(named: Option<Zone>) -> ZoneState {
        match named {
            Some(z) => ZoneState::Known(z),
            None => ZoneState::Unknown(
                "the dump does not set TIME_ZONE before its data (a --skip-tz-utc dump), so its TIMESTAMP values are \
                 in the zone of the session that wrote it"
                    .into(),
            ),
        }
    }

    /// The zone after `SET time_zone = <value>` (`value` as written: quoted, `@var`,
    /// `DEFAULT`); `initial` is the session's own zone.
    fn after_set(value: &str, initial: &ZoneState) -> ZoneState {
        let v = value.trim();
        if v.starts_with('@') || v.eq_ignore_ascii_case("DEFAULT") {
            return initial.clone();
        }
        let text = v.trim_matches(|c| c == '\'' || c == '"');
        if text.eq_ignore_ascii_case("SYSTEM") {
            return match initial {
                ZoneState::Known(_) => initial.clone(),
                ZoneState::Unknown(_) => {
                    ZoneState::Unknown("the dump sets TIME_ZONE='SYSTEM', the zone of the server that wrote it".into())
                }
            };
        }
        match Zone::parse(text) {
            Some(z) => ZoneState::Known(z),
            None => ZoneState::Unknown(format!(
                "the dump sets TIME_ZONE={v}, which is neither an offset (+05:30) nor an IANA zone name"
            )),
        }
    }

    /// The state after a `SET` statement whose text (after `SET`) is `assignments`.
    pub fn after_statement(&self, assignments: &str, initial: &ZoneState) -> ZoneState {
        match time_zone_assignment(assignments) {
            Some(value) => ZoneState::after_set(&value, initial),
            None => self.clone(),
        }
    }
}

/// The value assigned to the session's time_zone by `SET a = 1, TIME_ZONE = '+00:00'`
/// (the text after `SET`), if any.
fn time_zone_assignment(text: &str) -> Option<String> {
    let mut found = None;
    for part in split_outside_quotes(text) {
        let Some((lhs, rhs)) = part.split_once('=') else { continue };
        let lhs = lhs.trim().trim_end_matches(':').trim().to_ascii_lowercase();
        let name = ["@@session.", "@@local.", "@@", "session ", "local "]
            .iter()
            .find_map(|p| lhs.strip_prefix(p))
            .unwrap_or(&lhs)
            .trim();
        if name == "time_zone" {
            found = Some(rhs.trim().to_string());
        }
    }
    found
}

/// `text` split at the commas outside quotes.
fn split_outside_quotes(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut quote, mut start, mut escaped) = (None, 0, false);
    for (i, c) in text.char_indices() {
        match quote {
            _ if escaped => escaped = false,
            Some(_) if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' || c == '`' => quote = Some(c),
            None if c == ',' => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            None => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// A TIMESTAMP literal's wall time (`YYYY-MM-DD HH:MM:SS[.ffffff]`), None when it is not one.
pub(super) fn parse_wall(bytes: &[u8]) -> Option<NaiveDateTime> {
    let s = std::str::from_utf8(bytes).ok()?;
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_statements_change_the_zone_as_the_server_would() {
        let initial = ZoneState::initial(None);
        let utc = initial.after_statement(" TIME_ZONE='+00:00' ", &initial);
        assert!(matches!(utc, ZoneState::Known(z) if z.is_utc()), "{utc:?}");
        let ist = utc.after_statement("@@session.time_zone = '+05:30'", &initial);
        assert_eq!(ist, ZoneState::Known(Zone::parse("+05:30").unwrap()));
        assert_eq!(ist.after_statement("NAMES utf8mb4", &initial), ist, "other variables leave it");
        assert_eq!(ist.after_statement("TIME_ZONE=@OLD_TIME_ZONE", &initial), initial, "restored: unknown again");
        assert!(matches!(ist.after_statement("time_zone='SYSTEM'", &initial), ZoneState::Unknown(_)));
        assert!(matches!(ist.after_statement("time_zone='Mars/Olympus'", &initial), ZoneState::Unknown(_)));
        let named = ZoneState::initial(Zone::parse("Asia/Kolkata"));
        assert_eq!(named.after_statement("time_zone = 'SYSTEM'", &named), named);
        assert_eq!(
            ist.after_statement("a = 'x,time_zone=1', time_zone := 'Europe/Amsterdam'", &initial),
            ZoneState::Known(Zone::Named(chrono_tz::Europe::Amsterdam))
        );
    }

    #[test]
    fn wall_times_become_utc_or_are_refused_in_a_clock_change() {
        let ist = Zone::parse("+05:30").unwrap();
        let w = parse_wall(b"2024-03-01 05:30:00.250000").unwrap();
        assert_eq!(ist.to_utc(&w).unwrap(), parse_wall(b"2024-03-01 00:00:00.25").unwrap());
        let ams = Zone::parse("Europe/Amsterdam").unwrap();
        assert!(ams.to_utc(&parse_wall(b"2024-10-27 02:30:00").unwrap()).is_err(), "repeated hour");
        assert!(ams.to_utc(&parse_wall(b"2024-03-31 02:30:00").unwrap()).is_err(), "skipped hour");
        assert!(Zone::parse("SYSTEM").is_none() && Zone::parse("+25:00").is_none());
        assert!(Zone::parse("-00:00").unwrap().is_utc() && !ist.is_utc());
    }
}
