//! Write COUNT packages that replicate one captured host under distinct endpoint ids.
//!
//! `cargo run -p openlmt-scanpkg --release --example replicate -- HOST_DIR OUT_DIR COUNT
//!     [--extra-tag-every N TAG_DIR] [--scan-time YYYYMMDDHHMM] [--changed-every N ROUND]`
//!
//! HOST_DIR holds raw evidence files (e.g. `shared/corpus/hosts/debian12-vm`). Figures
//! made from the output describe one real host replicated COUNT times.
//!
//! With `--extra-tag-every N TAG_DIR`, every N-th package (replica 0, N, 2N, …) also carries
//! the `*.swidtag` files of TAG_DIR (e.g. the real IBM tags of `shared/corpus/swid-ibm`)
//! beside the host's own tags in `isotag_scan/`: one host in N has that software too.
//!
//! With `--scan-time`, every package has that scan time (UTC) instead of now: the same
//! estate written twice with two scan times is two days' packages of the same computers.
//!
//! With `--changed-every N ROUND`, every N-th package (replica 0, N, 2N, …) is the host
//! with 10 of its installed packages left out (their `dpkg-status` stanzas and their
//! SWID tags): consecutive packages of the host's `dpkg-status`, from a place that
//! depends on the replica and moves by 5 packages from one ROUND to the next. The same
//! replica written with ROUND r and then r+1 has 5 installed packages added and 5
//! removed, all real ones of the host; the other replicas are the host unchanged.
//! (`bench/reimport.sh` writes day 1 with ROUND 0 and day 2 with ROUND 1.)

use std::path::PathBuf;
use std::time::Instant;

use openlmt_scanpkg::{ComputerInfo, EvidenceSet, ScanPackageTemplate};

const USAGE: &str = "usage: replicate HOST_DIR OUT_DIR COUNT [--extra-tag-every N TAG_DIR] \
                     [--scan-time YYYYMMDDHHMM] [--changed-every N ROUND]";

/// Installed packages a changed replica leaves out, and how far that window moves
/// from one round to the next.
const LEFT_OUT: usize = 10;
const SHIFT: usize = 5;
/// Different windows among the changed replicas (a template each).
const VARIANTS: usize = 16;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [host, out, count, rest @ ..] = args.as_slice() else {
        return Err(USAGE.into());
    };
    let (mut extra, mut scan_time, mut changed) = (None, None, None);
    let mut rest = rest.iter();
    while let Some(flag) = rest.next() {
        let mut value = || rest.next().ok_or(USAGE);
        match flag.as_str() {
            "--extra-tag-every" => {
                extra = Some((value()?.parse::<u32>()?, PathBuf::from(value()?)))
            }
            "--scan-time" => {
                let t = chrono::NaiveDateTime::parse_from_str(
                    &format!("{}00", value()?),
                    "%Y%m%d%H%M%S",
                )?;
                scan_time = Some(t.and_utc());
            }
            "--changed-every" => {
                changed = Some((value()?.parse::<u32>()?, value()?.parse::<usize>()?))
            }
            _ => return Err(USAGE.into()),
        }
    }
    if extra.is_some() && changed.is_some() {
        return Err("--extra-tag-every and --changed-every do not go together".into());
    }
    let host = PathBuf::from(host);
    let out = PathBuf::from(out);
    let count: u32 = count.parse()?;
    std::fs::create_dir_all(&out)?;

    let start = Instant::now();
    let evidence = EvidenceSet::from_dir(&host)?;
    let template = ScanPackageTemplate::new(&evidence)?;
    // The host's evidence plus the extra tags, for every N-th package.
    let extra = match extra {
        None => None,
        Some((0, _)) => return Err("--extra-tag-every: N must be at least 1".into()),
        Some((every, dir)) => {
            let mut tags: Vec<(String, PathBuf)> = Vec::new();
            for e in std::fs::read_dir(&dir)? {
                let e = e?;
                let name = e.file_name().to_string_lossy().into_owned();
                if name.ends_with(".swidtag") && e.file_type()?.is_file() {
                    tags.push((name, e.path()));
                }
            }
            if tags.is_empty() {
                return Err(format!("{}: no .swidtag file", dir.display()).into());
            }
            tags.sort();
            let mut with_tags = evidence.clone();
            for (name, path) in &tags {
                with_tags.push(format!("isotag_scan/{name}"), std::fs::read(path)?);
            }
            Some((every, ScanPackageTemplate::new(&with_tags)?, tags.len()))
        }
    };
    // The changed replicas' templates, one per window.
    let changed = match changed {
        None => None,
        Some((0, _)) => return Err("--changed-every: N must be at least 1".into()),
        Some((every, round)) => {
            let mut templates = Vec::with_capacity(VARIANTS);
            for v in 0..VARIANTS {
                templates.push(ScanPackageTemplate::new(&left_out(&evidence, v, round)?)?);
            }
            Some((every, templates))
        }
    };
    let prepared = start.elapsed();
    let (mut tagged, mut n_changed) = (0u32, 0u32);
    for i in 0..count {
        let mut c = ComputerInfo::new(format!("replica-{i:06}"));
        c.computer_name = Some(format!("replica-{i:06}"));
        c.operating_system = evidence.os_pretty_name.clone();
        c.agent_version = Some(format!(
            "openlmt-scan {} (replicated)",
            env!("CARGO_PKG_VERSION")
        ));
        if scan_time.is_some() {
            c.scan_time = scan_time;
        }
        match (&extra, &changed) {
            (Some((every, t, _)), _) if i % every == 0 => {
                t.write_scan_package(&c, &out)?;
                tagged += 1;
            }
            (_, Some((every, templates))) if i % every == 0 => {
                templates[(i / every) as usize % VARIANTS].write_scan_package(&c, &out)?;
                n_changed += 1;
            }
            _ => {
                template.write_scan_package(&c, &out)?;
            }
        }
    }
    let extra_note = match &extra {
        Some((every, _, n)) => format!(", {tagged} of them (one in {every}) with {n} extra tags"),
        None => String::new(),
    };
    let changed_note = match &changed {
        Some((every, _)) => format!(
            ", {n_changed} of them (one in {every}) with {LEFT_OUT} installed packages left out"
        ),
        None => String::new(),
    };
    eprintln!(
        "{count} packages in {:.2?} (template {:.2?}){extra_note}{changed_note}",
        start.elapsed(),
        prepared
    );
    Ok(())
}

/// The host's evidence without `LEFT_OUT` consecutive installed packages of its
/// `dpkg-status` (the stanza and the package's SWID tag, when the host has one), from a
/// place set by `variant` and moved by `SHIFT` packages per `round`.
fn left_out(
    evidence: &EvidenceSet,
    variant: usize,
    round: usize,
) -> Result<EvidenceSet, Box<dyn std::error::Error>> {
    let status = evidence
        .member("dpkg-status")
        .ok_or("--changed-every: the host has no dpkg-status")?;
    let text = std::str::from_utf8(status)?;
    // Stanzas are separated by blank lines; each is kept byte for byte.
    let stanzas: Vec<&str> = text
        .split("\n\n")
        .filter(|s| !s.trim().is_empty())
        .collect();
    if stanzas.len() < LEFT_OUT * 2 {
        return Err("--changed-every: the host's dpkg-status is too short".into());
    }
    let first = (variant * 37 + round * SHIFT) % (stanzas.len() - LEFT_OUT);
    let mut kept = String::with_capacity(text.len());
    let mut changed = evidence.clone();
    for (i, stanza) in stanzas.iter().enumerate() {
        if (first..first + LEFT_OUT).contains(&i) {
            let field = |f: &str| {
                stanza
                    .lines()
                    .find_map(|l| l.strip_prefix(f))
                    .map(|v| v.trim().to_string())
            };
            if let (Some(name), Some(version)) = (field("Package:"), field("Version:")) {
                // (swid_generator writes `+`, `~` and `:` of a version as `_`.)
                let suffix = format!("-{name}-{}.swidtag", version.replace(['+', '~', ':'], "_"));
                let tag = changed
                    .member_names()
                    .find(|m| m.starts_with("isotag_scan/") && m.ends_with(&suffix))
                    .map(str::to_string);
                if let Some(tag) = tag {
                    changed.remove_member(&tag);
                }
            }
            continue;
        }
        kept.push_str(stanza);
        kept.push_str("\n\n");
    }
    changed.set_member("dpkg-status", kept.into_bytes());
    Ok(changed)
}
