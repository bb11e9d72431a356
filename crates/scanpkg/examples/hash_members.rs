//! What reading a package costs with and without parsing its facts, and what hashing its
//! members costs with BLAKE3 and with SHA-256 (why the facts digest is BLAKE3).
//!
//! `cargo run -p openlmt-scanpkg --release --example hash_members -- DIR [ROUNDS]`
//!
//! DIR holds `.tar.gz` packages (e.g. written by the `replicate` example). On one thread,
//! for each of ROUNDS (default 3) rounds, it times over every package of DIR:
//! `inflate` (the gzip stream to its end), `walk` (inflate and every tar member read into
//! memory), `walk+sha256` and `walk+blake3` (each member hashed too), `read` (the full
//! reader, `read_scan_package`) and `read-since` (`read_scan_package_since` given each
//! package's own facts digest: its facts unchanged, so not parsed), and prints the median
//! milliseconds per package of each.

use std::io::{BufReader, Read};
use std::path::PathBuf;
use std::time::Instant;

use flate2::read::MultiGzDecoder;
use openlmt_scanpkg::{read_scan_package_file, read_scan_package_since, ArchiveKind, Limits};
use sha2::Digest;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (dir, rounds) = match args.as_slice() {
        [dir] => (PathBuf::from(dir), 3),
        [dir, rounds] => (PathBuf::from(dir), rounds.parse()?),
        _ => return Err("usage: hash_members DIR [ROUNDS]".into()),
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(format!("{}: no .tar.gz package", dir.display()).into());
    }
    let limits = Limits::default();
    let digests = files
        .iter()
        .map(|f| read_scan_package_file(f, &limits).map(|p| p.facts_digest))
        .collect::<Result<Vec<_>, _>>()?;
    let modes = [
        "inflate",
        "walk",
        "walk+sha256",
        "walk+blake3",
        "read",
        "read-since",
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
    let mut sink = 0u64;
    for _ in 0..rounds {
        for (m, mode) in modes.iter().enumerate() {
            let t = Instant::now();
            for (f, digest) in files.iter().zip(&digests) {
                let file = std::fs::File::open(f)?;
                match *mode {
                    "inflate" => {
                        let mut d = MultiGzDecoder::new(BufReader::with_capacity(64 * 1024, file));
                        sink += std::io::copy(&mut d, &mut std::io::sink())?;
                    }
                    "read" => {
                        sink += read_scan_package_file(f, &limits)?.installed_packages.len() as u64
                    }
                    "read-since" => {
                        let p = read_scan_package_since(
                            ArchiveKind::TarGz,
                            file,
                            &limits,
                            Some(digest),
                        )?;
                        assert!(p.facts_unchanged);
                        sink += 1;
                    }
                    walk => {
                        let d = BufReader::with_capacity(
                            128 * 1024,
                            MultiGzDecoder::new(BufReader::with_capacity(64 * 1024, file)),
                        );
                        let mut a = tar::Archive::new(d);
                        for e in a.entries()? {
                            let mut e = e?;
                            let mut v = Vec::with_capacity(e.size() as usize + 1);
                            e.read_to_end(&mut v)?;
                            sink += match walk {
                                "walk+sha256" => sha2::Sha256::digest(&v)[0] as u64,
                                "walk+blake3" => blake3::hash(&v).as_bytes()[0] as u64,
                                _ => v.len() as u64,
                            };
                        }
                    }
                }
            }
            times[m].push(t.elapsed().as_secs_f64() * 1000.0 / files.len() as f64);
        }
    }
    println!(
        "{} packages of {}, {rounds} rounds, one thread (checksum {sink}):",
        files.len(),
        dir.display()
    );
    for (mode, mut t) in modes.iter().zip(times) {
        t.sort_by(f64::total_cmp);
        println!("  {mode:<12} {:.3} ms per package (median)", t[t.len() / 2]);
    }
    Ok(())
}
