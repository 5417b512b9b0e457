use proptest::prelude::*;

use super::*;

fn at(text: &str) -> Timestamp {
    text.parse().expect("a timestamp")
}

fn window(days: &[&str], start: &str, end: &str, tz: &str) -> Window {
    let days: Vec<String> = days.iter().map(|d| (*d).to_owned()).collect();
    Window::parse(&days, start, end, Some(tz)).expect("a valid window")
}

fn open_until(t: &str) -> WindowState {
    WindowState::Open { closes_at: at(t) }
}

fn closed_until(t: &str) -> WindowState {
    WindowState::Closed { opens_at: at(t) }
}

#[test]
fn a_daily_window_is_open_between_its_times_only() {
    let w = window(&[], "01:00", "04:00", "UTC");
    // 2026-12-07 is a Monday.
    assert_eq!(
        w.state(at("2026-12-07T00:59:59Z")),
        closed_until("2026-12-07T01:00:00Z")
    );
    assert_eq!(
        w.state(at("2026-12-07T01:00:00Z")),
        open_until("2026-12-07T04:00:00Z")
    );
    assert_eq!(
        w.state(at("2026-12-07T03:59:59Z")),
        open_until("2026-12-07T04:00:00Z")
    );
    assert_eq!(
        w.state(at("2026-12-07T04:00:00Z")),
        closed_until("2026-12-08T01:00:00Z")
    );
}

#[test]
fn only_the_listed_days_open_in_any_spelling() {
    let w = window(&["Saturday", "sun", "0"], "10:00", "12:00", "UTC");
    // Monday 11:00: closed until Saturday 10:00.
    assert_eq!(
        w.state(at("2026-12-07T11:00:00Z")),
        closed_until("2026-12-12T10:00:00Z")
    );
    assert_eq!(
        w.state(at("2026-12-13T11:00:00Z")),
        open_until("2026-12-13T12:00:00Z")
    );
    // Sunday after the window: next Saturday.
    assert_eq!(
        w.state(at("2026-12-13T12:00:00Z")),
        closed_until("2026-12-19T10:00:00Z")
    );
}

#[test]
fn a_window_past_midnight_belongs_to_the_day_it_opens() {
    // Friday 22:00 to Saturday 02:00, in New York (UTC-5 in December).
    let w = window(&["friday"], "22:00", "02:00", "America/New_York");
    // Friday 21:00 local: opens at 22:00 local.
    assert_eq!(
        w.state(at("2026-12-12T02:00:00Z")),
        closed_until("2026-12-12T03:00:00Z")
    );
    // Saturday 01:00 local: still Friday's opening.
    assert_eq!(
        w.state(at("2026-12-12T06:00:00Z")),
        open_until("2026-12-12T07:00:00Z")
    );
    // Saturday 03:00 local: next Friday.
    assert_eq!(
        w.state(at("2026-12-12T08:00:00Z")),
        closed_until("2026-12-19T03:00:00Z")
    );
    // Thursday 23:00 local is not in it (the window opens on Fridays only).
    assert_eq!(
        w.state(at("2026-12-11T04:00:00Z")),
        closed_until("2026-12-12T03:00:00Z")
    );
}

#[test]
fn equal_times_mean_the_whole_day() {
    let w = window(&["mon"], "00:00", "00:00", "UTC");
    assert_eq!(
        w.state(at("2026-12-07T13:00:00Z")),
        open_until("2026-12-08T00:00:00Z")
    );
    assert_eq!(
        w.state(at("2026-12-08T13:00:00Z")),
        closed_until("2026-12-14T00:00:00Z")
    );
}

#[test]
fn a_start_skipped_by_spring_forward_opens_after_the_gap() {
    // Berlin, Sunday 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00 UTC).
    let w = window(&["sunday"], "02:30", "04:00", "Europe/Berlin");
    // 02:30 does not exist that night: the window opens at 03:30 CEST = 01:30 UTC.
    assert_eq!(
        w.state(at("2026-03-29T00:30:00Z")),
        closed_until("2026-03-29T01:30:00Z")
    );
    assert_eq!(
        w.state(at("2026-03-29T01:30:00Z")),
        open_until("2026-03-29T02:00:00Z")
    );
    // A week later it is 02:30 CEST again.
    assert_eq!(
        w.state(at("2026-03-29T02:00:00Z")),
        closed_until("2026-04-05T00:30:00Z")
    );
}

#[test]
fn a_window_over_fall_back_opens_at_the_first_instant_and_lasts_the_extra_hour() {
    // Berlin, Sunday 2026-10-25: 03:00 CEST falls back to 02:00 CET (01:00 UTC).
    let w = window(&["sunday"], "02:30", "03:30", "Europe/Berlin");
    // 02:30 happens twice: the first (CEST, 00:30 UTC) opens it; 03:30 CET (02:30 UTC) closes.
    assert_eq!(
        w.state(at("2026-10-25T00:00:00Z")),
        closed_until("2026-10-25T00:30:00Z")
    );
    assert_eq!(
        w.state(at("2026-10-25T00:30:00Z")),
        open_until("2026-10-25T02:30:00Z")
    );
    assert_eq!(
        w.state(at("2026-10-25T01:45:00Z")),
        open_until("2026-10-25T02:30:00Z")
    );
}

#[test]
fn an_overnight_window_across_a_time_change_keeps_its_local_times() {
    // Saturday 23:00 to Sunday 04:00 in Berlin over the fall-back night: six hours long.
    let w = window(&["saturday"], "23:00", "04:00", "Europe/Berlin");
    assert_eq!(
        w.state(at("2026-10-24T21:00:00Z")),
        open_until("2026-10-25T03:00:00Z")
    );
    // Over the spring-forward night: four hours long.
    assert_eq!(
        w.state(at("2026-03-28T22:00:00Z")),
        open_until("2026-03-29T02:00:00Z")
    );
}

#[test]
fn nonsense_is_refused_naming_the_field() {
    let days = |d: &[&str]| d.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let err = |r: Result<Window, WindowError>| r.expect_err("refused").0;
    assert!(err(Window::parse(&days(&["funday"]), "01:00", "02:00", None)).contains("window.days"));
    for bad in [
        "24:00", "1:60", "noon", "", "01:00:00", "1", "-1:00", "001:00",
    ] {
        let e = err(Window::parse(&[], bad, "02:00", None));
        assert!(e.contains("window.startTime"), "{bad}: {e}");
    }
    assert!(err(Window::parse(&[], "01:00", "2:0x", None)).contains("window.endTime"));
    let e = err(Window::parse(&[], "01:00", "02:00", Some("Mars/Olympus")));
    assert!(
        e.contains("window.timeZone") && e.contains("Mars/Olympus"),
        "{e}"
    );
    // No zone is UTC.
    let w = Window::parse(&[], "01:00", "02:00", Some("")).expect("valid");
    assert_eq!(
        w.state(at("2026-12-07T01:30:00Z")),
        open_until("2026-12-07T02:00:00Z")
    );
}

#[test]
fn every_accepted_day_name_parses() {
    for name in day_names() {
        assert!(day(name).is_ok(), "{name}");
        assert!(day(&name.to_ascii_uppercase()).is_ok(), "{name}");
    }
}

#[test]
fn a_half_hour_zone_opens_at_its_local_time() {
    let w = window(&[], "09:00", "10:00", "Asia/Kolkata");
    assert_eq!(
        w.state(at("2026-12-07T03:29:59Z")),
        closed_until("2026-12-07T03:30:00Z")
    );
    assert_eq!(
        w.state(at("2026-12-07T03:30:00Z")),
        open_until("2026-12-07T04:30:00Z")
    );
}

#[test]
fn a_southern_spring_forward_shortens_the_night_window() {
    // Sydney moves from +10:00 to +11:00 at 02:00 on Sunday 4 October 2026.
    let w = window(&["sun"], "01:00", "05:00", "Australia/Sydney");
    assert_eq!(
        w.state(at("2026-10-03T15:30:00Z")),
        open_until("2026-10-03T18:00:00Z"),
        "01:00 AEST to 05:00 AEDT is three hours"
    );
}

#[test]
fn a_window_is_closed_at_the_instant_it_closes() {
    let w = window(&["mon"], "01:00", "02:00", "UTC");
    // 2026-12-07 is a Monday.
    assert_eq!(
        w.state(at("2026-12-07T01:59:59Z")),
        open_until("2026-12-07T02:00:00Z")
    );
    assert_eq!(
        w.state(at("2026-12-07T02:00:00Z")),
        closed_until("2026-12-14T01:00:00Z"),
        "the next opening is a week later"
    );
}

#[test]
fn times_and_zones_may_carry_spaces_and_single_digit_hours() {
    let days = vec![" Fri ".to_owned()];
    let w = Window::parse(&days, " 9:05 ", "17:00", Some(" Europe/Berlin ")).expect("valid");
    // 2026-12-11 is a Friday; Berlin is +01:00 in winter.
    assert_eq!(
        w.state(at("2026-12-11T08:05:00Z")),
        open_until("2026-12-11T16:00:00Z")
    );
}

#[test]
fn no_zone_at_all_is_utc() {
    let w = Window::parse(&[], "23:00", "23:30", None).expect("valid");
    assert_eq!(
        w.state(at("2026-12-07T22:00:00Z")),
        closed_until("2026-12-07T23:00:00Z")
    );
}

#[test]
fn an_unknown_day_is_named_as_written() {
    let err = Window::parse(
        &["Mon".to_owned(), "Fryday".to_owned()],
        "01:00",
        "02:00",
        None,
    )
    .expect_err("refused");
    assert_eq!(
        err.0,
        "window.days: \"Fryday\" is not a day (monday, mon, mo or 1, ... sunday, sun, su or 0)"
    );
}

const ZONES: [&str; 5] = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
];

proptest! {
    /// Whatever the window and the instant: an open window closes later; a closed one opens
    /// later, is open at that instant, and is closed just before it.
    #[test]
    fn the_state_agrees_with_itself_at_its_own_edges(
        days in proptest::sample::subsequence(vec!["mon", "tue", "wed", "thu", "fri", "sat", "sun"], 0..=7),
        start in (0i8..24, 0i8..60),
        end in (0i8..24, 0i8..60),
        zone in proptest::sample::select(ZONES.to_vec()),
        secs in 1_700_000_000i64..1_900_000_000,
    ) {
        let days: Vec<String> = days.iter().map(|d| (*d).to_owned()).collect();
        let w = Window::parse(
            &days,
            &format!("{:02}:{:02}", start.0, start.1),
            &format!("{:02}:{:02}", end.0, end.1),
            Some(zone),
        ).expect("valid");
        let now = Timestamp::from_second(secs).expect("in range");
        match w.state(now) {
            WindowState::Open { closes_at } => {
                prop_assert!(closes_at > now);
                prop_assert!(closes_at.duration_since(now).as_secs() <= 26 * 3600);
            }
            WindowState::Closed { opens_at } => {
                prop_assert!(opens_at > now);
                prop_assert!(opens_at.duration_since(now).as_secs() <= 8 * 24 * 3600);
                let open = matches!(w.state(opens_at), WindowState::Open { .. });
                prop_assert!(open, "not open at its own opening {}", opens_at);
                let before = opens_at.checked_sub(jiff::SignedDuration::from_secs(1)).expect("in range");
                let closed = matches!(w.state(before), WindowState::Closed { .. });
                prop_assert!(closed, "already open before {}", opens_at);
            }
        }
    }
}
