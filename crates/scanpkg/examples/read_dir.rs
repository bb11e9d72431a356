//! Read every package in a directory and print how fast the reader is.
//!
//! `cargo run -p openlmt-scanpkg --release --example read_dir -- DIR [THREADS]`
//!
//! A benchmark of the package reader alone (decompression, tar walking, parsing), without
//! hashing or database writes: the figures say how much of an import's read/write step
//! is parsing. Prints packages, facts, seconds, and CPU time per package.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use openlmt_scanpkg::{read_scan_package_file, Limits};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (dir, threads) = match args.as_slice() {
        [dir] => (PathBuf::from(dir), 1),
        [dir, t] => (PathBuf::from(dir), t.parse()?),
        _ => return Err("usage: read_dir DIR [THREADS]".into()),
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let limits = Limits::default();
    let next = AtomicUsize::new(0);
    let totals = Mutex::new((0usize, 0usize, 0usize, 0usize)); // ok, rejected, packages, swid
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                let mut t = (0, 0, 0, 0);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = files.get(i) else { break };
                    match read_scan_package_file(path, &limits) {
                        Ok(p) => {
                            t.0 += 1;
                            t.2 += p.installed_packages.len();
                            t.3 += p.swid_tags.len();
                        }
                        Err(_) => t.1 += 1,
                    }
                }
                let mut g = totals.lock().unwrap_or_else(|e| e.into_inner());
                g.0 += t.0;
                g.1 += t.1;
                g.2 += t.2;
                g.3 += t.3;
            });
        }
    });
    let secs = start.elapsed().as_secs_f64();
    let (ok, rejected, pkgs, swid) = *totals.lock().unwrap_or_else(|e| e.into_inner());
    println!(
        "{ok} packages read ({rejected} rejected) on {threads} thread(s) in {secs:.2} s: \
         {pkgs} package facts, {swid} SWID tags; {:.2} ms wall per package, {:.0} packages/s",
        1000.0 * secs / (ok + rejected).max(1) as f64,
        (ok + rejected) as f64 / secs
    );
    Ok(())
}
