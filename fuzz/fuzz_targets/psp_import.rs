//! The PodSecurityPolicy importer on arbitrary bytes: it must answer with
//! policies or errors naming the document, never panic; an imported policy
//! must be usable for admission.
#![no_main]

use libfuzzer_sys::fuzz_target;

const POD: &str = r#"{"metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"a","securityContext":{"privileged":true}}]}}"#;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match portcullis::policy::psp::import("fuzz.yaml", &text) {
        Ok(policies) => {
            let pod: portcullis::model::PodTemplate = match serde_json::from_str(POD) {
                Ok(p) => p,
                Err(_) => return,
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
