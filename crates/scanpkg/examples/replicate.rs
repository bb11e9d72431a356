//! Write COUNT packages that replicate one captured host under distinct endpoint ids.
//!
//! `cargo run -p openlmt-scanpkg --release --example replicate -- HOST_DIR OUT_DIR COUNT [--extra-tag-every N TAG_DIR]`
//!
//! HOST_DIR holds raw evidence files (e.g. `shared/corpus/hosts/debian12-vm`). Figures
//! made from the output describe one real host replicated COUNT times.
//!
//! With `--extra-tag-every N TAG_DIR`, every N-th package (replica 0, N, 2N, …) also carries
//! the `*.swidtag` files of TAG_DIR (e.g. the real IBM tags of `shared/corpus/swid-ibm`)
//! beside the host's own tags in `isotag_scan/`: one host in N has that software too.

use std::path::PathBuf;
use std::time::Instant;

use openlmt_scanpkg::{ComputerInfo, EvidenceSet, ScanPackageTemplate};

const USAGE: &str = "usage: replicate HOST_DIR OUT_DIR COUNT [--extra-tag-every N TAG_DIR]";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (host, out, count, extra) = match args.as_slice() {
        [host, out, count] => (host, out, count, None),
        [host, out, count, flag, every, dir] if flag == "--extra-tag-every" => (
            host,
            out,
            count,
            Some((every.parse::<u32>()?, PathBuf::from(dir))),
        ),
        _ => return Err(USAGE.into()),
    };
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
    let prepared = start.elapsed();
    let mut tagged = 0u32;
    for i in 0..count {
        let mut c = ComputerInfo::new(format!("replica-{i:06}"));
        c.computer_name = Some(format!("replica-{i:06}"));
        c.operating_system = evidence.os_pretty_name.clone();
        c.agent_version = Some(format!(
            "openlmt-scan {} (replicated)",
            env!("CARGO_PKG_VERSION")
        ));
        match &extra {
            Some((every, t, _)) if i % every == 0 => {
                t.write_scan_package(&c, &out)?;
                tagged += 1;
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
    eprintln!(
        "{count} packages in {:.2?} (template {:.2?}){extra_note}",
        start.elapsed(),
        prepared
    );
    Ok(())
}
