//! The `criteria` of the list endpoints: the first byte picks the list (entity), the rest
//! is read as a criteria text (JSON, or datactl's single-quoted form) and as a whole query
//! string (`limit`, `offset`, `columns[]`, `order`, every `criteria`). A filter or a reason,
//! never a panic; what parses stays within the documented bounds and belongs to its list,
//! and every refusal of the query string is a 400.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use openlmt_domain::query::{Entity, RowValue, MAX_CONDITIONS, MAX_DEPTH};
use openlmt_server::list::{list_request, parse_criteria};
use openlmt_server::params::Params;

const ENTITIES: [Entity; 9] = [
    Entity::Computers,
    Entity::InstalledPackages,
    Entity::SwidTags,
    Entity::SoftwareInstances,
    Entity::SoftwareComponents,
    Entity::BundlingOptions,
    Entity::ClassificationAudit,
    Entity::LicenseUsage,
    Entity::LicenseServerUsage,
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let entity = ENTITIES[usize::from(selector) % ENTITIES.len()];
    let text = String::from_utf8_lossy(rest);
    let now = Utc.with_ymd_and_hms(2026, 12, 1, 10, 30, 0).unwrap();
    match parse_criteria(entity, &text, now) {
        Ok(f) => {
            assert!(f.conditions() <= MAX_CONDITIONS);
            assert!(f.depth() <= MAX_DEPTH);
            assert!(f.belongs_to(entity));
            // Evaluated on rows of every shape: no value, and the text itself.
            let _ = f.matches(&|_| RowValue::Null);
            let _ = f.matches(&|name| RowValue::Text(name.to_string()));
            let _ = f.matches(&|_| RowValue::TextList(vec![text.to_string()]));
        }
        Err(why) => assert!(!why.is_empty()),
    }
    if let Err(e) = list_request(entity, &Params::parse(Some(&text)), now) {
        assert_eq!(e.status.as_u16(), 400, "{}", e.message);
    }
});
