//! RFC 6902 JSON patch between two JSON documents (here: a pod before and after
//! a policy's mutation), with RFC 6901 pointers.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One RFC 6902 operation: `add`, `replace` or `remove`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchOp {
    pub op: String,
    /// RFC 6901 JSON pointer, relative to the pod object (`/spec/...`, `/metadata/...`).
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

impl PatchOp {
    /// The same operation under `prefix`, e.g. `/spec/template` for a workload's
    /// pod template, or `/spec/jobTemplate/spec/template` for a CronJob.
    pub fn under(&self, prefix: &str) -> PatchOp {
        PatchOp {
            op: self.op.clone(),
            path: format!("{prefix}{}", self.path),
            value: self.value.clone(),
        }
    }
}

/// Escapes one reference token (`~` → `~0`, `/` → `~1`).
pub fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// The operations that turn `from` into `to`: objects are compared key by key,
/// arrays of equal length element by element; anything else is replaced whole.
pub fn diff(from: &Value, to: &Value) -> Vec<PatchOp> {
    let mut out = Vec::new();
    diff_at(from, to, String::new(), &mut out);
    out
}

fn diff_at(from: &Value, to: &Value, path: String, out: &mut Vec<PatchOp>) {
    if from == to {
        return;
    }
    match (from, to) {
        (Value::Object(a), Value::Object(b)) => {
            for key in a.keys().filter(|k| !b.contains_key(*k)) {
                out.push(PatchOp {
                    op: "remove".into(),
                    path: format!("{path}/{}", escape_token(key)),
                    value: None,
                });
            }
            for (key, bv) in b {
                let child = format!("{path}/{}", escape_token(key));
                match a.get(key) {
                    None => out.push(PatchOp {
                        op: "add".into(),
                        path: child,
                        value: Some(bv.clone()),
                    }),
                    Some(av) => diff_at(av, bv, child, out),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (av, bv)) in a.iter().zip(b).enumerate() {
                diff_at(av, bv, format!("{path}/{i}"), out);
            }
        }
        _ => out.push(PatchOp {
            op: "replace".into(),
            path,
            value: Some(to.clone()),
        }),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use serde_json::json;

    use super::*;

    /// A minimal RFC 6902 applier (add, replace, remove) for checking patches.
    pub(crate) fn apply(doc: &mut Value, ops: &[PatchOp]) -> Result<(), String> {
        for op in ops {
            let tokens: Vec<String> = op
                .path
                .split('/')
                .skip(1)
                .map(|t| t.replace("~1", "/").replace("~0", "~"))
                .collect();
            let Some((last, parents)) = tokens.split_last() else {
                if op.op == "remove" {
                    return Err("cannot remove the root".into());
                }
                *doc = op.value.clone().ok_or("missing value")?;
                continue;
            };
            let mut target = &mut *doc;
            for t in parents {
                target = match target {
                    Value::Object(m) => m.get_mut(t),
                    Value::Array(a) => t.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
                    _ => None,
                }
                .ok_or_else(|| format!("{}: parent {t:?} does not exist", op.path))?;
            }
            let value = || {
                op.value
                    .clone()
                    .ok_or_else(|| format!("{}: no value", op.path))
            };
            match (op.op.as_str(), target) {
                ("add", Value::Object(m)) => {
                    m.insert(last.clone(), value()?);
                }
                ("replace", Value::Object(m)) if m.contains_key(last) => {
                    m.insert(last.clone(), value()?);
                }
                ("remove", Value::Object(m)) if m.contains_key(last) => {
                    m.remove(last);
                }
                ("add", Value::Array(a)) => {
                    let i = if last == "-" {
                        a.len()
                    } else {
                        last.parse::<usize>().map_err(|e| e.to_string())?
                    };
                    if i > a.len() {
                        return Err(format!("{}: index out of range", op.path));
                    }
                    a.insert(i, value()?);
                }
                ("replace", Value::Array(a)) => {
                    let i = last.parse::<usize>().map_err(|e| e.to_string())?;
                    *a.get_mut(i).ok_or("index out of range")? = value()?;
                }
                ("remove", Value::Array(a)) => {
                    let i = last.parse::<usize>().map_err(|e| e.to_string())?;
                    if i >= a.len() {
                        return Err(format!("{}: index out of range", op.path));
                    }
                    a.remove(i);
                }
                (o, _) => return Err(format!("{o} {}: target does not exist", op.path)),
            }
        }
        Ok(())
    }

    #[test]
    fn escapes_tokens() {
        assert_eq!(
            escape_token("seccomp.security.alpha.kubernetes.io/pod"),
            "seccomp.security.alpha.kubernetes.io~1pod"
        );
        assert_eq!(escape_token("a~b/c"), "a~0b~1c");
    }

    #[test]
    fn diff_then_apply_round_trips() {
        let cases = [
            (json!({}), json!({"a": 1})),
            (json!({"a": 1, "b": 2}), json!({"a": 3})),
            (json!({"a": {"b": [1, 2]}}), json!({"a": {"b": [1, 2, 3]}})),
            (
                json!({"a": [{"x": 1}, {"y": 2}]}),
                json!({"a": [{"x": 1}, {"y": 3, "z": 4}]}),
            ),
            (
                json!({"metadata": {"annotations": {"k/1": "v"}}}),
                json!({"metadata": {"annotations": {"k/1": "v", "k~2": "w"}}}),
            ),
            (json!({"a": null}), json!({"a": {"b": true}})),
            (json!([1]), json!({"x": 1})),
        ];
        for (from, to) in cases {
            let ops = diff(&from, &to);
            let mut doc = from.clone();
            apply(&mut doc, &ops).unwrap_or_else(|e| panic!("{e}: {ops:?}"));
            assert_eq!(doc, to, "{from} -> {to} via {ops:?}");
        }
    }

    #[test]
    fn diff_shapes() {
        let ops = diff(
            &json!({"spec": {"containers": [{"name": "a"}]}}),
            &json!({"spec": {"containers": [{"name": "a", "securityContext": {"runAsUser": 1}}]}}),
        );
        assert_eq!(
            ops,
            vec![PatchOp {
                op: "add".into(),
                path: "/spec/containers/0/securityContext".into(),
                value: Some(json!({"runAsUser": 1})),
            }]
        );
        assert!(diff(&json!({"a": [1]}), &json!({"a": [1]})).is_empty());
        let ops = diff(&json!({"a": [1]}), &json!({"a": [1, 2]}));
        assert_eq!(ops[0].op, "replace");
        assert_eq!(ops[0].path, "/a");
        assert_eq!(ops[0].under("/spec/template").path, "/spec/template/a");
    }
}
