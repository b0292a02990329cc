//! The admission webhook's AdmissionReview decoder and decision on arbitrary
//! bytes, in validate and mutate: every input gets a review answer (bad
//! input decided by the failure mode), never a panic. Restricted is enforced
//! and strict warns cluster-wide, so the profile and patch paths run too.
#![no_main]

use std::sync::{Arc, LazyLock};

use libfuzzer_sys::fuzz_target;
use portcullis::admission::{Config, NoAlerts, Webhook};
use portcullis::policy::assignments::Mode;

struct Fixture {
    runtime: tokio::runtime::Runtime,
    webhook: Arc<Webhook>,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let db = std::env::temp_dir().join(format!("portcullis-fuzz-{}.db", std::process::id()));
    let webhook = runtime.block_on(async {
        let pool = portcullis::store::open(&db).await.expect("database");
        for (mode, profile) in [(Mode::Enforce, "restricted"), (Mode::Warn, "strict")] {
            portcullis::store::assignments::assign(&pool, "fuzz", "cluster", mode, profile, "fuzz", 0)
                .await
                .expect("assign");
        }
        let state = portcullis::AppState::load(pool).await.expect("state");
        Webhook::start(&state, Config::new("fuzz"), Arc::new(NoAlerts))
            .await
            .expect("webhook")
    });
    Fixture { runtime, webhook }
});

fuzz_target!(|data: &[u8]| {
    let f = &*FIXTURE;
    let _in_runtime = f.runtime.enter();
    let mutate = data.first().is_some_and(|b| b & 1 == 1);
    let (out, _decision) = f.webhook.review(data, mutate);
    let json = serde_json::to_value(&out).expect("the answer serializes");
    assert_eq!(json["kind"], "AdmissionReview");
});
