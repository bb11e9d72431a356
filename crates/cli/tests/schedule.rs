//! Black-box tests of the import schedule: computation in a time zone and
//! across DST changes, validation, skipped slots, catch-up after downtime.

mod common;

use chrono::{DateTime, Datelike, Duration as CDuration, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use common::TestServer;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn utc(v: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

/// The next local date (after today) on which `tz` changes its UTC offset,
/// and whether the clocks go forward.
fn next_dst_change(tz: Tz) -> (NaiveDate, bool) {
    use chrono::Offset;
    let offset = |d: NaiveDate| {
        tz.from_utc_datetime(&d.and_hms_opt(12, 0, 0).unwrap())
            .offset()
            .fix()
            .local_minus_utc()
    };
    let mut day = Utc::now().date_naive() + CDuration::days(1);
    loop {
        let (before, after) = (offset(day - CDuration::days(1)), offset(day));
        if before != after {
            return (day, after > before);
        }
        day += CDuration::days(1);
    }
}

#[test]
fn the_default_schedule_is_daily_midnight_in_the_server_zone() {
    let s = TestServer::builder().env("TZ", "America/New_York").start();
    let sch = s.json("/api/import_schedule");
    assert_eq!(sch["enabled"], true);
    assert_eq!(sch["daily_time"], "00:00");
    assert_eq!(sch["cron"], "0 0 * * *");
    assert_eq!(sch["timezone"], "America/New_York");
    assert_eq!(sch["import_type"], "complete");
    let next = utc(&sch["next_import_time"]).with_timezone(&chrono_tz::America::New_York);
    assert_eq!(next.format("%H:%M").to_string(), "00:00");
    assert!(utc(&sch["next_import_time"]) > Utc::now());
    assert_eq!(s.status()["next_import_time"], sch["next_import_time"]);
}

#[test]
fn changing_the_schedule_changes_the_next_import() {
    let s = TestServer::builder().env("TZ", "UTC").start();
    s.add_user("reader", "reader-password", &[]);
    let reader = s.token("reader", "reader-password");

    let r = s.put_json_as(
        &s.admin_token,
        "/api/import_schedule",
        &json!({"daily_time": "01:30", "timezone": "Asia/Kolkata", "import_type": "raw_only"}),
    );
    assert_eq!(r.status(), 200);
    let sch: Value = r.json().unwrap();
    let next = utc(&sch["next_import_time"]);
    // 01:30 in Kolkata (UTC+05:30) is 20:00 UTC.
    assert_eq!(next.format("%H:%M:%S").to_string(), "20:00:00");
    assert!(next > Utc::now() && next - Utc::now() <= CDuration::days(1));
    let st = s.status();
    assert_eq!(st["next_import_time"], sch["next_import_time"]);
    assert_eq!(st["next_import_type"], "raw_only");
    let t_in = st["next_import_time_in"].as_i64().unwrap();
    let expect = (next - Utc::now()).num_seconds();
    assert!((t_in - expect).abs() <= 2, "{t_in} vs {expect}");

    // A cron expression replaces the daily time; other fields are kept.
    let sch: Value = s
        .put_json_as(
            &s.admin_token,
            "/api/import_schedule",
            &json!({"cron": "15 */6 * * 1-5"}),
        )
        .json()
        .unwrap();
    assert!(sch["daily_time"].is_null());
    assert_eq!(sch["cron"], "15 */6 * * 1-5");
    assert_eq!(sch["timezone"], "Asia/Kolkata");
    assert_eq!(sch["import_type"], "raw_only");

    // Off: no next import.
    let r = s.put_json_as(
        &s.admin_token,
        "/api/import_schedule",
        &json!({"enabled": false}),
    );
    assert_eq!(r.status(), 200);
    let st = s.status();
    for k in [
        "next_import_time",
        "next_import_time_in",
        "next_import_type",
    ] {
        assert!(st[k].is_null(), "{k} with the schedule off");
    }

    // Validation and permissions.
    for (body, needle) in [
        (json!({"cron": "61 * * * *"}), "not a valid cron expression"),
        (json!({"cron": "* * *"}), "5 fields"),
        (json!({"cron": "0 0 30 2 *"}), "never matches"),
        (json!({"daily_time": "25:00"}), "not a daily time"),
        (
            json!({"daily_time": "01:00", "cron": "0 1 * * *"}),
            "not both",
        ),
        (
            json!({"timezone": "Mars/Olympus_Mons"}),
            "not a known time zone",
        ),
        (json!({"import_type": "weekly"}), "not an import type"),
        (json!({"enabled": "yes"}), "JSON object"),
        (json!({"color": "blue"}), "unknown field"),
    ] {
        let r = s.put_json_as(&s.admin_token, "/api/import_schedule", &body);
        assert_eq!(r.status(), 400, "{body}");
        let err: Value = r.json().unwrap();
        assert!(
            err["error"].as_str().unwrap().contains(needle),
            "{body}: {err}"
        );
    }
    let r = s.put_json_as(&reader, "/api/import_schedule", &json!({"enabled": true}));
    assert_eq!(r.status(), 403);
    assert_eq!(s.get_as(&reader, "/api/import_schedule").status(), 200);
    assert_eq!(
        s.json("/api/import_schedule")["enabled"],
        false,
        "nothing changed"
    );
}

#[test]
fn the_next_import_respects_dst_changes() {
    let tz = chrono_tz::America::New_York;
    let (day, forward) = next_dst_change(tz);
    let s = TestServer::builder().env("TZ", "UTC").start();
    // 02:30 on a spring-forward day does not exist; on a fall-back day,
    // 01:30 happens twice. Pin the cron to that date.
    let (time, expected_local) = if forward {
        ("30 2", "03:00")
    } else {
        ("30 1", "01:30")
    };
    let cron = format!("{time} {} {} *", day.day(), day.month());
    let sch: Value = s
        .put_json_as(
            &s.admin_token,
            "/api/import_schedule",
            &json!({"cron": cron, "timezone": "America/New_York"}),
        )
        .json()
        .unwrap();
    let next = utc(&sch["next_import_time"]);
    let local = next.with_timezone(&tz);
    assert_eq!(local.date_naive(), day, "{sch}");
    assert_eq!(local.format("%H:%M").to_string(), expected_local, "{sch}");
    if forward {
        // The first valid instant after the gap: 03:00 EDT = 07:00 UTC.
        assert_eq!(next.format("%H:%M").to_string(), "07:00");
    } else {
        // The first of the two 01:30s: 01:30 EDT = 05:30 UTC.
        assert_eq!(next.format("%H:%M").to_string(), "05:30");
    }
}

#[test]
fn a_slot_missed_while_down_runs_once_at_start_up() {
    let mut s = TestServer::builder().env("TZ", "UTC").start();
    assert_eq!(
        s.json("/api/imports")["total"],
        0,
        "nothing missed on a first start"
    );
    s.sigterm();
    // Pretend the server has been down for three days: three midnights
    // passed since the last slot it handled.
    let three_days_ago = (Utc::now() - CDuration::days(3))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    {
        let (rt, store) = s.store();
        rt.block_on(store.meta_set("schedule_last_slot", &three_days_ago))
            .unwrap();
    }
    s.restart();
    s.wait_idle();
    let rows = s.json("/api/imports")["rows"].clone();
    assert_eq!(
        rows.as_array().unwrap().len(),
        1,
        "one catch-up import, not one per missed slot"
    );
    assert_eq!(rows[0]["trigger"], "schedule");
    assert_eq!(rows[0]["type"], "complete");
    assert!(rows[0]["requested_by"].is_null());
    let log = s.get("/api/imports/1/log").text().unwrap();
    assert!(log.contains("missed while the server was down"), "{log}");
    // Restarting again does not run it again.
    s.sigterm();
    s.restart();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(s.json("/api/imports")["total"], 1);
}

#[test]
fn scheduled_imports_start_and_a_busy_slot_is_skipped_and_logged() {
    // Every minute; each import pauses before its publish (until
    // cancelled), so the slot after the first scheduled import finds it
    // still running.
    let s = TestServer::builder()
        .env("TZ", "UTC")
        .pause_before_publish()
        .start();
    let r = s.put_json_as(
        &s.admin_token,
        "/api/import_schedule",
        &json!({"cron": "* * * * *", "import_type": "raw_only"}),
    );
    assert_eq!(r.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(70);
    let first = loop {
        let rows = s.json("/api/imports")["rows"].clone();
        if let Some(r) = rows.as_array().unwrap().first() {
            break r.clone();
        }
        assert!(Instant::now() < deadline, "no scheduled import within 70 s");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(first["trigger"], "schedule");
    assert_eq!(first["type"], "raw_only");
    let id = first["id"].as_i64().unwrap();
    // The next slot comes while it runs.
    let deadline = Instant::now() + Duration::from_secs(70);
    loop {
        let log = s.get(&format!("/api/imports/{id}/log")).text().unwrap();
        if log.contains("skipped") {
            assert!(log.contains("Scheduled raw_only import for"), "{log}");
            break;
        }
        assert!(Instant::now() < deadline, "no skipped slot logged: {log}");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(
        s.json("/api/imports")["total"],
        1,
        "the busy slot started nothing"
    );
    assert_eq!(
        s.post_as(&s.admin_token, &format!("/api/imports/{id}/cancel"))
            .status(),
        200
    );
}
