//! The subset of Kubernetes' strategic merge patch that fixes use: maps merge,
//! `null` deletes a key, the lists of containers, volumes, volume mounts and
//! ports merge by their keys (`$patch: delete` removes an item), every other
//! list is replaced whole. The same document is shown to the user, so what is
//! verified is exactly what `kubectl patch --type strategic` would apply.

use serde_json::{Map, Value};

/// The merge key of a list field, for the lists fixes touch.
fn merge_key(field: &str) -> Option<&'static str> {
    match field {
        "containers" | "initContainers" | "ephemeralContainers" | "volumes" => Some("name"),
        "volumeMounts" => Some("mountPath"),
        "ports" => Some("containerPort"),
        _ => None,
    }
}

fn is_delete(item: &Value) -> bool {
    item.get("$patch").and_then(Value::as_str) == Some("delete")
}

/// A patch value as it lands in a document: no nulls, no directives.
fn clean(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, v)| !v.is_null() && k.as_str() != "$patch")
                .map(|(k, v)| (k.clone(), clean(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().filter(|v| !is_delete(v)).map(clean).collect()),
        v => v.clone(),
    }
}

/// Applies `patch` to `doc` in place.
pub fn apply(doc: &mut Value, patch: &Value) {
    match (doc, patch) {
        (Value::Object(d), Value::Object(p)) => apply_map(d, p),
        (d, p) => *d = clean(p),
    }
}

fn apply_map(d: &mut Map<String, Value>, p: &Map<String, Value>) {
    for (k, pv) in p {
        if pv.is_null() {
            d.remove(k);
            continue;
        }
        match (d.get_mut(k), pv, merge_key(k)) {
            (Some(dv @ Value::Object(_)), Value::Object(_), _) => apply(dv, pv),
            (Some(Value::Array(da)), Value::Array(pa), Some(key)) => merge_list(da, pa, key),
            _ => {
                d.insert(k.clone(), clean(pv));
            }
        }
    }
}

fn merge_list(d: &mut Vec<Value>, p: &[Value], key: &str) {
    for item in p {
        let k = item.get(key);
        let pos = d.iter().position(|x| x.get(key) == k);
        match (pos, is_delete(item)) {
            (Some(i), true) => {
                d.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => apply(&mut d[i], item),
            (None, false) => d.push(clean(item)),
        }
    }
}

/// Two patches as one: maps merge, keyed lists merge by key, anything else
/// from `b` wins. Unlike [`apply`], nulls and directives are kept.
pub fn combine(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Object(am), Value::Object(bm)) => {
            let mut out = am.clone();
            for (k, bv) in bm {
                let merged = match (out.get(k), bv, merge_key(k)) {
                    (Some(av @ Value::Object(_)), Value::Object(_), _) => combine(av, bv),
                    (Some(Value::Array(aa)), Value::Array(ba), Some(key)) => {
                        let mut list = aa.clone();
                        for item in ba {
                            let pos = list.iter().position(|x| x.get(key) == item.get(key));
                            match pos {
                                Some(i) => list[i] = combine(&list[i], item),
                                None => list.push(item.clone()),
                            }
                        }
                        Value::Array(list)
                    }
                    _ => bv.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (_, b) => b.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn merges_like_a_strategic_merge_patch() {
        let cases = [
            (
                json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b"}]}}),
                json!({"spec": {"containers": [{"name": "b", "securityContext": {"privileged": false}}]}}),
                json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "securityContext": {"privileged": false}}]}}),
            ),
            (
                json!({"spec": {"hostNetwork": true, "dnsPolicy": "X"}}),
                json!({"spec": {"hostNetwork": null}}),
                json!({"spec": {"dnsPolicy": "X"}}),
            ),
            (
                json!({"spec": {"volumes": [{"name": "a", "hostPath": {"path": "/"}}, {"name": "b"}],
                        "containers": [{"name": "c", "volumeMounts": [{"name": "a", "mountPath": "/a"}, {"name": "b", "mountPath": "/b"}]}]}}),
                json!({"spec": {"volumes": [{"$patch": "delete", "name": "a"}],
                        "containers": [{"name": "c", "volumeMounts": [{"$patch": "delete", "mountPath": "/a"}]}]}}),
                json!({"spec": {"volumes": [{"name": "b"}],
                        "containers": [{"name": "c", "volumeMounts": [{"name": "b", "mountPath": "/b"}]}]}}),
            ),
            (
                json!({"spec": {"containers": [{"name": "c", "securityContext": {"capabilities": {"add": ["A", "B"], "drop": ["X"]}}}]}}),
                json!({"spec": {"containers": [{"name": "c", "securityContext": {"capabilities": {"add": ["A"]}}}]}}),
                json!({"spec": {"containers": [{"name": "c", "securityContext": {"capabilities": {"add": ["A"], "drop": ["X"]}}}]}}),
            ),
            (
                json!({"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 80}]}]}}),
                json!({"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": null}]}]}}),
                json!({"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80}]}]}}),
            ),
            (
                json!({}),
                json!({"metadata": {"annotations": {"a": "b", "c": null}}}),
                json!({"metadata": {"annotations": {"a": "b"}}}),
            ),
        ];
        for (doc, patch, want) in cases {
            let mut d = doc.clone();
            apply(&mut d, &patch);
            assert_eq!(d, want, "{doc} + {patch}");
        }
    }

    #[test]
    fn combines_patches_by_key() {
        let a = json!({"spec": {"containers": [{"name": "a", "securityContext": {"privileged": false}}]}});
        let b = json!({"spec": {"containers": [{"name": "a", "securityContext": {"runAsUser": null}}, {"name": "b", "x": 1}]}});
        assert_eq!(
            combine(&a, &b),
            json!({"spec": {"containers": [
                {"name": "a", "securityContext": {"privileged": false, "runAsUser": null}},
                {"name": "b", "x": 1}
            ]}})
        );
    }
}
