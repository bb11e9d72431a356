//! The local-host scanner: collects this machine's evidence without root.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use sha2::{Digest, Sha256};

use crate::archive::SWID_DIR;
use crate::build::{now_seconds, os_release_pretty_name, BuiltScanPackage};
use crate::computer::ComputerInfo;
use crate::error::ScanError;
use crate::tag_index::{TagIndex, TagIndexEntry, SWID_INDEX};
use crate::tag_search::{search_tags, TagSearch};
use crate::FORMAT_VERSION;

/// The rpm query whose output is packed as `rpm-qa.tsv`.
pub const RPM_QUERYFORMAT: &str =
    "%{NAME}\t%{ARCH}\t%{VERSION}-%{RELEASE}\t%{INSTALLTIME}\t%{SIZE}\t%{VENDOR}\t%{SUMMARY}\t%{GROUP}\n";

/// Largest single file the scanner packs; bigger SWID tags are skipped with a note.
const MAX_SCAN_FILE: u64 = 16 * 1024 * 1024;
/// Most tags one package carries (the reader accepts 10,000 members in all).
pub const MAX_PACKED_TAGS: usize = 9_000;
/// Most tag bytes one package carries (the reader accepts 256 MiB in all).
const MAX_PACKED_TAG_BYTES: u64 = 128 * 1024 * 1024;
/// How long an external command may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

/// What [`scan_local_host`] reads and runs.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Root of the files read (`/proc/cpuinfo`, `/etc/os-release`, `/var/lib/dpkg/status`,
    /// machine-id, swidtag directories). Default `/`.
    pub root: PathBuf,
    /// Run `lscpu`, `dmidecode`, `rpm`, `hostname`, `ip`. Default `true`;
    /// [`ScanOptions::with_root`] sets `false` (command output describes the running
    /// machine, not `root`).
    pub run_commands: bool,
    /// Override the endpoint id (default: derived from the machine id).
    pub endpoint_id: Option<String>,
    /// Override the scan time (default: now).
    pub scan_time: Option<DateTime<Utc>>,
    /// Where to look for SWID tags (paths on the scanned computer, i.e. under `root`).
    pub tag_search: TagSearch,
    /// The `virsh` to run for the virtualization-host scan (see [`scan_virsh`]); `None`
    /// runs none. Default `virsh` (found on `PATH`); [`ScanOptions::with_root`] sets `None`.
    pub virsh: Option<PathBuf>,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            root: PathBuf::from("/"),
            run_commands: true,
            endpoint_id: None,
            scan_time: None,
            tag_search: TagSearch::default(),
            virsh: Some(PathBuf::from("virsh")),
        }
    }
}

impl ScanOptions {
    /// Read files under `root` and run no command.
    pub fn with_root(root: impl Into<PathBuf>) -> Self {
        ScanOptions {
            root: root.into(),
            run_commands: false,
            virsh: None,
            ..ScanOptions::default()
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }
}

/// `hex(SHA-256("openlmt:" + machine_id.trim()))`, first 32 hex characters.
pub fn endpoint_id_from_machine_id(machine_id: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"openlmt:");
    h.update(machine_id.trim().as_bytes());
    let mut s = hex::encode(h.finalize());
    s.truncate(32);
    s
}

/// Collect the evidence of the machine this runs on (or of `opts.root`).
///
/// * capacity: `/proc/cpuinfo`; `lscpu -J` when `lscpu` runs; `dmidecode` when it runs
///   successfully (usually only as root: otherwise skipped with a note);
/// * packages: `/var/lib/dpkg/status`, else `rpm -qa --queryformat` [`RPM_QUERYFORMAT`];
/// * hardware identity: `/sys/class/dmi/id/product_uuid` when readable (often root only),
///   packed as `product_uuid`;
/// * virtualization host: with `opts.virsh`, [`scan_virsh`]; its scan is packed in IBM's
///   layout as `0_vmman.tar.gz`; when virsh is absent or fails nothing is packed and the
///   notes say why;
/// * SWID tags: `*.swidtag` found by [`search_tags`] with `opts.tag_search`, packed as
///   `isotag_scan/<n>/<file name>` with their directories in `isotag_scan/index.json`;
/// * computer.yml: hostname from `/proc/sys/kernel/hostname`, DNS name from `hostname -f`,
///   IP addresses from `ip -j addr` (else `hostname -I`) without loopback and IPv6
///   link-local, OS from os-release `PRETTY_NAME`, agent `openlmt-scan <version>`.
pub fn scan_local_host(opts: &ScanOptions) -> Result<BuiltScanPackage, ScanError> {
    let mut notes = Vec::new();
    let endpoint_id = match &opts.endpoint_id {
        Some(id) => id.clone(),
        None => endpoint_id_from_machine_id(&machine_id(opts)?),
    };

    let hostname = read_trimmed(&opts.path("proc/sys/kernel/hostname")).or_else(|| {
        opts.run_commands
            .then(|| run("hostname", &[]))
            .flatten()
            .and_then(|o| crate::text::non_empty(&o))
    });
    let dns_name = opts
        .run_commands
        .then(|| run("hostname", &["-f"]))
        .flatten()
        .and_then(|o| crate::text::non_empty(&o))
        .or_else(|| hostname.clone());
    let ip_addresses = if opts.run_commands {
        match run("ip", &["-j", "addr"]) {
            Some(json) => parse_ip_json(&json),
            None => run("hostname", &["-I"])
                .map(|o| parse_hostname_i(&o))
                .unwrap_or_default(),
        }
    } else {
        Vec::new()
    };
    let os = fs::read_to_string(opts.path("etc/os-release"))
        .or_else(|_| fs::read_to_string(opts.path("usr/lib/os-release")))
        .ok()
        .and_then(|t| os_release_pretty_name(&t));

    let computer = ComputerInfo {
        format_version: FORMAT_VERSION,
        endpoint_id,
        computer_name: hostname,
        dns_name,
        ip_addresses,
        operating_system: os,
        agent_version: Some(format!("openlmt-scan {}", env!("CARGO_PKG_VERSION"))),
        scan_time: Some(opts.scan_time.unwrap_or_else(now_seconds)),
        // Computed and stated by the writer, over the members as written.
        facts_digest: None,
    };
    computer.to_yaml().map_err(ScanError::Computer)?;
    let mut pkg = BuiltScanPackage::new(computer);

    // Capacity.
    let cpuinfo_path = opts.path("proc/cpuinfo");
    if let Some(bytes) = read_optional(&cpuinfo_path)? {
        pkg.add_member("cpuinfo", bytes);
    } else {
        notes.push(format!("{} not readable", cpuinfo_path.display()));
    }
    if opts.run_commands {
        match run_bytes("lscpu", &["-J"]) {
            Ok(out)
                if crate::capacity::parse_lscpu_json(&String::from_utf8_lossy(&out)).is_ok() =>
            {
                pkg.add_member("lscpu.json", out)
            }
            Ok(_) => notes.push("lscpu -J gave no usable output; skipped".into()),
            Err(why) => notes.push(format!("lscpu not run: {why}")),
        }
        match run_bytes("dmidecode", &[]) {
            Ok(out) if String::from_utf8_lossy(&out).contains("Handle ") => {
                pkg.add_member("dmidecode.txt", out)
            }
            Ok(_) => notes.push("dmidecode gave no DMI table; skipped".into()),
            Err(why) => notes.push(format!("dmidecode not run: {why}")),
        }
    }
    if !pkg
        .members()
        .any(|(n, _)| n == "cpuinfo" || n == "lscpu.json" || n == "dmidecode.txt")
    {
        return Err(ScanError::NoCapacity(notes.join("; ")));
    }

    // Hardware identity the DMI table may not give a non-root dmidecode.
    match fs::read(opts.path("sys/class/dmi/id/product_uuid")) {
        Ok(b) => match crate::capacity::usable_uuid(&String::from_utf8_lossy(&b)) {
            Some(u) => pkg.add_member("product_uuid", format!("{u}\n").into_bytes()),
            None => notes.push("/sys/class/dmi/id/product_uuid holds no usable UUID".into()),
        },
        Err(e) => notes.push(format!("/sys/class/dmi/id/product_uuid not read: {e}")),
    }

    // Virtualization host.
    if let Some(virsh) = &opts.virsh {
        let cap = own_capacity(&pkg);
        let host = host_facts(&pkg, cap.as_ref());
        let observed = pkg.computer().scan_time.unwrap_or_else(now_seconds);
        match scan_virsh(virsh, host, observed, &mut notes) {
            Ok(mut scan) => {
                scan.id = Some(pkg.computer().endpoint_id.clone());
                let file = crate::vmman::vmman_scan_file_name(&scan);
                let xml = crate::vmman::vmman_scan_xml(&scan).into_bytes();
                match crate::vmman::vmman_archive(&[(file, xml)]) {
                    Ok(bytes) => pkg.add_member("0_vmman.tar.gz", bytes),
                    Err(e) => notes.push(format!("no VM-manager scan: cannot pack it: {e}")),
                }
            }
            Err(why) => notes.push(format!("no VM-manager scan: {why}")),
        }
    }

    // Packages.
    let dpkg = opts.path("var/lib/dpkg/status");
    if let Some(bytes) = read_optional(&dpkg)? {
        pkg.add_member("dpkg-status", bytes);
    } else if opts.run_commands {
        match run_bytes("rpm", &["-qa", "--queryformat", RPM_QUERYFORMAT]) {
            Ok(out) => pkg.add_member("rpm-qa.tsv", out),
            Err(why) => notes.push(format!("no dpkg status and rpm not run: {why}")),
        }
    } else {
        notes.push(format!("{} not present", dpkg.display()));
    }

    // SWID tags.
    let found = search_tags(&opts.root, &opts.tag_search);
    notes.extend(found.notes);
    let mut summary = found.summary;
    let mut index = TagIndex::default();
    let mut members = Vec::new();
    let mut bytes_packed: u64 = 0;
    for tag in found.tags {
        if members.len() >= MAX_PACKED_TAGS || bytes_packed >= MAX_PACKED_TAG_BYTES {
            summary.complete = false;
            summary.cut_short = Some(format!(
                "more tags were found than one package carries ({MAX_PACKED_TAGS} tags, \
                 128 MiB); the tags after {} are not packed",
                members.len()
            ));
            break;
        }
        let path = &tag.path;
        match fs::metadata(path) {
            Ok(m) if m.len() > MAX_SCAN_FILE => {
                notes.push(format!("{}: larger than 16 MiB; skipped", path.display()))
            }
            Ok(_) => match fs::read(path) {
                Ok(b) => {
                    bytes_packed += b.len() as u64;
                    let member = format!("{SWID_DIR}/{}/{}", members.len() + 1, tag.file_name);
                    index.tags.push(TagIndexEntry {
                        member: member.clone(),
                        directory: tag.directory,
                    });
                    members.push((member, b));
                }
                Err(e) => notes.push(format!("{}: {e}; skipped", path.display())),
            },
            Err(e) => notes.push(format!("{}: {e}; skipped", path.display())),
        }
    }
    if let Some(why) = &summary.cut_short {
        notes.push(format!("the ISO tag search was cut short: {why}"));
    }
    index.search = Some(summary.clone());
    let index_json = serde_json::to_vec_pretty(&index).map_err(|e| ScanError::Read {
        path: PathBuf::from(SWID_INDEX),
        source: io::Error::other(e),
    })?;
    pkg.add_member(SWID_INDEX, index_json);
    for (member, b) in members {
        pkg.add_member(member, b);
    }
    pkg.tag_search = Some(summary);

    pkg.notes = notes;
    Ok(pkg)
}

/// The capacity the package's own evidence gives (for the host facts of its vmman scan).
fn own_capacity(pkg: &BuiltScanPackage) -> Option<crate::Capacity> {
    use crate::capacity::{parse_cpuinfo, parse_dmidecode, parse_lscpu_json, Evidence};
    let member = |n: &str| {
        pkg.members()
            .find(|(m, _)| *m == n)
            .map(|(_, d)| String::from_utf8_lossy(d).into_owned())
    };
    let cpuinfo = member("cpuinfo").map(|t| parse_cpuinfo(&t));
    let lscpu = member("lscpu.json").and_then(|t| parse_lscpu_json(&t).ok());
    let dmi = member("dmidecode.txt").map(|t| parse_dmidecode(&t));
    let uuid = member("product_uuid");
    crate::capacity::derive_capacity(
        Evidence {
            cpuinfo: cpuinfo.as_ref(),
            lscpu: lscpu.as_ref(),
            dmidecode: dmi.as_ref(),
            product_uuid: uuid.as_deref(),
        },
        &mut Vec::new(),
    )
    .ok()
}

/// The host layer of this machine's vmman scan, from its own evidence (its UUID is
/// replaced by libvirt's host UUID when `virsh capabilities` gives one).
fn host_facts(pkg: &BuiltScanPackage, cap: Option<&crate::Capacity>) -> crate::VmHost {
    let c = pkg.computer();
    crate::VmHost {
        uuid: cap
            .and_then(|c| c.identity.system_uuid.clone())
            .unwrap_or_default(),
        name: c.dns_name.clone().or_else(|| c.computer_name.clone()),
        serial_number: cap.and_then(|c| c.identity.system_serial.clone()),
        cores: cap.and_then(|c| c.cores),
        active_sockets: cap.map(|c| c.sockets),
        // IBM's host scan writes the active count here too.
        available_sockets: cap.map(|c| c.sockets),
        cpu_model: cap.and_then(|c| c.brand.clone()),
        hardware_vendor: cap.and_then(|c| c.identity.system_manufacturer.clone()),
        hardware_model: cap.and_then(|c| c.identity.system_product.clone()),
    }
}

/// The libvirt connection of the host scan: the system's QEMU/KVM domains, over libvirt's
/// read-only socket (no root needed; without it a non-root `virsh` would start and list a
/// per-user session instead).
pub const LIBVIRT_URI: &str = "qemu:///system";

/// The virtualization-host scan of a KVM/libvirt host, as IBM's `run_vtech_scan.sh` does
/// it with read-only `virsh` (locale `C`; every command is `virsh --readonly --connect
/// qemu:///system …`, see [`LIBVIRT_URI`]):
///
/// * the host's UUID: `virsh --readonly capabilities`, `//host/uuid`; else `host.uuid`
///   (the SMBIOS system UUID); with neither, no scan;
/// * the running guests: `virsh --readonly list --all`, rows in state `running` with a
///   numeric id ([`crate::vmman::parse_virsh_list`]);
/// * each guest's UUID, name and vCPUs: `virsh --readonly dumpxml <id>`
///   ([`crate::vmman::parse_domain_xml`]); a domain that cannot be read (it stopped
///   meanwhile) is left out with a note.
///
/// `Err` says why there is no scan (virsh absent, or `list` failed: not a libvirt host).
pub fn scan_virsh(
    virsh: &Path,
    mut host: crate::VmHost,
    observed_at: DateTime<Utc>,
    notes: &mut Vec<String>,
) -> Result<crate::VmManagerScan, String> {
    use crate::vmman::{parse_domain_xml, parse_virsh_list, MAX_GUESTS};
    let cmd = virsh.to_string_lossy();
    let virsh = |args: &[&str]| {
        let mut all = vec!["--readonly", "--connect", LIBVIRT_URI];
        all.extend_from_slice(args);
        run_bytes(&cmd, &all)
    };
    let list = virsh(&["list", "--all"])?;
    if let Ok(caps) = virsh(&["capabilities"]) {
        if let Some(u) = capabilities_host_uuid(&caps) {
            host.uuid = u;
        }
    }
    if crate::vmman::normalize_uuid(&host.uuid).is_none() {
        return Err(
            "the host has no UUID (virsh capabilities gave none, and no SMBIOS UUID is              readable: run the scan as root)"
                .into(),
        );
    }
    let domains = parse_virsh_list(&String::from_utf8_lossy(&list));
    let mut guests: Vec<crate::VmGuest> = Vec::new();
    for (id, name) in domains.into_iter().take(MAX_GUESTS) {
        match virsh(&["dumpxml", &id]).and_then(|x| parse_domain_xml(&x)) {
            Ok(g) if guests.iter().any(|o| o.uuid.eq_ignore_ascii_case(&g.uuid)) => notes.push(
                format!("virsh: domain {id} ({name}) repeats a UUID; skipped"),
            ),
            Ok(g) => guests.push(g),
            Err(why) => notes.push(crate::text::printable(&format!(
                "virsh: domain {id} ({name}) skipped: {why}"
            ))),
        }
    }
    let technology = match std::env::consts::ARCH {
        "x86" | "x86_64" => "KVM_X86",
        "powerpc" | "powerpc64" => "KVM_PPC",
        _ => "KVM",
    };
    Ok(crate::VmManagerScan {
        member: String::new(),
        id: None,
        virtual_technology: Some(technology.into()),
        observed_at,
        host,
        guests,
    })
}

/// `//host/uuid` of `virsh capabilities` output.
fn capabilities_host_uuid(xml: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(xml);
    let host = &text[text.find("<host>")?..];
    let start = host.find("<uuid>")? + "<uuid>".len();
    let end = host[start..].find("</uuid>")? + start;
    crate::capacity::usable_uuid(&host[start..end])
}

fn machine_id(opts: &ScanOptions) -> Result<String, ScanError> {
    let a = opts.path("etc/machine-id");
    let b = opts.path("var/lib/dbus/machine-id");
    read_trimmed(&a)
        .or_else(|| read_trimmed(&b))
        .ok_or(ScanError::NoMachineId(a, b))
}

fn read_trimmed(p: &Path) -> Option<String> {
    fs::read(p)
        .ok()
        .and_then(|b| crate::text::non_empty(&String::from_utf8_lossy(&b)))
}

/// `Ok(None)` when the file does not exist; an error when it exists but cannot be read.
fn read_optional(p: &Path) -> Result<Option<Vec<u8>>, ScanError> {
    match fs::read(p) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => Ok(None),
        Err(source) => Err(ScanError::Read {
            path: p.to_path_buf(),
            source,
        }),
    }
}

/// Run a command with a timeout; `Err` says why there is no output.
fn run_bytes(cmd: &str, args: &[&str]) -> Result<Vec<u8>, String> {
    let mut child = Command::new(cmd)
        .args(args)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                format!("`{cmd}` not found")
            } else {
                format!("`{cmd}` failed to start: {e}")
            }
        })?;
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out_t = thread::spawn(move || {
        let mut b = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.take(256 * 1024 * 1024).read_to_end(&mut b);
        }
        b
    });
    let err_t = thread::spawn(move || {
        let mut b = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.take(64 * 1024).read_to_end(&mut b);
        }
        b
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if start.elapsed() > COMMAND_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("`{cmd}` timed out"));
            }
            Ok(None) => thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(format!("`{cmd}`: {e}")),
        }
    };
    let out = out_t.join().unwrap_or_default();
    let err = err_t.join().unwrap_or_default();
    if !status.success() {
        let msg = String::from_utf8_lossy(&err);
        let first = msg.lines().next().unwrap_or("").trim();
        return Err(format!("`{cmd}` exited with {status}: {first}"));
    }
    Ok(out)
}

fn run(cmd: &str, args: &[&str]) -> Option<String> {
    run_bytes(cmd, args)
        .ok()
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn keep_ip(ip: &str) -> bool {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => !v4.is_loopback() && !v4.is_unspecified(),
        Ok(std::net::IpAddr::V6(v6)) => {
            !v6.is_loopback() && !v6.is_unspecified() && (v6.segments()[0] & 0xffc0) != 0xfe80
        }
        Err(_) => false,
    }
}

/// Addresses from `ip -j addr`, skipping loopback interfaces and addresses and IPv6
/// link-local ones; in interface order, without duplicates.
pub(crate) fn parse_ip_json(json: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let Ok(serde_json::Value::Array(ifaces)) = serde_json::from_str::<serde_json::Value>(json)
    else {
        return out;
    };
    for iface in &ifaces {
        let loopback = iface
            .get("flags")
            .and_then(|f| f.as_array())
            .is_some_and(|f| f.iter().any(|x| x.as_str() == Some("LOOPBACK")));
        if loopback {
            continue;
        }
        let Some(addrs) = iface.get("addr_info").and_then(|a| a.as_array()) else {
            continue;
        };
        for a in addrs {
            if let Some(ip) = a.get("local").and_then(|l| l.as_str()) {
                if keep_ip(ip) && !out.iter().any(|o| o == ip) {
                    out.push(ip.to_string());
                }
            }
        }
    }
    out
}

fn parse_hostname_i(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for ip in s.split_whitespace() {
        if keep_ip(ip) && !out.iter().any(|o| o == ip) {
            out.push(ip.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_id_is_stable() {
        let a = endpoint_id_from_machine_id("3d1219c7c4c5404aaa1f6d2a48adfda4\n");
        assert_eq!(a.len(), 32);
        assert_eq!(
            a,
            endpoint_id_from_machine_id("3d1219c7c4c5404aaa1f6d2a48adfda4")
        );
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn ip_json() {
        let j = r#"[{"ifname":"lo","flags":["LOOPBACK","UP"],"addr_info":[{"local":"127.0.0.1"}]},
                   {"ifname":"eth0","flags":["UP"],"addr_info":[{"local":"192.0.2.2"},{"local":"fe80::1"},{"local":"fd00::2"}]}]"#;
        assert_eq!(parse_ip_json(j), vec!["192.0.2.2", "fd00::2"]);
        assert_eq!(
            parse_hostname_i("192.0.2.2 127.0.0.1 fd00::2"),
            vec!["192.0.2.2", "fd00::2"]
        );
        assert!(parse_ip_json("not json").is_empty());
    }
}
