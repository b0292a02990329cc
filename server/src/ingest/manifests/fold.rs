//! After everything is read: one object per key, and pods and intermediate
//! controllers folded under the workload that owns them.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use serde_json::Value;

use crate::model::{Inventory, LoadError, Namespace, Origin, Workload};

/// Completes an inventory once every file is read (`load_paths` calls it):
///
/// 1. **One object per key.** A second workload (same `namespace/Kind/name`),
///    service, network policy or ConfigMap (same `namespace/name`) is dropped: silently when
///    it is identical to the first, otherwise with a [`LoadError`] at the dropped
///    one naming where the first was read. Namespaces declared twice are merged
///    (labels and annotations united; a conflicting value is a [`LoadError`]).
/// 2. **Folding.** A Pod whose controlling owner (the owner reference with
///    `controller: true`, else the first) is a ReplicaSet, Job, StatefulSet,
///    DaemonSet or ReplicationController of the inventory is folded under it; so is a
///    ReplicaSet owned by a Deployment and a Job owned by a CronJob, transitively.
///    Owners are matched by namespace, kind and name, and by uid when both sides have
///    one. The owner that remains lists what was folded in `folded`
///    (`ReplicaSet/web-5d8f`, `Pod/web-5d8f-abcde`), parents before their children.
pub fn finish(inv: &mut Inventory) {
    dedupe(inv);
    fold(inv);
}

fn duplicate_error(what: &str, first: &Origin, dup: &Origin) -> LoadError {
    LoadError {
        file: dup.file.clone(),
        document: Some(dup.document),
        line: Some(dup.line),
        message: format!(
            "duplicate {what}: a different definition was already read from {}:{}; this one is ignored",
            first.file, first.line
        ),
    }
}

/// Keeps the first object of each key; see [`finish`].
fn dedupe(inv: &mut Inventory) {
    fn keep_first<T>(
        items: &mut Vec<T>,
        errors: &mut Vec<LoadError>,
        key: impl Fn(&T) -> String,
        same: impl Fn(&T, &T) -> bool,
        origin: impl Fn(&T) -> &Origin,
    ) {
        let mut seen: HashMap<String, usize> = HashMap::with_capacity(items.len());
        let mut kept: Vec<T> = Vec::with_capacity(items.len());
        for item in items.drain(..) {
            match seen.entry(key(&item)) {
                Entry::Vacant(v) => {
                    v.insert(kept.len());
                    kept.push(item);
                }
                Entry::Occupied(o) => {
                    let first = &kept[*o.get()];
                    if !same(first, &item) {
                        errors.push(duplicate_error(o.key(), origin(first), origin(&item)));
                    }
                }
            }
        }
        *items = kept;
    }
    let errors = &mut inv.errors;
    keep_first(
        &mut inv.workloads,
        errors,
        |w| w.key.to_string(),
        |a, b| a.raw == b.raw,
        |w| &w.origin,
    );
    merge_namespaces(&mut inv.namespaces, errors);
    keep_first(
        &mut inv.services,
        errors,
        |s| format!("Service {}/{}", s.namespace, s.name),
        |a, b| a.service == b.service,
        |s| &s.origin,
    );
    keep_first(
        &mut inv.network_policies,
        errors,
        |p| format!("NetworkPolicy {}/{}", p.namespace, p.name),
        |a, b| a.policy == b.policy,
        |p| &p.origin,
    );
    keep_first(
        &mut inv.config_maps,
        errors,
        |c| format!("ConfigMap {}/{}", c.namespace, c.name),
        |a, b| a.data == b.data,
        |c| &c.origin,
    );
}

/// Namespaces declared more than once (each app's file declaring its namespace)
/// are merged: labels and annotations are united; a key with two different
/// values keeps the first and is reported at the later declaration.
fn merge_namespaces(namespaces: &mut Vec<Namespace>, errors: &mut Vec<LoadError>) {
    let mut seen: HashMap<String, usize> = HashMap::with_capacity(namespaces.len());
    let mut kept: Vec<Namespace> = Vec::with_capacity(namespaces.len());
    for ns in namespaces.drain(..) {
        let Some(&i) = seen.get(&ns.name) else {
            seen.insert(ns.name.clone(), kept.len());
            kept.push(ns);
            continue;
        };
        let first = &mut kept[i];
        for (what, mine, theirs) in [
            ("label", &mut first.labels, ns.labels),
            ("annotation", &mut first.annotations, ns.annotations),
        ] {
            for (key, value) in theirs {
                match mine.get(&key) {
                    None => {
                        mine.insert(key, value);
                    }
                    Some(v) if *v == value => {}
                    Some(v) => errors.push(LoadError {
                        file: ns.origin.file.clone(),
                        document: Some(ns.origin.document),
                        line: Some(ns.origin.line),
                        message: format!(
                            "Namespace {} is declared again with {what} {key}={value:?}, but {}:{} set it to {v:?}; the first value is kept",
                            ns.name, first.origin.file, first.origin.line
                        ),
                    }),
                }
            }
        }
    }
    *namespaces = kept;
}

/// The kinds that may own a kind, for folding.
fn owner_kinds(kind: &str) -> &'static [&'static str] {
    match kind {
        "Pod" => &[
            "ReplicaSet",
            "Job",
            "StatefulSet",
            "DaemonSet",
            "ReplicationController",
        ],
        "ReplicaSet" => &["Deployment"],
        "Job" => &["CronJob"],
        _ => &[],
    }
}

struct OwnerRef<'a> {
    kind: &'a str,
    name: &'a str,
    uid: Option<&'a str>,
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// The controlling owner reference: `controller: true`, else the first.
fn controller_of(raw: &Value) -> Option<OwnerRef<'_>> {
    let refs = raw.get("metadata")?.get("ownerReferences")?.as_array()?;
    let chosen = refs
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        .or_else(|| refs.first())?;
    Some(OwnerRef {
        kind: str_at(chosen, "kind")?,
        name: str_at(chosen, "name")?,
        uid: str_at(chosen, "uid"),
    })
}

fn uid_of(w: &Workload) -> Option<&str> {
    w.raw.get("metadata").and_then(|m| str_at(m, "uid"))
}

fn fold(inv: &mut Inventory) {
    let workloads = &inv.workloads;
    let index: HashMap<(&str, &str, &str), usize> = workloads
        .iter()
        .enumerate()
        .map(|(i, w)| {
            (
                (
                    w.key.namespace.as_str(),
                    w.key.kind.as_str(),
                    w.key.name.as_str(),
                ),
                i,
            )
        })
        .collect();
    let mut parent: Vec<Option<usize>> = vec![None; workloads.len()];
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); workloads.len()];
    for (i, w) in workloads.iter().enumerate() {
        let Some(owner) = controller_of(&w.raw) else {
            continue;
        };
        if !owner_kinds(&w.key.kind).contains(&owner.kind) {
            continue;
        }
        let Some(&j) = index.get(&(w.key.namespace.as_str(), owner.kind, owner.name)) else {
            continue;
        };
        let uid_matches = match (owner.uid, uid_of(&workloads[j])) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        if uid_matches && i != j {
            parent[i] = Some(j);
            children[j].push(i);
        }
    }
    if parent.iter().all(Option::is_none) {
        return;
    }
    // Owner kinds form a tree of depth at most two (Pod → ReplicaSet → Deployment,
    // Pod → Job → CronJob), so there are no cycles to guard against.
    let mut folded_into: Vec<Vec<String>> = vec![Vec::new(); workloads.len()];
    for root in (0..workloads.len()).filter(|&i| parent[i].is_none()) {
        let mut stack: Vec<usize> = children[root].iter().rev().copied().collect();
        while let Some(i) = stack.pop() {
            let key = &workloads[i].key;
            folded_into[root].push(format!("{}/{}", key.kind, key.name));
            stack.extend(children[i].iter().rev().copied());
        }
    }
    let old = std::mem::take(&mut inv.workloads);
    inv.workloads = old
        .into_iter()
        .zip(parent.into_iter().zip(folded_into))
        .filter_map(|(mut w, (parent, folded))| {
            w.folded.extend(folded);
            parent.is_none().then_some(w)
        })
        .collect();
}
