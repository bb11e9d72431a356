//! `make-seeds [REPO]`: writes the seed corpus of every fuzz target into
//! `REPO/fuzz/corpus/<target>/` (REPO defaults to the current directory), from the real
//! captures in `REPO/../shared/corpus` (see its README) and the repository's own files:
//!
//! * `scan_package`: real scan packages (tar.gz and zip, as the scanner and IBM's packer
//!   make them) of corpus hosts, and each corpus member prefixed with its parser's number;
//! * `vmman_xml`: IBM's `vmman_scan` layout of the corpus KVM host (`vmman_scan_xml` of the
//!   corpus `virsh dumpxml` guests on the corpus HP DL180) and the raw `dumpxml` captures;
//! * `catalog`: the bundled catalog;
//! * `criteria`: every query string and `criteria` of the real clients' requests
//!   (`shared/reference/ilmt/*.md`) and of `docs/api.md`, once per list;
//! * `pvu_table`: the bundled PVU tables.
//!
//! Seed files are named by a hash of their content, as libFuzzer names its own.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashSet;
use std::fs;
use std::hash::{Hash, Hasher};
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use chrono::{TimeZone, Utc};
use openlmt_scanpkg::capacity::parse_dmidecode;
use openlmt_scanpkg::vmman::{
    parse_domain_xml, vmman_archive, vmman_scan_file_name, vmman_scan_xml,
};
use openlmt_scanpkg::{
    read_scan_package, scan_package_bytes, ArchiveKind, BuiltScanPackage, ComputerInfo, Limits,
    VmHost, VmManagerScan,
};

/// The member parsers of the `scan_package` target, by selector byte (same order there).
const MEMBERS: [&str; 8] = [
    "computer.yml",
    "cpuinfo",
    "lscpu.json",
    "dmidecode.txt",
    "dpkg-status",
    "dpkg-query.tsv",
    "rpm-qa.tsv",
    "isotag_scan/*.swidtag",
];
/// The lists of the `criteria` target, by selector byte.
const LISTS: usize = 9;
/// Seeds are kept under the targets' `-max_len`: a longer real file is cut at a line end.
const MAX_SEED: usize = 60 * 1024;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

struct Corpus {
    root: PathBuf,
}

impl Corpus {
    fn read(&self, rel: &str) -> Result<Vec<u8>> {
        let p = self.root.join(rel);
        fs::read(&p).map_err(|e| format!("{}: {e}", p.display()).into())
    }
    fn text(&self, rel: &str) -> Result<String> {
        Ok(String::from_utf8_lossy(&self.read(rel)?).into_owned())
    }
}

/// `text` cut after its last line end within `max` bytes (whole when it fits).
fn cut(text: &[u8], max: usize) -> &[u8] {
    if text.len() <= max {
        return text;
    }
    match text[..max].iter().rposition(|&b| b == b'\n') {
        Some(i) => &text[..=i],
        None => &text[..max],
    }
}

/// The first `n` paragraphs of a dpkg status file.
fn paragraphs(text: &str, n: usize) -> String {
    text.split("\n\n").take(n).collect::<Vec<_>>().join("\n\n") + "\n"
}

struct Out {
    dir: PathBuf,
    /// The distinct seeds written (the same bytes twice are one file).
    written: HashSet<u64>,
}

impl Out {
    fn new(corpus_dir: &Path, target: &str) -> Result<Out> {
        let dir = corpus_dir.join(target);
        fs::create_dir_all(&dir)?;
        Ok(Out {
            dir,
            written: HashSet::new(),
        })
    }
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        let mut h = DefaultHasher::new();
        bytes.hash(&mut h);
        let h = h.finish();
        fs::write(self.dir.join(format!("seed-{h:016x}")), bytes)?;
        self.written.insert(h);
        Ok(())
    }
    fn put_member(&mut self, parser: &str, bytes: &[u8]) -> Result<()> {
        let sel = MEMBERS
            .iter()
            .position(|m| *m == parser)
            .ok_or("unknown parser")?;
        let mut v = vec![sel as u8];
        v.extend_from_slice(cut(bytes, MAX_SEED));
        self.put(&v)
    }
}

/// The corpus KVM host as IBM's host scan reports it: the HP DL180 of
/// `dmidecode/hp-dl180` running the two domains of `virsh/dumpxml1` and `dumpxml2`.
fn vmman_scan(c: &Corpus) -> Result<VmManagerScan> {
    let dmi = parse_dmidecode(&c.text("dmidecode/hp-dl180")?);
    let guests = ["virsh/dumpxml1", "virsh/dumpxml2"]
        .iter()
        .map(|f| parse_domain_xml(&c.read(f)?).map_err(Into::into))
        .collect::<Result<Vec<_>>>()?;
    Ok(VmManagerScan {
        member: String::new(),
        id: Some("1712345678123456789".into()),
        virtual_technology: Some("KVM_X86".into()),
        observed_at: Utc.with_ymd_and_hms(2026, 12, 1, 10, 30, 0).unwrap(),
        host: VmHost {
            uuid: dmi.system_uuid.clone().ok_or("hp-dl180 has no UUID")?,
            name: Some("dl180".into()),
            serial_number: dmi.system_serial.clone(),
            cores: Some(4),
            active_sockets: Some(1),
            available_sockets: Some(2),
            cpu_model: dmi.cpu.brand.clone(),
            hardware_vendor: dmi.system_manufacturer.clone(),
            hardware_model: dmi.system_product.clone(),
        },
        guests,
    })
}

fn computer(id: &str, os: &str) -> ComputerInfo {
    let mut c = ComputerInfo::new(id);
    c.computer_name = Some(id.into());
    c.operating_system = Some(os.into());
    c.ip_addresses = vec!["192.0.2.10".into()];
    c.agent_version = Some("openlmt make-seeds".into());
    c.scan_time = Some(Utc.with_ymd_and_hms(2026, 12, 1, 10, 30, 0).unwrap());
    c
}

fn zip_of(members: &[(String, Vec<u8>)], deflate: bool) -> Result<Vec<u8>> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let method = if deflate {
        zip::CompressionMethod::Deflated
    } else {
        zip::CompressionMethod::Stored
    };
    let opts = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, data) in members {
        w.start_file(name.as_str(), opts)?;
        w.write_all(data)?;
    }
    Ok(w.finish()?.into_inner())
}

fn scan_package_seeds(c: &Corpus, out: &mut Out) -> Result<()> {
    let vm = "hosts/debian12-vm";
    let os = c.text(&format!("{vm}/os-release"))?;
    let pretty = os
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .unwrap_or("Debian")
        .trim_matches('"')
        .to_string();
    let mut tags: Vec<String> = fs::read_dir(c.root.join(vm).join("isotag_scan"))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".swidtag"))
        .collect();
    tags.sort();
    let vmman = vmman_scan(c)?;
    let vmman_tgz = vmman_archive(&[(
        vmman_scan_file_name(&vmman),
        vmman_scan_xml(&vmman).into_bytes(),
    )])?;

    // The Debian 12 VM: its capacity files, its first dpkg records and SWID tags (the
    // whole host is ~800 KiB, far over max_len), and the two IBM tags.
    let mut members: Vec<(String, Vec<u8>)> = vec![
        ("cpuinfo".into(), c.read(&format!("{vm}/cpuinfo"))?),
        ("lscpu.json".into(), c.read(&format!("{vm}/lscpu.json"))?),
        (
            "dpkg-status".into(),
            paragraphs(&c.text(&format!("{vm}/dpkg-status"))?, 12).into_bytes(),
        ),
    ];
    for t in tags.iter().take(4) {
        members.push((
            format!("isotag_scan/{t}"),
            c.read(&format!("{vm}/isotag_scan/{t}"))?,
        ));
    }
    for t in fs::read_dir(c.root.join("swid-ibm"))? {
        let name = t?.file_name().to_string_lossy().into_owned();
        members.push((
            format!("isotag_scan/{name}"),
            c.read(&format!("swid-ibm/{name}"))?,
        ));
    }
    let debian = computer("debian12-vm", &pretty);
    // The KVM host: HP DL180 capacity evidence, rpm and dpkg queries, its vmman scan.
    let host: Vec<(String, Vec<u8>)> = vec![
        ("cpuinfo".into(), c.read("cpuinfo/linux-hp-dl180")?),
        ("dmidecode.txt".into(), c.read("dmidecode/hp-dl180")?),
        ("dpkg-query.tsv".into(), c.read("packaging/dpkg-query.tsv")?),
        ("rpm-qa.tsv".into(), c.read("packaging/rpm-qa.tsv")?),
        ("0_vmman.tar.gz".into(), vmman_tgz),
    ];
    let kvm = computer("kvm-host-1", "Red Hat Enterprise Linux");
    for (info, files) in [(&debian, &members), (&kvm, &host)] {
        let mut pkg = BuiltScanPackage::new(info.clone());
        for (n, d) in files {
            pkg.add_member(n.clone(), d.clone());
        }
        let tgz = scan_package_bytes(&pkg)?;
        let mut all = vec![("computer.yml".to_string(), info.to_yaml()?.into_bytes())];
        all.extend(files.iter().cloned());
        let zips = [zip_of(&all, true)?, zip_of(&all, false)?];
        // Each is a package the importer takes, with every member read.
        for (kind, bytes) in [
            (ArchiveKind::TarGz, &tgz),
            (ArchiveKind::Zip, &zips[0]),
            (ArchiveKind::Zip, &zips[1]),
        ] {
            let p = read_scan_package(kind, Cursor::new(bytes), &Limits::default())
                .map_err(|e| format!("a seed package does not read: {e}"))?;
            let vmman_lost =
                files.iter().any(|(n, _)| n == "0_vmman.tar.gz") && p.vm_manager.is_empty();
            if vmman_lost
                || p.swid_tags.len() + p.installed_packages.len() == 0
                || bytes.len() > MAX_SEED
            {
                return Err(
                    format!("seed package of {}: no facts or too big", info.endpoint_id).into(),
                );
            }
            out.put(bytes)?;
        }
    }

    // Single members, each behind its parser's selector byte.
    out.put_member("computer.yml", debian.to_yaml()?.as_bytes())?;
    for f in fs::read_dir(c.root.join("cpuinfo"))? {
        let name = f?.file_name().to_string_lossy().into_owned();
        out.put_member("cpuinfo", &c.read(&format!("cpuinfo/{name}"))?)?;
    }
    out.put_member("cpuinfo", &c.read(&format!("{vm}/cpuinfo"))?)?;
    out.put_member("lscpu.json", &c.read(&format!("{vm}/lscpu.json"))?)?;
    for f in fs::read_dir(c.root.join("dmidecode"))? {
        let name = f?.file_name().to_string_lossy().into_owned();
        out.put_member("dmidecode.txt", &c.read(&format!("dmidecode/{name}"))?)?;
    }
    out.put_member(
        "dpkg-status",
        paragraphs(&c.text(&format!("{vm}/dpkg-status"))?, 40).as_bytes(),
    )?;
    out.put_member("dpkg-query.tsv", &c.read("packaging/dpkg-query.tsv")?)?;
    out.put_member("rpm-qa.tsv", &c.read("packaging/rpm-qa.tsv")?)?;
    for (n, d) in members
        .iter()
        .filter(|(n, _)| n.starts_with("isotag_scan/"))
    {
        let _ = n;
        out.put_member("isotag_scan/*.swidtag", d)?;
    }
    Ok(())
}

fn vmman_seeds(c: &Corpus, out: &mut Out) -> Result<()> {
    out.put(vmman_scan_xml(&vmman_scan(c)?).as_bytes())?;
    out.put(&c.read("virsh/dumpxml1")?)?;
    out.put(&c.read("virsh/dumpxml2")?)?;
    Ok(())
}

/// Query strings and criteria of real requests quoted in `text`: after each
/// `api/sam/v2/<list>?`, up to a space or backtick, and each `criteria=` value in it.
fn requests(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut rest = line;
        while let Some(i) = rest.find('?') {
            let q: String = rest[i + 1..]
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '`')
                .collect();
            let q = q.trim_end_matches(['\'', '"', ')', ',', '.']).to_string();
            rest = &rest[i + 1..];
            if !q.contains('=') {
                continue;
            }
            for (k, v) in form_urlencoded::parse(q.as_bytes()) {
                if k == "criteria" {
                    out.push(v.into_owned());
                }
            }
            out.push(q);
        }
        if let Some(i) = line.find("criteria=") {
            let v: String = line[i + "criteria=".len()..]
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '`' && *c != '&')
                .collect();
            out.push(v.trim_end_matches(['\'', '"']).to_string());
        }
    }
    out.sort();
    out.dedup();
    out
}

fn criteria_seeds(repo: &Path, out: &mut Out) -> Result<()> {
    let mut texts = Vec::new();
    let reference = repo.join("../shared/reference/ilmt");
    for e in fs::read_dir(&reference)? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "md") {
            texts.push(fs::read_to_string(&p)?);
        }
    }
    texts.push(fs::read_to_string(repo.join("docs/api.md"))?);
    for t in texts {
        for r in requests(&t) {
            for list in 0..LISTS {
                let mut v = vec![list as u8];
                v.extend_from_slice(r.as_bytes());
                out.put(&v)?;
            }
        }
    }
    Ok(())
}

fn main() -> Result<()> {
    let repo = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| ".".into()));
    let corpus = Corpus {
        root: repo.join("../shared/corpus"),
    };
    let dir = repo.join("fuzz/corpus");
    let mut report = Vec::new();

    let mut o = Out::new(&dir, "scan_package")?;
    scan_package_seeds(&corpus, &mut o)?;
    report.push(("scan_package", o.written.len()));

    let mut o = Out::new(&dir, "vmman_xml")?;
    vmman_seeds(&corpus, &mut o)?;
    report.push(("vmman_xml", o.written.len()));

    let mut o = Out::new(&dir, "catalog")?;
    o.put(&fs::read(repo.join("crates/catalog/bundled/catalog.json"))?)?;
    report.push(("catalog", o.written.len()));

    let mut o = Out::new(&dir, "criteria")?;
    criteria_seeds(&repo, &mut o)?;
    report.push(("criteria", o.written.len()));

    let mut o = Out::new(&dir, "pvu_table")?;
    for f in ["pvu_table.csv", "pvu_table_x86.csv"] {
        o.put(&fs::read(repo.join("crates/licensing/data").join(f))?)?;
    }
    report.push(("pvu_table", o.written.len()));

    for (t, n) in report {
        println!("{t}: {n} seeds in {}", dir.join(t).display());
    }
    Ok(())
}
