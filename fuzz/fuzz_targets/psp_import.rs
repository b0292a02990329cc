//! The PodSecurityPolicy importer on arbitrary bytes: it must answer with
//! policies or errors naming the document, never panic; an imported policy
//! must be usable for admission.
#![no_main]

use libfuzzer_sys::fuzz_target;

const POD: &str = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"a","securityContext":{"privileged":true}}]}}"#;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match portcullis::policy::psp::import("fuzz.yaml", &text) {
        Ok(policies) => {
            let mut inv = portcullis::model::Inventory::default();
            portcullis::ingest::manifests::load_str("pod.json", POD, &mut inv);
            let Some(pod) = inv.workloads.first().map(|w| w.template.clone()) else {
                return;
            };
            let _ = portcullis::policy::psp::admit(
                &policies,
                &pod.metadata,
                &pod.spec,
                portcullis::policy::psp::Operation::Create,
            );
        }
        Err(errors) => assert!(!errors.is_empty()),
    }
});
