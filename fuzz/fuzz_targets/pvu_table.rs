//! An operator's PVU table (CSV, either of the two layouts, recognised by its header):
//! a table or every error with its line, never a panic; what parses writes back as CSV
//! that parses to the same table (`to_csv`'s documented contract).
#![no_main]

use libfuzzer_sys::fuzz_target;
use openlmt_licensing::pvu_table::PvuTable;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match PvuTable::parse("fuzz", &[&text]) {
        Ok(t) => {
            let csv = t.to_csv();
            let texts: Vec<&str> = csv.iter().map(String::as_str).collect();
            assert_eq!(PvuTable::parse(&t.version, &texts), Ok(t));
        }
        Err(errors) => assert!(!errors.is_empty()),
    }
});
