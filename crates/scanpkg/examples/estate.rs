//! Write a virtualized estate of scan packages for the licence benchmark: HOSTS KVM hosts,
//! each the real HP DL180 of the corpus (its `cpuinfo` and `dmidecode`), whose package
//! carries a VM-manager scan (`0_vmman.tar.gz`, IBM's `vmman_scan` layout) listing its
//! GUESTS running guests; and each guest, the real Debian 12 VM of the corpus
//! (`hosts/debian12-vm`), whose package carries its SMBIOS UUID as `product_uuid`. One
//! guest in LICENSED_EVERY also carries the `*.swidtag` files of TAG_DIR (the real IBM tags
//! of `corpus/swid-ibm`).
//!
//! `cargo run -p openlmt-scanpkg --release --example estate -- CORPUS_DIR TAG_DIR OUT_DIR HOSTS GUESTS LICENSED_EVERY`
//!
//! Benchmark data: the evidence files are real, the estate is that evidence replicated;
//! the guests' UUIDs and vCPU counts (1 to 4, in turn) are generated here, and the
//! VM-manager scans are taken "now" (so they are fresh for the import that follows).

use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::Utc;
use openlmt_scanpkg::vmman::{vmman_archive, vmman_scan_xml};
use openlmt_scanpkg::{
    scan_package_file_name, ArchiveKind, ComputerInfo, EvidenceSet, ScanPackageTemplate, VmGuest,
    VmHost, VmManagerScan,
};

const USAGE: &str = "usage: estate CORPUS_DIR TAG_DIR OUT_DIR HOSTS GUESTS_PER_HOST LICENSED_EVERY";

fn guest_uuid(i: u64) -> String {
    format!("{:08x}-0e57-4a7e-8b1c-{:012x}", i as u32, i)
}

fn write(out: &Path, c: &ComputerInfo, bytes: &[u8]) -> std::io::Result<()> {
    let t = c.scan_time.unwrap_or_else(Utc::now);
    let name = scan_package_file_name(t, &c.endpoint_id, ArchiveKind::TarGz);
    let tmp = out.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, out.join(name))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [corpus, tags, out, hosts, guests, every] = args.as_slice() else {
        return Err(USAGE.into());
    };
    let corpus = PathBuf::from(corpus);
    let out = PathBuf::from(out);
    let hosts: u64 = hosts.parse()?;
    let guests: u64 = guests.parse()?;
    let every: u64 = every.parse()?;
    if every == 0 {
        return Err("LICENSED_EVERY must be at least 1".into());
    }
    std::fs::create_dir_all(&out)?;
    let start = Instant::now();

    let mut host_ev = EvidenceSet::default();
    host_ev.push(
        "cpuinfo",
        std::fs::read(corpus.join("cpuinfo/linux-hp-dl180"))?,
    );
    host_ev.push(
        "dmidecode.txt",
        std::fs::read(corpus.join("dmidecode/hp-dl180"))?,
    );
    let host_t = ScanPackageTemplate::new(&host_ev)?;
    let guest_ev = EvidenceSet::from_dir(&corpus.join("hosts/debian12-vm"))?;
    let guest_t = ScanPackageTemplate::new(&guest_ev)?;
    let mut licensed_ev = guest_ev.clone();
    let mut tag_files: Vec<_> = std::fs::read_dir(tags)?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".swidtag"))
        .map(|e| e.path())
        .collect();
    tag_files.sort();
    for p in &tag_files {
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        licensed_ev.push(format!("isotag_scan/{name}"), std::fs::read(p)?);
    }
    let licensed_t = ScanPackageTemplate::new(&licensed_ev)?;

    let now = Utc::now();
    let mut licensed = 0u64;
    for h in 0..hosts {
        let mut scan = VmManagerScan {
            member: String::new(),
            id: Some(format!("{}", 1_000_000 + h)),
            virtual_technology: Some("KVM_X86".into()),
            observed_at: now,
            host: VmHost {
                uuid: format!("{:08x}-0b57-4a7e-8b1c-{:012x}", h as u32, h),
                name: Some(format!("kvm-host-{h:05}")),
                ..Default::default()
            },
            guests: Vec::new(),
        };
        for g in 0..guests {
            let i = h * guests + g;
            let vcpus = 1 + (i % 4) as u32;
            let uuid = guest_uuid(i);
            scan.guests.push(VmGuest {
                uuid: uuid.clone(),
                name: Some(format!("vm-{i:06}")),
                vcpus,
            });
            let mut c = ComputerInfo::new(format!("vm-{i:06}"));
            c.computer_name = Some(format!("vm-{i:06}"));
            c.operating_system = guest_ev.os_pretty_name.clone();
            let t = if i.is_multiple_of(every) {
                licensed += 1;
                &licensed_t
            } else {
                &guest_t
            };
            let bytes =
                t.scan_package_bytes_with(&c, &[("product_uuid", format!("{uuid}\n").as_bytes())])?;
            write(&out, &c, &bytes)?;
        }
        let xml = vmman_scan_xml(&scan);
        let vmman = vmman_archive(&[("vmman_scan_1.xml".to_string(), xml.into_bytes())])?;
        let mut c = ComputerInfo::new(format!("kvm-host-{h:05}"));
        c.computer_name = Some(format!("kvm-host-{h:05}"));
        c.operating_system = Some("Debian GNU/Linux 12 (bookworm)".into());
        let bytes = host_t.scan_package_bytes_with(&c, &[("0_vmman.tar.gz", &vmman)])?;
        write(&out, &c, &bytes)?;
    }
    eprintln!(
        "{} packages ({hosts} hosts with VM-manager data, {} guests, {licensed} with the {} tags of {}) in {:.2?}",
        hosts + hosts * guests,
        hosts * guests,
        tag_files.len(),
        tags,
        start.elapsed()
    );
    Ok(())
}
