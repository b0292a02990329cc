//! The demo cluster: it loads cleanly and each workload satisfies the Pod
//! Security level worked out by hand in seed/README.md.

use std::collections::BTreeMap;

use portcullis::policy::pss::{self, Version};

/// (namespace, name) → tightest level at latest, from seed/README.md.
const EXPECTED: &[(&str, &str, &str)] = &[
    ("shop", "cart", "restricted"),
    ("shop", "payments", "restricted"),
    ("shop", "ingest-products", "restricted"),
    ("shop", "catalog", "baseline"),
    ("shop", "search", "baseline"),
    ("shop", "checkout", "baseline"),
    ("shop", "orders", "baseline"),
    ("shop", "recommendations", "baseline"),
    ("shop", "email", "baseline"),
    ("shop", "reviews", "baseline"),
    ("shop", "storefront", "baseline"),
    ("shop", "cart-redis", "baseline"),
    ("shop", "orders-queue", "baseline"),
    ("shop", "shop-postgres", "baseline"),
    ("shop", "shipping", "privileged"),
    ("payments-secure", "card-vault", "restricted"),
    ("payments-secure", "fraud-scorer", "restricted"),
    ("payments-secure", "ledger", "restricted"),
    ("payments-secure", "settlement-export", "restricted"),
    ("monitoring", "alertmanager", "restricted"),
    ("monitoring", "kube-state-metrics", "restricted"),
    ("monitoring", "prometheus", "baseline"),
    ("monitoring", "grafana", "baseline"),
    ("monitoring", "alert-dashboard", "baseline"),
    ("monitoring", "node-exporter", "privileged"),
    ("monitoring", "blackbox-exporter", "privileged"),
    ("kube-system", "coredns", "restricted"),
    ("kube-system", "metrics-server", "restricted"),
    ("kube-system", "calico-node", "privileged"),
    ("kube-system", "ebs-csi-node", "privileged"),
    ("logging", "log-retention", "restricted"),
    ("logging", "log-aggregator", "baseline"),
    ("logging", "fluent-bit", "privileged"),
    ("logging", "log-store", "privileged"),
    ("legacy", "inventory-sync", "baseline"),
    ("legacy", "legacy-erp", "baseline"),
    ("legacy", "report-server", "privileged"),
    ("legacy", "pos-gateway", "privileged"),
    ("legacy", "label-printer", "privileged"),
    ("legacy", "mq-bridge", "privileged"),
    ("legacy", "debug-shell", "privileged"),
    ("batch", "backfill-orders-2024q3", "restricted"),
    ("batch", "nightly-sales-rollup", "baseline"),
    ("batch", "warehouse-db", "baseline"),
    ("batch", "demand-forecast-trainer", "privileged"),
];

#[test]
fn seed_loads_without_errors() {
    let inv = portcullis::ingest::seed::load();
    assert!(inv.errors.is_empty(), "{:?}", inv.errors);
    assert!(
        inv.workloads.len() >= 30,
        "{} workloads",
        inv.workloads.len()
    );
    assert!(inv.namespaces.len() >= 5);
    assert_eq!(inv.workloads.len(), EXPECTED.len());
}

#[test]
fn seed_levels_match_the_hand_worked_table() {
    let inv = portcullis::ingest::seed::load();
    let got: BTreeMap<(&str, &str), &str> = inv
        .workloads
        .iter()
        .map(|w| {
            let level =
                pss::tightest_level(&w.template.metadata, &w.template.spec, Version::Latest);
            (
                (w.key.namespace.as_str(), w.key.name.as_str()),
                level.as_str(),
            )
        })
        .collect();
    let mut wrong = Vec::new();
    for (ns, name, level) in EXPECTED {
        match got.get(&(*ns, *name)) {
            Some(l) if l == level => {}
            other => wrong.push(format!("{ns}/{name}: expected {level}, got {other:?}")),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn shipping_changes_level_at_v1_34() {
    let inv = portcullis::ingest::seed::load();
    let w = inv
        .workloads
        .iter()
        .find(|w| w.key.namespace == "shop" && w.key.name == "shipping")
        .expect("shipping");
    let at = |minor| {
        pss::tightest_level(&w.template.metadata, &w.template.spec, Version::V1(minor)).as_str()
    };
    assert_eq!(at(33), "baseline");
    assert_eq!(at(34), "privileged");
}
