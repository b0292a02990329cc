//! Admission errors in the shape of Kubernetes' `field.Error`, rendered the way
//! PSP printed them (`<path>: Invalid value: <v>: <detail>`).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::Control;

/// The `field.ErrorType`s PSP admission produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorType {
    Invalid,
    Forbidden,
    Required,
}

impl ErrorType {
    /// The words Kubernetes prints for the type.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::Invalid => "Invalid value",
            ErrorType::Forbidden => "Forbidden",
            ErrorType::Required => "Required value",
        }
    }
}

/// One reason a policy rejects a pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The policy that reported the error.
    pub policy: String,
    /// The PSP error path, e.g. `spec.containers[0].securityContext.privileged`.
    pub field: String,
    pub kind: ErrorType,
    /// The bad value as Go printed it (`true`, `"hostPath"`, `[]int64{999}`,
    /// `null`); empty for Forbidden and Required.
    pub value: String,
    pub detail: String,
    pub control: Control,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.kind.as_str())?;
        if self.kind == ErrorType::Invalid {
            write!(f, ": {}", self.value)?;
        }
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

/// Collects the errors of one policy.
pub(crate) struct Errors<'a> {
    pub policy: &'a str,
    pub list: Vec<FieldError>,
}

impl<'a> Errors<'a> {
    pub fn new(policy: &'a str) -> Self {
        Self {
            policy,
            list: Vec::new(),
        }
    }

    pub fn invalid(&mut self, control: Control, field: String, value: String, detail: String) {
        self.push(control, field, ErrorType::Invalid, value, detail);
    }

    pub fn forbidden(&mut self, control: Control, field: String, detail: String) {
        self.push(control, field, ErrorType::Forbidden, String::new(), detail);
    }

    pub fn required(&mut self, control: Control, field: String, detail: &str) {
        self.push(
            control,
            field,
            ErrorType::Required,
            String::new(),
            detail.to_owned(),
        );
    }

    fn push(
        &mut self,
        control: Control,
        field: String,
        kind: ErrorType,
        value: String,
        detail: String,
    ) {
        self.list.push(FieldError {
            policy: self.policy.to_owned(),
            field,
            kind,
            value,
            detail,
            control,
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Go value rendering

/// Go `%q` of a string (the escapes that matter for Kubernetes names and paths).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go `%#v` of an `[]int64` (`[]int64(nil)` when absent).
pub fn int64_slice(v: Option<&[i64]>) -> String {
    match v {
        None => "[]int64(nil)".to_owned(),
        Some(v) => {
            let items: Vec<String> = v.iter().map(i64::to_string).collect();
            format!("[]int64{{{}}}", items.join(", "))
        }
    }
}

/// Go `%#v` of an internal `[]core.Capability`.
pub fn capability_slice(v: Option<&[String]>) -> String {
    match v {
        None => "[]core.Capability(nil)".to_owned(),
        Some(v) => {
            let items: Vec<String> = v.iter().map(|s| quote(s)).collect();
            format!("[]core.Capability{{{}}}", items.join(", "))
        }
    }
}

/// Go `%v` of a bool pointer: the value, or `null`.
pub fn opt_bool(v: Option<bool>) -> String {
    v.map_or_else(|| "null".to_owned(), |b| b.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(kind: ErrorType, value: &str, detail: &str) -> FieldError {
        FieldError {
            policy: "p".into(),
            field: "spec.x".into(),
            kind,
            value: value.into(),
            detail: detail.into(),
            control: Control::Privileged,
        }
    }

    #[test]
    fn renders_like_field_error() {
        let cases = [
            (
                err(
                    ErrorType::Invalid,
                    "true",
                    "Privileged containers are not allowed",
                ),
                "spec.x: Invalid value: true: Privileged containers are not allowed",
            ),
            (
                err(ErrorType::Invalid, "\"runc\"", ""),
                "spec.x: Invalid value: \"runc\"",
            ),
            (
                err(ErrorType::Forbidden, "", "seccomp may not be set"),
                "spec.x: Forbidden: seccomp may not be set",
            ),
            (err(ErrorType::Required, "", ""), "spec.x: Required value"),
            (
                err(ErrorType::Required, "", "must be true"),
                "spec.x: Required value: must be true",
            ),
        ];
        for (e, want) in cases {
            assert_eq!(e.to_string(), want);
        }
    }

    #[test]
    fn go_values() {
        assert_eq!(quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(int64_slice(Some(&[1, 999])), "[]int64{1, 999}");
        assert_eq!(int64_slice(Some(&[])), "[]int64{}");
        assert_eq!(int64_slice(None), "[]int64(nil)");
        assert_eq!(
            capability_slice(Some(&["ALL".into(), "NET_RAW".into()])),
            r#"[]core.Capability{"ALL", "NET_RAW"}"#
        );
        assert_eq!(capability_slice(None), "[]core.Capability(nil)");
        assert_eq!(opt_bool(None), "null");
        assert_eq!(opt_bool(Some(false)), "false");
    }
}
