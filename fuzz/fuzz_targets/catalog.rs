//! Arbitrary text as a catalog document (the open catalog format is JSON only), as the
//! bundled catalog and as an operator's layer over it: a catalog or every error with its
//! path, never a panic. What loads compiles into a matcher that matches real facts (the
//! corpus's installed packages and IBM SWID tags), and its export loads back the same.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use openlmt_catalog::{
    load, load_layer, merge_layers, to_json, Catalog, ComputerFacts, InstalledPackage, Matcher,
    PackageDb, SwidTagFact,
};
use openlmt_scanpkg::{packages, swid, PackageManager};

/// The facts every loaded catalog is matched against, from the real corpus.
fn facts() -> &'static ComputerFacts {
    static FACTS: OnceLock<ComputerFacts> = OnceLock::new();
    FACTS.get_or_init(|| {
        let mut notes = Vec::new();
        let mut pkgs = packages::parse_dpkg_query_tsv(
            include_str!("../../../shared/corpus/packaging/dpkg-query.tsv"),
            &mut notes,
        );
        pkgs.extend(packages::parse_rpm_qa_tsv(
            include_str!("../../../shared/corpus/packaging/rpm-qa.tsv"),
            &mut notes,
        ));
        let tags = [
            &include_bytes!("../../../shared/corpus/swid-ibm/ibm.com_IBM_Decision_Manager_Open_Edition-9.0.0.swidtag")[..],
            &include_bytes!("../../../shared/corpus/swid-ibm/ibm.com_IBM_Process_Automation_Manager_Open_Edition-9.0.0.swidtag")[..],
        ];
        ComputerFacts {
            installed_packages: pkgs
                .into_iter()
                .map(|p| InstalledPackage {
                    source: match p.source {
                        PackageManager::Dpkg => PackageDb::Dpkg,
                        PackageManager::Rpm => PackageDb::Rpm,
                    },
                    name: p.name,
                    version: p.version,
                    architecture: p.architecture,
                    vendor: p.vendor,
                })
                .collect(),
            swid_tags: tags
                .iter()
                .map(|b| swid::parse_swidtag(b).expect("a corpus tag parses"))
                .map(|t| SwidTagFact {
                    regid: t.regid,
                    persistent_id: t.persistent_id,
                    tag_id: t.tag_id,
                    name: t.name,
                    version: t.version,
                    directory: t.directory,
                })
                .collect(),
        }
    })
}

fn bundled() -> &'static Catalog {
    static BUNDLED: OnceLock<Catalog> = OnceLock::new();
    BUNDLED.get_or_init(|| openlmt_catalog::bundled().expect("the bundled catalog loads"))
}

fn matches(catalog: &Catalog) {
    // A catalog that validated compiles (the import relies on it).
    let m = Matcher::new(catalog).expect("a validated catalog compiles");
    let facts = facts();
    for hit in m.match_computer(facts) {
        assert!(catalog.component(&hit.component_id).is_some());
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match load(&text) {
        Ok(c) => {
            let again = load(&to_json(&c)).expect("an exported catalog loads");
            assert_eq!(again, c);
            matches(&c);
        }
        Err(errors) => assert!(!errors.is_empty()),
    }
    match load_layer(&text, bundled()) {
        Ok(layer) => matches(&merge_layers(bundled(), &layer)),
        Err(errors) => assert!(!errors.is_empty()),
    }
});
