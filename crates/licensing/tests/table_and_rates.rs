//! The PVU table import (validation, round-trip, versioning) and the rate rules.

use openlmt_licensing::cloud::CloudProvider;
use openlmt_licensing::pvu_table::{PvuTable, BUNDLED_VERSION};
use openlmt_licensing::rate::{rate, DefaultReason, RateBasis, ServerFacts, SocketBasis};

fn intel(brand: &str, max: Option<u32>, populated: Option<u32>, cores: u32) -> ServerFacts {
    ServerFacts {
        processor_vendor: Some("GenuineIntel".into()),
        processor_brand: Some(brand.into()),
        max_sockets: max,
        populated_sockets: populated,
        physical_cores: Some(cores),
        ..Default::default()
    }
}

fn row_of(r: &openlmt_licensing::Rate) -> String {
    match &r.basis {
        RateBasis::TableRow { row, .. } => row.clone(),
        other => panic!("not a table row: {other:?}"),
    }
}

#[test]
fn bundled_table_round_trips_and_has_a_version() {
    let t = PvuTable::bundled();
    assert_eq!(t.version, BUNDLED_VERSION);
    assert_eq!(t.rows.len(), 33);
    let texts = t.to_csv();
    assert_eq!(texts.len(), 2);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let back = PvuTable::parse(&t.version, &refs).expect("round trip");
    assert_eq!(back, t);
    assert_eq!(back.to_csv(), texts);
}

#[test]
fn an_operator_table_replaces_the_bundled_one() {
    let x86 = "vendor,brand,model_pattern,max_sockets_per_server,pvu_per_core,source\n\
               Intel,Xeon,Gold 6100-6199,2,70,operator transcription of IBM's table\n";
    let t = PvuTable::parse("IBM 2026-02-06", &[x86]).expect("valid");
    assert_eq!(t.version, "IBM 2026-02-06");
    let r = rate(
        &t,
        &intel(
            "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz",
            Some(2),
            Some(2),
            32,
        ),
        None,
        None,
    );
    assert_eq!(r.pvu_per_core, 70);
    match &r.basis {
        RateBasis::TableRow {
            table_version,
            sockets,
            source,
            ..
        } => {
            assert_eq!(table_version, "IBM 2026-02-06");
            assert_eq!(*sockets, Some((2, SocketBasis::Maximum)));
            assert_eq!(
                source.as_deref(),
                Some("operator transcription of IBM's table")
            );
        }
        other => panic!("{other:?}"),
    }
    // Same processor on a 4-socket model: the 2-socket row does not fit → default.
    let r = rate(
        &t,
        &intel(
            "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz",
            Some(4),
            Some(2),
            32,
        ),
        None,
        None,
    );
    assert_eq!(r.pvu_per_core, 120);
}

#[test]
fn import_reports_every_error_with_line_and_column() {
    let risc = "section,processor_vendor,processor_brand,server_models,max_sockets_per_server,processor_model_numbers,pvu_per_core\n\
                risc_systemz,IBM,POWER10,E1080,>4,All,120\n\
                risc_systemz,IBM,POWER10,E1050,four,All,100\n\
                risc_systemz,IBM,,S1022,All,All,0\n\
                risc_systemz,IBM,POWER9\n";
    let x86 = "vendor,brand,model_pattern,max_sockets_per_server,pvu_per_core,source\n\
               Intel,Xeon,5600-5500,2,70,x\n";
    let bad_header = "a,b,c\n1,2,3\n";
    let errs = PvuTable::parse("v1", &[risc, x86, bad_header]).expect_err("invalid");
    let got: Vec<(usize, usize, Option<&str>)> = errs
        .iter()
        .map(|e| (e.input, e.line, e.column.as_deref()))
        .collect();
    assert!(
        got.contains(&(0, 3, Some("max_sockets_per_server"))),
        "{errs:?}"
    );
    assert!(got.contains(&(0, 4, Some("processor_brand"))), "{errs:?}");
    assert!(got.contains(&(0, 4, Some("pvu_per_core"))), "{errs:?}");
    assert!(got.contains(&(0, 5, None)), "{errs:?}");
    assert!(got.contains(&(1, 2, Some("model_pattern"))), "{errs:?}");
    assert!(got.contains(&(2, 1, None)), "{errs:?}");
    assert_eq!(errs.len(), 6, "{errs:?}");
    for e in &errs {
        assert!(!e.to_string().is_empty());
    }
    // Nothing half-applied: there is no table at all.
    assert!(PvuTable::parse("", &[x86]).is_err());
    assert!(PvuTable::parse("v", &[]).is_err());
}

#[test]
fn x86_rows_by_model_range_and_maximum_sockets() {
    let t = PvuTable::bundled();
    // ILMT's row for the sample's IBM 7946 (x3550 M2, Xeon E5540): 70.
    let r = rate(
        &t,
        &intel("Intel(R) Xeon(R) CPU E5540 @ 2.53GHz", Some(2), Some(2), 8),
        None,
        None,
    );
    assert_eq!(r.pvu_per_core, 70);
    assert!(row_of(&r).contains("3400-3699 or 5500-5699"));
    // X5650: letter stripped, 5650 in 5500-5699.
    let r = rate(
        &t,
        &intel("Intel(R) Xeon(R) CPU X5650 @ 2.67GHz", Some(2), Some(2), 12),
        None,
        None,
    );
    assert_eq!(r.pvu_per_core, 70);
    // Nehalem EX tiers by the server model's maximum sockets.
    for (max, pvu) in [(1, 70), (2, 70), (4, 100), (8, 120), (16, 120)] {
        let r = rate(
            &t,
            &intel(
                "Intel(R) Xeon(R) CPU E7520 @ 1.87GHz",
                Some(max),
                Some(1),
                4,
            ),
            None,
            None,
        );
        assert_eq!(r.pvu_per_core, pvu, "max {max}");
    }
    // Maximum sockets unknown: populated sockets used, and said so.
    let r = rate(
        &t,
        &intel("Intel(R) Xeon(R) CPU X7560 @ 2.27GHz", None, Some(4), 32),
        None,
        None,
    );
    assert_eq!(r.pvu_per_core, 100);
    match &r.basis {
        RateBasis::TableRow { sockets, notes, .. } => {
            assert_eq!(*sockets, Some((4, SocketBasis::Populated)));
            assert!(notes.iter().any(|n| n.contains("populated")));
        }
        other => panic!("{other:?}"),
    }
    // Neither known: the Nehalem EX rows cannot be chosen → default, with what blocked them.
    let r = rate(
        &t,
        &intel("Intel(R) Xeon(R) CPU X7560 @ 2.27GHz", None, None, 32),
        None,
        None,
    );
    assert_eq!(r.pvu_per_core, 120);
    match &r.basis {
        RateBasis::Default(DefaultReason::NoTableRow { blocked_by, .. }) => {
            assert!(blocked_by.iter().any(|b| b.contains("sockets unknown")))
        }
        other => panic!("{other:?}"),
    }
    // Historical quad-core row (plain 5000-5499, 4 cores per chip): Xeon 5345 = 50.
    let r = rate(
        &t,
        &intel("Intel(R) Xeon(R) CPU 5345 @ 2.33GHz", Some(2), Some(2), 8),
        None,
        None,
    );
    assert_eq!(r.pvu_per_core, 50);
    assert!(row_of(&r).contains("historical"));
}

#[test]
fn historical_rows_never_match_modern_names() {
    let t = PvuTable::bundled();
    for brand in [
        "Intel(R) Xeon(R) Gold 5218 CPU @ 2.30GHz",
        "Intel(R) Xeon(R) Silver 4214 CPU @ 2.20GHz",
        "Intel(R) Xeon(R) CPU E5-2650 v4 @ 2.20GHz",
        "Intel(R) Xeon(R) CPU E5-2650 0 @ 2.00GHz",
        "Intel(R) Xeon(R) CPU E3-1230 v3 @ 3.30GHz",
        "Intel(R) Xeon(R) CPU E5-2697 v2 @ 2.70GHz",
        "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz",
        "Intel(R) Xeon(R) 6980P",
    ] {
        for max in [1, 2, 4] {
            let r = rate(&t, &intel(brand, Some(max), Some(max), 16), None, None);
            assert_eq!(r.pvu_per_core, 120, "{brand} max {max}");
            assert!(
                matches!(
                    r.basis,
                    RateBasis::Default(DefaultReason::NoTableRow { .. })
                ),
                "{brand}: {:?}",
                r.basis
            );
        }
    }
    // On a >4-socket model ILMT's own "More than 4 Socket Multi-core All Existing" row applies.
    let r = rate(
        &t,
        &intel(
            "Intel(R) Xeon(R) CPU E7-8880 v4 @ 2.20GHz",
            Some(8),
            Some(8),
            176,
        ),
        None,
        None,
    );
    assert_eq!(r.pvu_per_core, 120);
    assert!(row_of(&r).contains("All existing"));
}

#[test]
fn power_by_server_model_linux_and_unknowns() {
    let t = PvuTable::bundled();
    let power = |brand: &str, model: Option<&str>, linux: bool| ServerFacts {
        processor_vendor: Some("IBM".into()),
        processor_brand: Some(brand.into()),
        server_model: model.map(str::to_string),
        os_is_linux: linux,
        ..Default::default()
    };
    let r = rate(
        &t,
        &power("POWER7 (architected)", Some("Power 750"), false),
        None,
        None,
    );
    assert_eq!(r.pvu_per_core, 100);
    let r = rate(
        &t,
        &power("POWER7", Some("IBM Power 780"), false),
        None,
        None,
    );
    assert_eq!(r.pvu_per_core, 120);
    let r = rate(&t, &power("POWER7", Some("PS701"), false), None, None);
    assert_eq!(r.pvu_per_core, 70);
    let r = rate(&t, &power("POWER7", Some("720"), false), None, None);
    assert_eq!(r.pvu_per_core, 70);
    let r = rate(&t, &power("POWER10", Some("E1080"), false), None, None);
    assert_eq!(r.pvu_per_core, 120);
    let r = rate(&t, &power("POWER 11", Some("S1122"), false), None, None);
    assert_eq!(r.pvu_per_core, 70);
    let r = rate(&t, &power("POWER9 (raw)", Some("E950"), false), None, None);
    assert_eq!(r.pvu_per_core, 100);
    // Linux on any POWER: 70, whatever the model.
    let r = rate(&t, &power("POWER10", Some("E1080"), true), None, None);
    assert_eq!(r.pvu_per_core, 70);
    assert!(matches!(r.basis, RateBasis::LinuxOnPower { .. }));
    // Model unknown → default, saying so.
    let r = rate(&t, &power("POWER9", None, false), None, None);
    assert_eq!(r.pvu_per_core, 120);
    // POWER5 / POWER5 QCM: the QCM row is not checkable, the plain row applies.
    let r = rate(&t, &power("POWER5", Some("p5 570"), false), None, None);
    assert_eq!(r.pvu_per_core, 100);
}

#[test]
fn cloud_override_and_unidentified() {
    let t = PvuTable::bundled();
    let r = rate(
        &t,
        &ServerFacts::default(),
        Some(&CloudProvider::AmazonEc2),
        None,
    );
    assert_eq!(r.pvu_per_core, 70);
    assert!(matches!(r.basis, RateBasis::PublicCloud { .. }));
    let r = rate(
        &t,
        &intel("Intel(R) Xeon(R) CPU E5540 @ 2.53GHz", Some(2), Some(2), 8),
        None,
        Some(100),
    );
    assert_eq!(r.pvu_per_core, 100);
    assert!(r.is_override());
    match &r.basis {
        RateBasis::Override { replaced } => assert_eq!(replaced.pvu_per_core, 70),
        other => panic!("{other:?}"),
    }
    let r = rate(&t, &ServerFacts::default(), None, None);
    assert_eq!(r.pvu_per_core, 120);
    assert!(matches!(
        r.basis,
        RateBasis::Default(DefaultReason::ProcessorNotIdentified { .. })
    ));
    // AMD EPYC: identified, no sourced row.
    let f = ServerFacts {
        processor_vendor: Some("AuthenticAMD".into()),
        processor_brand: Some("AMD EPYC 7763 64-Core Processor".into()),
        max_sockets: Some(2),
        ..Default::default()
    };
    let r = rate(&t, &f, None, None);
    assert_eq!(r.pvu_per_core, 120);
    // AMD Opteron dual-core (historical row): 50; single-core: 100.
    let f = ServerFacts {
        processor_vendor: Some("AuthenticAMD".into()),
        processor_brand: Some("Dual-Core AMD Opteron(tm) Processor 2218".into()),
        ..Default::default()
    };
    assert_eq!(rate(&t, &f, None, None).pvu_per_core, 50);
    let f = ServerFacts {
        processor_vendor: Some("AuthenticAMD".into()),
        processor_brand: Some("AMD Opteron(tm) Processor 248".into()),
        populated_sockets: Some(2),
        physical_cores: Some(2),
        ..Default::default()
    };
    assert_eq!(rate(&t, &f, None, None).pvu_per_core, 100);
}

#[test]
fn ambiguous_rows_fall_back_to_the_default() {
    let x86 = "vendor,brand,model_pattern,max_sockets_per_server,pvu_per_core,source\n\
               Intel,Xeon,5500-5699,All,70,a\n\
               Intel,Xeon,5600-5699,All,100,b\n";
    let t = PvuTable::parse("test", &[x86]).expect("valid");
    let r = rate(
        &t,
        &intel("Intel(R) Xeon(R) CPU X5650 @ 2.67GHz", Some(2), Some(2), 12),
        None,
        None,
    );
    assert_eq!(r.pvu_per_core, 120);
    match r.basis {
        RateBasis::Default(DefaultReason::AmbiguousRows { rows, .. }) => assert_eq!(rows.len(), 2),
        other => panic!("{other:?}"),
    }
}
