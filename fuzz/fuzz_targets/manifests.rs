//! The manifest loader on arbitrary bytes: YAML (multi-document), JSON, JSON
//! lines, Lists and dumps. Whatever the input, loading must not panic, and
//! every workload it yields must be analysable and judged by the policy core.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portcullis::model::Inventory;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut inv = Inventory::default();
    portcullis::ingest::manifests::load_str("fuzz.yaml", &text, &mut inv);
    portcullis::ingest::manifests::finish(&mut inv);
    let restricted = portcullis::policy::profiles::Profile::preset("strict");
    for w in &inv.workloads {
        let _ = portcullis::model::effective::analyse(&w.template);
        if let Some(p) = &restricted {
            let v = portcullis::policy::profiles::evaluate(p, &w.template);
            // A denial always says why.
            assert!(v.allowed || (!v.message.is_empty() && !v.violations.is_empty()));
        }
    }
});
