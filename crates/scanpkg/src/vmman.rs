//! VM-manager and virtualization-host evidence: the `vmman_scan_*.xml` files that IBM's
//! disconnected scanner packs into `<n>_vmman.tar.gz` members (n = 0–9), and that
//! `openlmt scan` writes on a KVM/libvirt host. The element tree and how IBM's host scan
//! derives each value are in `docs/scan-package.md` ("VM-manager evidence").
//!
//! [`parse_vmman_xml`] is pure and total: any input gives a scan or a one-line reason.
//! [`vmman_scan_xml`] writes IBM's layout (what [`parse_vmman_xml`] reads back).

use chrono::{DateTime, SecondsFormat, Utc};
use quick_xml::events::Event;
use quick_xml::reader::Reader;
use serde::Serialize;

use crate::text::squash_ws;

/// Deepest element nesting accepted (the tree is three levels deep).
const MAX_DEPTH: usize = 16;
/// Most guests one scan may list (a host with more is not a real host).
pub const MAX_GUESTS: usize = 100_000;
/// Most vCPUs one guest may have (KVM's own maximum is 4,096 and more on no hypervisor).
pub const MAX_VCPUS: u32 = 4096;
/// Most physical cores one host may report.
pub const MAX_HOST_CORES: u32 = 65_536;
/// Most processor sockets one host may report.
pub const MAX_HOST_SOCKETS: u32 = 4096;
/// Longest text value kept (host names, models); longer values are cut at a character
/// boundary.
const MAX_TEXT: usize = 1024;

/// One `vmman_scan_*.xml`: one VM manager or virtualization host, observed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmManagerScan {
    /// Where it came from in the package (`0_vmman.tar.gz/vmman_scan_….xml`); empty when
    /// parsed on its own by [`parse_vmman_xml`].
    pub member: String,
    /// `<id>`: the VM manager's id (IBM's host scan: the VMMAN_ID digit string).
    pub id: Option<String>,
    /// `<virtual_technology>`: `KVM_X86`, `KVM_PPC`, `XEN`, … as written.
    pub virtual_technology: Option<String>,
    /// `<timestamp>`: when the host was observed (UTC).
    pub observed_at: DateTime<Utc>,
    /// `<host_layer>`: the physical host.
    pub host: VmHost,
    /// `<guest_layer>` elements: the running VMs at `observed_at`, in document order.
    pub guests: Vec<VmGuest>,
}

/// The physical host of a [`VmManagerScan`] (`<host_layer>`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VmHost {
    /// `<uuid>`, as printed (see [`normalize_uuid`]).
    pub uuid: String,
    /// `<name>`: host name, or the serial number when the scanner collects no host names.
    pub name: Option<String>,
    /// `<serial_number>`.
    pub serial_number: Option<String>,
    /// `<cores_count>`: physical cores of the host.
    pub cores: Option<u32>,
    /// `<active_sockets_count>`: populated sockets.
    pub active_sockets: Option<u32>,
    /// `<available_sockets_count>`.
    pub available_sockets: Option<u32>,
    /// `<cpu_model>`.
    pub cpu_model: Option<String>,
    /// `<hardware_vendor>`: system manufacturer.
    pub hardware_vendor: Option<String>,
    /// `<hardware_model>`: system product name.
    pub hardware_model: Option<String>,
}

/// One running VM of a [`VmManagerScan`] (`<guest_layer>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VmGuest {
    /// `<uuid>`, as printed (see [`normalize_uuid`]).
    pub uuid: String,
    /// `<name>` (an openlmt addition: the libvirt domain name; IBM's files have none).
    pub name: Option<String>,
    /// `<vp_count>`: virtual processors, 1..=[`MAX_VCPUS`].
    pub vcpus: u32,
}

/// A UUID as a licence engine compares it: lower case, without braces or surrounding
/// spaces; `None` unless it is 32 hex digits, with or without the usual dashes.
/// Byte order is kept as printed (an SMBIOS UUID and the same machine's hypervisor UUID
/// may differ in the order of the first three groups; matching them is not done here).
pub fn normalize_uuid(raw: &str) -> Option<String> {
    let t = raw.trim();
    let t = t
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .unwrap_or(t)
        .trim();
    let hex: usize = t.chars().filter(|c| c.is_ascii_hexdigit()).count();
    let dashes_ok = t.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    (hex == 32 && dashes_ok && (t.len() == 32 || t.len() == 36)).then(|| t.to_ascii_lowercase())
}

/// Whether a UUID is a placeholder: all zeros or all `f` (firmware that has none).
pub fn is_placeholder_uuid(uuid: &str) -> bool {
    let hex: Vec<char> = uuid.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    hex.iter().all(|&c| c == '0') || hex.iter().all(|c| c.eq_ignore_ascii_case(&'f'))
}

/// Whether a member name (after the package's prefix is stripped) is a vmman archive:
/// `<n>_vmman.tar.gz` with one digit n.
pub fn is_vmman_member(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() == "0_vmman.tar.gz".len() && b[0].is_ascii_digit() && &name[1..] == "_vmman.tar.gz"
}

/// Whether a file inside a vmman archive is a scan file: `vmman_scan_*.xml`.
pub fn is_vmman_scan_file(name: &str) -> bool {
    name.len() > "vmman_scan_.xml".len()
        && name.starts_with("vmman_scan_")
        && name.ends_with(".xml")
        && !name.contains('/')
}

#[derive(Default)]
struct Raw {
    root_seen: bool,
    id: Option<String>,
    tech: Option<String>,
    timestamp: Option<String>,
    hosts: usize,
    host: RawHost,
    guests: Vec<RawGuest>,
}

#[derive(Default)]
struct RawHost {
    uuid: Option<String>,
    name: Option<String>,
    serial: Option<String>,
    cores: Option<String>,
    active: Option<String>,
    available: Option<String>,
    cpu_model: Option<String>,
    vendor: Option<String>,
    model: Option<String>,
}

#[derive(Default)]
struct RawGuest {
    uuid: Option<String>,
    name: Option<String>,
    vp_count: Option<String>,
}

/// Parse one `vmman_scan_*.xml` document (IBM's `capacity_report`, see the module docs).
///
/// Required: the `capacity_report` root, a parseable `<timestamp>`, exactly one
/// `<host_layer>` with a UUID-shaped `<uuid>`, and in every `<guest_layer>` a UUID-shaped
/// `<uuid>` (each once) and a `<vp_count>` in 1..=[`MAX_VCPUS`]. Host counts are optional
/// but, when present, must be numbers within [`MAX_HOST_CORES`] / [`MAX_HOST_SOCKETS`].
/// Unknown elements are ignored. Values are kept as written, runs of whitespace squashed;
/// text that is not valid XML-escaped (IBM's script does not escape, so a vendor name
/// with `&` appears raw) is kept raw. The error is one line saying what is wrong.
pub fn parse_vmman_xml(bytes: &[u8]) -> Result<VmManagerScan, String> {
    parse_scan(bytes).map_err(|e| crate::text::printable(&e))
}

fn parse_scan(bytes: &[u8]) -> Result<VmManagerScan, String> {
    let bytes = escape_bare_ampersands(bytes);
    let mut reader = Reader::from_reader(&bytes[..]);
    reader.config_mut().check_end_names = true;
    let mut path: Vec<String> = Vec::new();
    let mut raw = Raw::default();
    let mut text = String::new();
    loop {
        let ev = reader
            .read_event()
            .map_err(|e| format!("XML error at byte {}: {e}", reader.error_position()))?;
        match ev {
            Event::Start(e) => {
                if path.len() >= MAX_DEPTH {
                    return Err("elements nested too deeply".into());
                }
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                open(&mut raw, &path, &name)?;
                path.push(name);
                text.clear();
            }
            Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                open(&mut raw, &path, &name)?;
            }
            // Text past the longest kept value is dropped (it would be cut anyway).
            Event::Text(t) if text.len() < MAX_TEXT * 4 => {
                text.push_str(&String::from_utf8_lossy(&t))
            }
            Event::CData(t) if text.len() < MAX_TEXT * 4 => {
                text.push_str(&String::from_utf8_lossy(&t))
            }
            Event::GeneralRef(r) if text.len() < MAX_TEXT * 4 => {
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    text.push(c);
                } else {
                    let n = String::from_utf8_lossy(&r).into_owned();
                    match quick_xml::escape::resolve_predefined_entity(&n) {
                        Some(s) => text.push_str(s),
                        // Not an entity this document could define: keep it raw.
                        None => {
                            text.push('&');
                            text.push_str(&n);
                            text.push(';');
                        }
                    }
                }
            }
            Event::End(_) => {
                close(&mut raw, &path, &text);
                text.clear();
                path.pop();
            }
            Event::Eof => {
                if let Some(open) = path.last() {
                    return Err(format!(
                        "truncated: element `{}` is not closed",
                        crate::text::printable(open)
                    ));
                }
                break;
            }
            _ => {}
        }
        if raw.guests.len() > MAX_GUESTS {
            return Err(format!("more than {MAX_GUESTS} guest_layer elements"));
        }
    }
    finish(raw)
}

/// IBM's script writes values without escaping them, so `AT&T` appears as is: every `&`
/// that does not start a reference (`&name;`, `&#N;`, `&#xH;`) is read as `&amp;`.
fn escape_bare_ampersands(bytes: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let is_ref = |rest: &[u8]| {
        let body: Vec<u8> = rest
            .iter()
            .skip(1)
            .take(33)
            .take_while(|&&b| b != b';')
            .copied()
            .collect();
        !body.is_empty()
            && rest.get(1 + body.len()) == Some(&b';')
            && body
                .iter()
                .enumerate()
                .all(|(i, &b)| b.is_ascii_alphanumeric() || (i == 0 && b == b'#'))
    };
    if !bytes
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'&' && !is_ref(&bytes[i..]))
    {
        return std::borrow::Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len() + 16);
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'&' && !is_ref(&bytes[i..]) {
            out.extend_from_slice(b"&amp;");
        } else {
            out.push(b);
        }
    }
    std::borrow::Cow::Owned(out)
}

fn open(raw: &mut Raw, path: &[String], name: &str) -> Result<(), String> {
    match (path.len(), name) {
        (0, "capacity_report") => {
            if raw.root_seen {
                return Err("more than one root element".into());
            }
            raw.root_seen = true;
        }
        (0, other) => {
            return Err(format!(
                "unexpected root element `{}` (expected capacity_report)",
                crate::text::printable(other)
            ))
        }
        (1, "host_layer") => raw.hosts += 1,
        (2, "guest_layer") if path[1] == "host_layer" && raw.hosts == 1 => {
            raw.guests.push(RawGuest::default())
        }
        _ => {}
    }
    Ok(())
}

fn close(raw: &mut Raw, path: &[String], text: &str) {
    let value = || {
        let v = squash_ws(text);
        let v = match v.char_indices().nth(MAX_TEXT) {
            // A cut can end on the space between two words: trimmed, as the
            // written-back value would be when read again.
            Some((cut, _)) => v[..cut].trim_end().to_string(),
            None => v,
        };
        (!v.is_empty()).then_some(v)
    };
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    // The first value of an element counts; later repeats are ignored.
    let set = |slot: &mut Option<String>| {
        if slot.is_none() {
            *slot = value();
        }
    };
    match p.as_slice() {
        ["capacity_report", "id"] => set(&mut raw.id),
        ["capacity_report", "virtual_technology"] => set(&mut raw.tech),
        ["capacity_report", "timestamp"] => set(&mut raw.timestamp),
        ["capacity_report", "host_layer", leaf] if raw.hosts == 1 => {
            let h = &mut raw.host;
            match *leaf {
                "uuid" => set(&mut h.uuid),
                "name" => set(&mut h.name),
                "serial_number" => set(&mut h.serial),
                "cores_count" => set(&mut h.cores),
                "active_sockets_count" => set(&mut h.active),
                "available_sockets_count" => set(&mut h.available),
                "cpu_model" => set(&mut h.cpu_model),
                "hardware_vendor" => set(&mut h.vendor),
                "hardware_model" => set(&mut h.model),
                _ => {}
            }
        }
        ["capacity_report", "host_layer", "guest_layer", leaf] if raw.hosts == 1 => {
            if let Some(g) = raw.guests.last_mut() {
                match *leaf {
                    "uuid" => set(&mut g.uuid),
                    "name" => set(&mut g.name),
                    "vp_count" => set(&mut g.vp_count),
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

fn count(what: &str, v: Option<&str>, max: u32) -> Result<Option<u32>, String> {
    let Some(v) = v else { return Ok(None) };
    match v.parse::<u64>() {
        Ok(n) if n <= u64::from(max) => Ok(Some(n as u32)),
        Ok(n) => Err(format!("{what} {n} is absurd (more than {max})")),
        Err(_) => Err(format!(
            "{what} `{}` is not a number",
            crate::text::printable(v)
        )),
    }
}

fn uuid(what: &str, v: Option<String>) -> Result<String, String> {
    let v = v.ok_or_else(|| format!("{what} has no uuid"))?;
    if normalize_uuid(&v).is_none() {
        return Err(format!(
            "{what} uuid `{}` is not a UUID",
            crate::text::printable(&v)
        ));
    }
    Ok(v)
}

fn finish(raw: Raw) -> Result<VmManagerScan, String> {
    if !raw.root_seen {
        return Err("no capacity_report root element".into());
    }
    match raw.hosts {
        0 => return Err("no host_layer element".into()),
        1 => {}
        n => {
            return Err(format!(
                "{n} host_layer elements (one file describes one host)"
            ))
        }
    }
    let ts = raw.timestamp.ok_or("no timestamp element")?;
    let observed_at = DateTime::parse_from_rfc3339(&ts)
        .map_err(|e| {
            format!(
                "timestamp `{}` is not an RFC 3339 time ({e})",
                crate::text::printable(&ts)
            )
        })?
        .with_timezone(&Utc);
    let h = raw.host;
    let host = VmHost {
        uuid: uuid("host_layer", h.uuid)?,
        name: h.name,
        serial_number: h.serial,
        cores: count("host cores_count", h.cores.as_deref(), MAX_HOST_CORES)?,
        active_sockets: count(
            "host active_sockets_count",
            h.active.as_deref(),
            MAX_HOST_SOCKETS,
        )?,
        available_sockets: count(
            "host available_sockets_count",
            h.available.as_deref(),
            MAX_HOST_SOCKETS,
        )?,
        cpu_model: h.cpu_model,
        hardware_vendor: h.vendor,
        hardware_model: h.model,
    };
    let mut guests = Vec::with_capacity(raw.guests.len());
    let mut seen = std::collections::HashSet::new();
    for (i, g) in raw.guests.into_iter().enumerate() {
        let what = format!("guest_layer {}", i + 1);
        let id = uuid(&what, g.uuid)?;
        let vp = g
            .vp_count
            .ok_or_else(|| format!("{what} ({id}) has no vp_count"))?;
        let vcpus =
            count(&format!("{what} ({id}) vp_count"), Some(&vp), MAX_VCPUS)?.unwrap_or_default();
        if vcpus == 0 {
            return Err(format!("{what} ({id}) vp_count is 0"));
        }
        if !seen.insert(normalize_uuid(&id).unwrap_or_default()) {
            return Err(format!("guest uuid {id} is listed twice"));
        }
        guests.push(VmGuest {
            uuid: id,
            name: g.name,
            vcpus,
        });
    }
    Ok(VmManagerScan {
        member: String::new(),
        id: raw.id,
        virtual_technology: raw.tech,
        observed_at,
        host,
        guests,
    })
}

fn esc(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// IBM's `vmman_scan` layout for `scan` (its `member` is not written): what the
/// virtualization-host scan writes (`source` STDC, `report_type` full, `status` OK), values
/// XML-escaped (IBM's script does not escape; both read back the same here).
pub fn vmman_scan_xml(scan: &VmManagerScan) -> String {
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n");
    x.push_str("<capacity_report>\n");
    let el = |x: &mut String, indent: &str, name: &str, v: Option<&str>| {
        if let Some(v) = v {
            x.push_str(&format!("{indent}<{name}>{}</{name}>\n", esc(v)));
        }
    };
    el(&mut x, "  ", "id", scan.id.as_deref());
    el(
        &mut x,
        "  ",
        "virtual_technology",
        scan.virtual_technology.as_deref(),
    );
    el(&mut x, "  ", "source", Some("STDC"));
    el(&mut x, "  ", "protocol_version", Some("1"));
    el(&mut x, "  ", "report_type", Some("full"));
    // Milliseconds, as IBM's script writes them, unless the time has a finer
    // fraction, which is then written whole (it must read back the same).
    let precision = if scan
        .observed_at
        .timestamp_subsec_nanos()
        .is_multiple_of(1_000_000)
    {
        SecondsFormat::Millis
    } else {
        SecondsFormat::AutoSi
    };
    let ts = scan.observed_at.to_rfc3339_opts(precision, true);
    el(&mut x, "  ", "timestamp", Some(&ts));
    el(&mut x, "  ", "login", Some("N/A"));
    x.push_str("  <password></password>\n");
    el(&mut x, "  ", "shared_credentials", Some("false"));
    el(&mut x, "  ", "status", Some("OK"));
    el(&mut x, "  ", "url", Some("N/A"));
    x.push_str("  <host_layer>\n");
    let h = &scan.host;
    let n = |v: Option<u32>| v.map(|v| v.to_string());
    el(&mut x, "    ", "uuid", Some(&h.uuid));
    el(&mut x, "    ", "name", h.name.as_deref());
    el(&mut x, "    ", "serial_number", h.serial_number.as_deref());
    el(&mut x, "    ", "cores_count", n(h.cores).as_deref());
    el(
        &mut x,
        "    ",
        "active_sockets_count",
        n(h.active_sockets).as_deref(),
    );
    el(
        &mut x,
        "    ",
        "available_sockets_count",
        n(h.available_sockets).as_deref(),
    );
    el(&mut x, "    ", "cpu_model", h.cpu_model.as_deref());
    el(
        &mut x,
        "    ",
        "hardware_vendor",
        h.hardware_vendor.as_deref(),
    );
    el(
        &mut x,
        "    ",
        "hardware_model",
        h.hardware_model.as_deref(),
    );
    for g in &scan.guests {
        x.push_str("    <guest_layer>\n");
        el(&mut x, "      ", "uuid", Some(&g.uuid));
        el(&mut x, "      ", "name", g.name.as_deref());
        el(&mut x, "      ", "vp_count", Some(&g.vcpus.to_string()));
        x.push_str("    </guest_layer>\n");
    }
    x.push_str("  </host_layer>\n</capacity_report>\n");
    x
}

/// `vmman_scan_<id>_<epoch>.xml`, IBM's file name (`id` made safe for a file name).
pub fn vmman_scan_file_name(scan: &VmManagerScan) -> String {
    let id: String = scan
        .id
        .as_deref()
        .unwrap_or("0")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(64)
        .collect();
    let id = if id.is_empty() { "0".into() } else { id };
    format!("vmman_scan_{id}_{}.xml", scan.observed_at.timestamp())
}

/// The running domains of `virsh list --all` output: (domain id, name) of every row
/// whose state is `running` and whose first column is a numeric id (shut-off domains
/// show `-`), as IBM's host scan selects them. Header and separator lines are skipped.
pub fn parse_virsh_list(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut cols = line.split_whitespace();
        let (Some(id), Some(name)) = (cols.next(), cols.next()) else {
            continue;
        };
        let state: Vec<&str> = cols.collect();
        if id.bytes().all(|b| b.is_ascii_digit()) && state.first() == Some(&"running") {
            out.push((id.to_string(), name.to_string()));
        }
    }
    out
}

/// The guest facts of one `virsh dumpxml` document: `<domain>`'s `<uuid>`, `<name>`
/// and `<vcpu>` (its `current` attribute when present: the vCPUs the guest runs with,
/// else the element's value). An error says what is missing.
pub fn parse_domain_xml(bytes: &[u8]) -> Result<VmGuest, String> {
    parse_domain(bytes).map_err(|e| crate::text::printable(&e))
}

fn parse_domain(bytes: &[u8]) -> Result<VmGuest, String> {
    let mut reader = Reader::from_reader(bytes);
    reader.config_mut().check_end_names = true;
    let mut path: Vec<String> = Vec::new();
    let (mut uuid, mut name, mut vcpu, mut current) = (None, None, None, None);
    let mut text = String::new();
    loop {
        match reader
            .read_event()
            .map_err(|e| format!("XML error at byte {}: {e}", reader.error_position()))?
        {
            Event::Start(e) => {
                if path.len() >= MAX_DEPTH * 4 {
                    return Err("elements nested too deeply".into());
                }
                let n = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if path.is_empty() && n != "domain" {
                    return Err(format!(
                        "unexpected root element `{}` (expected domain)",
                        crate::text::printable(&n)
                    ));
                }
                if path.len() == 1 && n == "vcpu" {
                    for a in e.attributes().flatten() {
                        if a.key.as_ref() == b"current" {
                            current = Some(String::from_utf8_lossy(&a.value).into_owned());
                        }
                    }
                }
                path.push(n);
                text.clear();
            }
            Event::Text(t) => text.push_str(&String::from_utf8_lossy(&t)),
            Event::End(_) => {
                if path.len() == 2 {
                    let v = squash_ws(&text);
                    match path[1].as_str() {
                        "uuid" => uuid = Some(v),
                        "name" => name = Some(v).filter(|v| !v.is_empty()),
                        "vcpu" => vcpu = Some(v),
                        _ => {}
                    }
                }
                text.clear();
                path.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let uuid = uuid.ok_or("domain has no uuid")?;
    if normalize_uuid(&uuid).is_none() {
        return Err(format!(
            "domain uuid `{}` is not a UUID",
            crate::text::printable(&uuid)
        ));
    }
    let raw = current.or(vcpu).ok_or("domain has no vcpu")?;
    let vcpus = match raw.trim().parse::<u32>() {
        Ok(n) if (1..=MAX_VCPUS).contains(&n) => n,
        _ => {
            return Err(format!(
                "domain vcpu `{}` is not a count in 1..={MAX_VCPUS}",
                crate::text::printable(&raw)
            ))
        }
    };
    Ok(VmGuest { uuid, name, vcpus })
}

/// A `<n>_vmman.tar.gz` member holding `files` (name, content) at its root, as IBM's
/// packer makes it.
pub fn vmman_archive(files: &[(String, Vec<u8>)]) -> std::io::Result<Vec<u8>> {
    use flate2::write::GzEncoder;
    let mut b = tar::Builder::new(GzEncoder::new(Vec::new(), flate2::Compression::default()));
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, &data[..])?;
    }
    b.into_inner()?.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids() {
        assert_eq!(
            normalize_uuid(" {D0F1BAF3-AC9D-E828-619F-91F074C8C6C4} ").as_deref(),
            Some("d0f1baf3-ac9d-e828-619f-91f074c8c6c4")
        );
        assert_eq!(
            normalize_uuid("d0f1baf3ac9de828619f91f074c8c6c4").as_deref(),
            Some("d0f1baf3ac9de828619f91f074c8c6c4")
        );
        assert_eq!(normalize_uuid("not-a-uuid"), None);
        assert_eq!(normalize_uuid("d0f1baf3-ac9d-e828-619f-91f074c8c6c"), None);
        assert!(is_placeholder_uuid("00000000-0000-0000-0000-000000000000"));
        assert!(is_placeholder_uuid("FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF"));
        assert!(!is_placeholder_uuid("d0f1baf3-ac9d-e828-619f-91f074c8c6c4"));
        assert!(is_vmman_member("0_vmman.tar.gz"));
        assert!(is_vmman_member("9_vmman.tar.gz"));
        assert!(!is_vmman_member("10_vmman.tar.gz"));
        assert!(!is_vmman_member("a_vmman.tar.gz"));
        assert!(is_vmman_scan_file(
            "vmman_scan_1712345678123_1712345678.xml"
        ));
        assert!(!is_vmman_scan_file("vmman_scan_.xml"));
        assert!(!is_vmman_scan_file("x/vmman_scan_1.xml"));
    }
}
