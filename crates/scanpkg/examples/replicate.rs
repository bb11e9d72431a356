//! Write COUNT packages that replicate one captured host under distinct endpoint ids.
//!
//! `cargo run -p openlmt-scanpkg --release --example replicate -- HOST_DIR OUT_DIR COUNT`
//!
//! HOST_DIR holds raw evidence files (e.g. `shared/corpus/hosts/debian12-vm`). Figures
//! made from the output describe one real host replicated COUNT times.

use std::path::PathBuf;
use std::time::Instant;

use openlmt_scanpkg::{ComputerInfo, EvidenceSet, ScanPackageTemplate};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [host, out, count] = args.as_slice() else {
        return Err("usage: replicate HOST_DIR OUT_DIR COUNT".into());
    };
    let host = PathBuf::from(host);
    let out = PathBuf::from(out);
    let count: u32 = count.parse()?;
    std::fs::create_dir_all(&out)?;

    let start = Instant::now();
    let evidence = EvidenceSet::from_dir(&host)?;
    let template = ScanPackageTemplate::new(&evidence)?;
    let prepared = start.elapsed();
    for i in 0..count {
        let mut c = ComputerInfo::new(format!("replica-{i:06}"));
        c.computer_name = Some(format!("replica-{i:06}"));
        c.operating_system = evidence.os_pretty_name.clone();
        c.agent_version = Some(format!(
            "openlmt-scan {} (replicated)",
            env!("CARGO_PKG_VERSION")
        ));
        template.write_scan_package(&c, &out)?;
    }
    eprintln!(
        "{count} packages in {:.2?} (template {:.2?})",
        start.elapsed(),
        prepared
    );
    Ok(())
}
